// room/calls.js: camera, microphone and calls: the device switches and pickers and what is
// wrong with them, the WebRTC mesh and its stage, active speaker, connection quality, screen
// sharing, speaker view; and the room's copy-invite and transcript-download actions.

import { CLIENT } from '../events.js';
import { LevelMeter, describeMediaError } from '../media.js';
import { Mesh } from '../mesh.js';
import { busy } from '../ui.js';
import { STATUS_WORDS, statusOf } from './focus.js';
import { goalOf } from './goals.js';
import { authed, request } from './live.js';
import { renderParticipants } from './people.js';
import { SPEAKER_SWITCH_MS, SPEAKING_LEVEL, call, el, flash, iceFor, live, media, setText, state } from './shared.js';

// ---- room actions ----------------------------------------------------------------------------

/** Copies the invite link from `input` (the invite card's or the room panel's). */
export async function copyInvite(input = el.inviteLink, status = el.copyStatus) {
  const link = input.value;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('clipboard unavailable');
    await navigator.clipboard.writeText(link);
    flash(status, 'Invite link copied.');
    return;
  } catch {
    // Fall back to selecting the text (clipboard needs HTTPS or localhost, and permission).
  }
  input.focus();
  input.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  flash(status, copied ? 'Invite link copied.' : 'The link is selected: press Ctrl+C (or ⌘C) to copy it.');
}

export let exportTimer = null;
export async function exportTranscript() {
  el.roomError.textContent = '';
  const done = busy(el.exportButton, 'Preparing…');
  try {
    const res = await authed('POST', `/api/rooms/${state.code}/messages/export-link`);
    // Markdown: the record of the work blocks (days in this browser's time zone), then the chat.
    const offset = -new Date().getTimezoneOffset();
    const url = `${res.url}${res.url.includes('?') ? '&' : '?'}format=md&utc_offset=${offset}`;
    el.exportLink.href = url;
    el.exportLink.download = `flowsync-${state.code}-chat.md`;
    el.exportFallback.hidden = false;
    el.exportLink.click();
    flash(el.roomStatus, 'Transcript download started.');
    clearTimeout(exportTimer);
    // The signed link stops working after five minutes; hide it before then.
    exportTimer = setTimeout(() => {
      el.exportFallback.hidden = true;
      el.exportLink.removeAttribute('href');
    }, 4.5 * 60 * 1000);
  } catch (err) {
    if (!err.handled) el.roomError.textContent = `Couldn't prepare the transcript: ${err.message}`;
  } finally {
    done();
  }
}

// ---- camera, microphone and calls ------------------------------------------------------------

/**
 * A toggle button: its label names the thing ("Microphone") and stays put, `aria-pressed` says
 * whether it is on, as the icon shows (a slash when off); the tooltip says what a press does.
 */
export function setToggle(button, on, label, hint = '') {
  button.setAttribute('aria-pressed', String(on));
  setText(button.querySelector('.label') || button, label);
  button.title = hint;
}

export function renderMediaButtons() {
  const can = media.supported.ok;
  // A device that failed shows as off whatever was asked, and says why (renderMediaNotice).
  const mic = can && media.audioOn && !media.problem.audio;
  const cam = can && media.videoOn && !media.problem.video;
  setToggle(el.lobbyMic, mic, 'Microphone', mic ? 'Turn the microphone off' : 'Turn the microphone on');
  setToggle(el.lobbyCam, cam, 'Camera', cam ? 'Turn the camera off' : 'Turn the camera on');
  setToggle(el.micButton, mic, 'Microphone', `${mic ? 'Mute' : 'Unmute'} (M)`);
  setToggle(el.camButton, cam, 'Camera', `${cam ? 'Stop video' : 'Start video'} (V)`);
  el.micButton.classList.toggle('trouble', !!media.problem.audio || !can);
  el.camButton.classList.toggle('trouble', !!media.problem.video || !can);
  for (const b of [el.lobbyMic, el.lobbyCam, el.micButton, el.camButton]) b.disabled = !can;
  el.shareButton.disabled = !can || !navigator.mediaDevices || typeof navigator.mediaDevices.getDisplayMedia !== 'function';
  const other = live.presenterId && live.presenterId !== live.selfId ? live.participants.get(live.presenterId) : null;
  setToggle(el.shareButton, call.presenting, other && !call.presenting ? `${other.display_name} is presenting` : 'Share screen',
    call.presenting ? 'Stop sharing your screen' : 'Share your screen');
  if (other && !call.presenting) el.shareButton.disabled = true;
  el.previewOff.hidden = media.sendingVideo;
  el.previewOff.textContent = !can ? 'No camera here' : media.problem.video ? 'Camera unavailable' : 'Camera is off';
}

/**
 * What is wrong with capture (insecure page, blocked, missing, busy) and how to fix it in this
 * browser: in the lobby under the preview, in the room next to the call controls (with a
 * "Try again" that asks for the devices once more).
 */
export function renderMediaNotice() {
  const problems = [];
  const { audio, video } = media.failure;
  if (!media.supported.ok) problems.push(media.supported.reason);
  else if (audio && audio === video && audio !== 'ended') {
    // Both failed the same way (both blocked, say): one sentence for the two.
    problems.push(describeMediaError({ name: audio }, 'camera and microphone'));
  } else {
    if (media.problem.video) problems.push(media.problem.video);
    if (media.problem.audio && media.problem.audio !== media.problem.video) problems.push(media.problem.audio);
  }
  const text = problems.join(' ');
  setText(el.mediaNotice, text);
  el.mediaNotice.hidden = !text;
  setText(el.deviceHelpText, text);
  el.deviceHelp.hidden = !text;
  el.deviceRetry.hidden = !media.supported.ok;
  for (const b of [el.micButton, el.camButton]) {
    if (text) b.setAttribute('aria-describedby', 'device-help-text');
    else b.removeAttribute('aria-describedby');
  }
}

/** Asks for the camera and microphone again (after the user fixed a block or plugged one in). */
export async function retryDevices() {
  const done = busy(el.deviceRetry, 'Trying…');
  try {
    if (!media.audioTrack) media.audioOn = true;
    if (!media.videoTrack) media.videoOn = true;
    await media.start();
    renderDevices();
    onMediaChange();
  } finally {
    done();
  }
}

/** Fills a device picker, keeping the current choice selected. */
export function fillSelect(select, list, current, none) {
  const options = list.length ? list : [{ id: '', label: none }];
  select.replaceChildren(...options.map((d) => {
    const o = document.createElement('option');
    o.value = d.id;
    o.textContent = d.label;
    o.selected = d.id === current;
    return o;
  }));
  select.disabled = !list.length;
}

export async function renderDevices() {
  let found;
  try {
    found = await media.devices();
  } catch {
    return;
  }
  const cam = media.currentDevice('video');
  const mic = media.currentDevice('audio');
  fillSelect(el.cameraSelect, found.video, cam, 'No camera found');
  fillSelect(el.roomCameraSelect, found.video, cam, 'No camera found');
  fillSelect(el.micSelect, found.audio, mic, 'No microphone found');
  fillSelect(el.roomMicSelect, found.audio, mic, 'No microphone found');
}

/** The local microphone meter follows the current audio track. */
export function localLevel() {
  if (media.audioTrack !== call.meterTrack) {
    call.localMeter?.close();
    call.meterTrack = media.audioTrack;
    call.localMeter = media.audioTrack ? new LevelMeter(media.audioTrack) : null;
  }
  return media.sendingAudio && call.localMeter ? call.localMeter.read() : 0;
}

/** Lobby preview: camera in the video, microphone in the meter, until the lobby is left. */
export async function startPreview() {
  renderMediaButtons();
  renderMediaNotice();
  el.previewVideo.srcObject = media.stream;
  await media.start();
  el.previewVideo.srcObject = media.stream;
  renderMediaButtons();
  renderMediaNotice();
  renderDevices();
  cancelAnimationFrame(call.previewLoop);
  const frame = () => {
    if (el.lobby.hidden) {
      el.micMeter.value = 0;
      return;
    }
    el.micMeter.value = localLevel();
    call.previewLoop = requestAnimationFrame(frame);
  };
  call.previewLoop = requestAnimationFrame(frame);
}

// A press on a device that failed tries it again rather than switching an intent nobody sees.
export async function toggleAudio() {
  await media.setAudio(media.problem.audio ? true : !media.audioOn);
}

export async function toggleVideo() {
  await media.setVideo(media.problem.video ? true : !media.videoOn);
}

/** Tells the room whether our microphone and camera are on. */
export function sendMediaState() {
  if (!live.socket || !live.socket.connected) return;
  const audio = media.sendingAudio;
  const video = media.sendingVideo;
  const me = live.participants.get(live.selfId);
  if (me) {
    me.audio = audio;
    me.video = video;
  }
  request(CLIENT.MEDIA_STATE, { audio, video }).catch(() => {
    // Sent again on the next change or reconnect.
  });
}

export function onMediaChange() {
  call.mesh?.refreshTracks();
  renderMediaButtons();
  renderMediaNotice();
  if (!el.room.hidden) {
    sendMediaState();
    renderParticipants();
  }
  if (!el.lobby.hidden && el.previewVideo.srcObject !== media.stream) el.previewVideo.srcObject = media.stream;
}

/** Starts this page's calls (once per session in the room). */
export function startCall() {
  endCall();
  call.mesh = new Mesh({
    selfId: state.session.participant_id,
    media,
    relayOnly: call.relayOnly,
    send: (event, body) => {
      const s = live.socket;
      if (!s) return;
      // Buffered by socket.io while reconnecting, so negotiation resumes with the connection.
      s.emit(event, body, (ack) => {
        if (ack && ack.ok === false) console.warn(`[mesh] ${event} refused: ${ack.error && ack.error.code}`);
      });
    },
  });
  call.mesh.addEventListener('peer', (e) => {
    // A call held for someone reconnecting (see onRoomJoined) closed: they did not come back.
    const id = e.detail.id;
    if (!call.mesh?.peers.has(id) && live.participants.get(id)?.returning) {
      live.participants.delete(id);
      renderParticipants();
    }
    renderCall();
  });
  call.mesh.addEventListener('tracks', renderCall);
  call.mesh.addEventListener('state', () => {
    renderCall();
    renderQuality();
  });
  call.mesh.addEventListener('levels', (e) => onLevels(e.detail.levels));
  renderMediaButtons();
}

export function endCall() {
  if (call.presenting) {
    call.presenting = false;
    media.stopScreen();
  }
  call.mesh?.close();
  call.mesh = null;
  clearTimeout(call.iceRefresh);
  call.speaking.clear();
  call.activeId = null;
  call.stage.clear();
  el.soundBlocked.hidden = true;
}

/** TURN credentials expire; fetch fresh ones shortly before (calls keep working meanwhile). */
export function scheduleIceRefresh(servers) {
  clearTimeout(call.iceRefresh);
  const expiries = (servers || []).map((s) => Number(String(s.username || '').split(':')[0])).filter((n) => n > 0);
  if (!expiries.length) return;
  const inMs = Math.max(60_000, (Math.min(...expiries) * 1000 - Date.now() - live.offset) * 0.8);
  call.iceRefresh = setTimeout(async () => {
    try {
      const res = await authed('GET', '/api/ice-servers');
      call.mesh?.setIceServers(iceFor(res.ice_servers));
      scheduleIceRefresh(res.ice_servers);
    } catch {
      scheduleIceRefresh(servers);
    }
  }, Math.min(inMs, 2 ** 31 - 1));
}

/** Audio levels → who is speaking, and (held for a moment) who the speaker view shows. */
export function onLevels(levels) {
  const speaking = new Set();
  let loudest = null;
  let max = SPEAKING_LEVEL;
  const mine = localLevel();
  if (mine > SPEAKING_LEVEL) speaking.add(live.selfId);
  for (const [id, level] of levels) {
    const p = live.participants.get(id);
    if (p && p.audio === false) continue;
    if (level > SPEAKING_LEVEL) speaking.add(id);
    if (level > max) {
      max = level;
      loudest = id;
    }
  }
  let changed = speaking.size !== call.speaking.size || [...speaking].some((id) => !call.speaking.has(id));
  call.speaking = speaking;
  const now = Date.now();
  if (loudest && loudest !== call.activeId) {
    if (call.candidate !== loudest) {
      call.candidate = loudest;
      call.candidateSince = now;
    } else if (now - call.candidateSince >= SPEAKER_SWITCH_MS) {
      call.activeId = loudest;
      changed = true;
    }
  }
  if (changed) renderCall();
}

/** Redraws the stage on the next frame (many events can arrive in one). */
export function renderCall() {
  if (call.renderQueued) return;
  call.renderQueued = true;
  requestAnimationFrame(() => {
    call.renderQueued = false;
    if (el.room.hidden) return;
    const peers = call.mesh ? call.mesh.peers : new Map();
    call.stage.update({
      selfId: live.selfId,
      people: [...live.participants.values()].map((p) => ({
        ...p, goal: goalOf(p.participant_id), statusText: STATUS_WORDS[statusOf(p)] || '',
      })),
      local: { stream: media.stream, audio: media.sendingAudio, video: media.sendingVideo },
      peers,
      presenterId: live.presenterId,
      screenStream: call.presenting ? media.screenStream : null,
      speaking: call.speaking,
      activeId: call.activeId,
    });
  });
}

/** Connection quality words in the people list (updated in place, not re-rendered). */
export function renderQuality() {
  for (const node of el.participants.querySelectorAll('.quality[data-id]')) {
    const peer = call.mesh && call.mesh.peers.get(node.dataset.id);
    const q = !peer ? 'none' : peer.state === 'connected' ? peer.quality : peer.state;
    const words = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection', unknown: 'Connected',
      new: 'Connecting…', connecting: 'Connecting…', disconnected: 'Reconnecting…', failed: 'Connection failed', closed: 'No call', none: 'No call yet' };
    node.dataset.quality = q;
    setText(node, words[q] || q);
  }
}

export async function toggleShare() {
  el.mediaError.textContent = '';
  if (call.presenting) {
    await stopShare();
    return;
  }
  let track;
  try {
    track = await media.startScreen();
  } catch (err) {
    el.mediaError.textContent = err.message;
    return;
  }
  if (!track) return; // cancelled in the browser's picker
  try {
    await request(CLIENT.START_PRESENTING);
  } catch (err) {
    media.stopScreen();
    el.mediaError.textContent = err.code === 'PRESENTER_EXISTS'
      ? 'Someone else is presenting; one screen at a time.' : `Couldn't share your screen: ${err.message}`;
    return;
  }
  call.presenting = true;
  live.presenterId = live.selfId;
  call.mesh?.setScreen(track);
  renderMediaButtons();
  renderParticipants();
}

export async function stopShare() {
  if (!call.presenting) return;
  call.presenting = false;
  media.stopScreen();
  call.mesh?.setScreen(null);
  if (live.presenterId === live.selfId) live.presenterId = null;
  renderMediaButtons();
  renderParticipants();
  try {
    await request(CLIENT.STOP_PRESENTING);
  } catch {
    // The server clears a departed presenter by itself.
  }
}

export function toggleView() {
  const speaker = call.stage.view !== 'speaker';
  call.stage.setView(speaker ? 'speaker' : 'grid');
  setToggle(el.viewButton, speaker, 'Grid view', 'Speaker view');
}
