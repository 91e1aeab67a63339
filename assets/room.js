// room.js: one room's page: looks the room up, shows a lobby (camera/microphone preview, device
// pickers, name, password) until this tab has a session, then the live room over Socket.io:
// video with everyone over a WebRTC mesh (mesh.js, drawn by stage.js, local devices in media.js),
// screen sharing, who is here (hands, host, presenter, connection quality), the shared pomodoro
// timer, chat (history over REST, new lines live, emoji, unread badge), transcript export and
// the host's powers (timer, removing people, handing over the host role, ending the room).

import { io } from '/assets/vendor/socket.io-client/socket.io.esm.min.js';
import {
  api, sentence, deviceId, rememberedName, rememberName, loadSession, saveSession, clearSession,
  normalizeCode, read, write,
} from './api.js';
import { estimateOffset, measureOffset, remainingMs, formatMs } from './timer.js';
import { byId, showFormError, busy, showOnly } from './ui.js';
import { LocalMedia, LevelMeter, describeMediaError } from './media.js';
import { Mesh } from './mesh.js';
import { Stage } from './stage.js';
import { EMOJI, canDrawEmoji } from './emoji.js';
import { icon, placeIcons } from './icons.js';
import { Panels } from './panels.js';
import { installShortcuts } from './shortcuts.js';
import { queue as handQueue, renderQueue, toast, handSound } from './hands.js';

/** How long an emitted event waits for the server's acknowledgement. */
const ACK_TIMEOUT_MS = 10000;
/** How often the timer display is redrawn. */
const TICK_MS = 250;
/** Clock round trips per offset measurement, and how often it is measured again. */
const CLOCK_ROUNDS = 5;
const CLOCK_RESYNC_MS = 10 * 60 * 1000;
/** Retry delay after the server refused or dropped the connection for a passing reason. */
const RETRY_MS = 5000;
/** How far back the chat walks to close a gap after a reconnect. */
const MAX_GAP_PAGES = 10;
/** Audio level (0–1) above which someone counts as speaking, and how long the speaker view waits. */
const SPEAKING_LEVEL = 0.04;
const SPEAKER_SWITCH_MS = 700;

const el = {
  loading: byId('loading'),
  notice: byId('notice'),
  noticeTitle: byId('notice-title'),
  noticeText: byId('notice-text'),
  noticeRejoin: byId('notice-rejoin'),
  noticeHome: byId('notice-home'),
  noticeRetry: byId('notice-retry'),
  lobby: byId('lobby'),
  lobbyCode: byId('lobby-code'),
  lobbyTitle: byId('lobby-title'),
  lobbyFacts: byId('lobby-facts'),
  lobbyInside: byId('lobby-inside'),
  lobbyNotice: byId('lobby-notice'),
  joinForm: byId('join-form'),
  hostTools: byId('host-tools'),
  standingHint: byId('standing-hint'),
  standingButton: byId('standing-button'),
  hostLinkButton: byId('host-link-button'),
  hostLinkRotate: byId('host-link-rotate'),
  hostToolsStatus: byId('host-tools-status'),
  lobbyResume: byId('lobby-resume'),
  resumeName: byId('resume-name'),
  resumeButton: byId('resume-button'),
  resumeOther: byId('resume-other'),
  joinError: byId('join-error'),
  joinName: byId('join-display-name'),
  joinPasswordField: byId('join-password-field'),
  joinPassword: byId('join-password'),
  room: byId('room'),
  roomCode: byId('room-code'),
  roomTitle: byId('room-title'),
  whoami: byId('room-whoami'),
  roomFacts: byId('room-facts'),
  connStatus: byId('conn-status'),
  connText: byId('conn-text'),
  roomStatus: byId('room-status'),
  roomError: byId('room-error'),
  handButton: byId('hand-button'),
  exportButton: byId('export-button'),
  exportFallback: byId('export-fallback'),
  exportLink: byId('export-link'),
  leaveButton: byId('leave-button'),
  endButton: byId('end-button'),
  timerPhase: byId('timer-phase'),
  timerClock: byId('timer-clock'),
  timerProgress: byId('timer-progress'),
  timerMeta: byId('timer-meta'),
  timerAnnounce: byId('timer-announce'),
  timerControls: byId('timer-controls'),
  timerStart: byId('timer-start'),
  timerPause: byId('timer-pause'),
  timerResume: byId('timer-resume'),
  timerSkip: byId('timer-skip'),
  timerReset: byId('timer-reset'),
  timerGuestHint: byId('timer-guest-hint'),
  timerError: byId('timer-error'),
  notifyButton: byId('notify-button'),
  notifyStatus: byId('notify-status'),
  peopleCount: byId('people-count'),
  participants: byId('participants'),
  peopleStatus: byId('people-status'),
  peopleError: byId('people-error'),
  inviteCode: byId('invite-code'),
  inviteLink: byId('invite-link'),
  copyButton: byId('copy-button'),
  copyStatus: byId('copy-status'),
  olderButton: byId('older-button'),
  scroll: byId('messages-scroll'),
  list: byId('messages'),
  empty: byId('messages-empty'),
  chatForm: byId('chat-form'),
  chatInput: byId('chat-input'),
  chatError: byId('chat-error'),
  chatPanel: byId('chat-panel'),
  emojiButton: byId('emoji-button'),
  emojiPanel: byId('emoji-panel'),
  previewVideo: byId('preview-video'),
  previewOff: byId('preview-off'),
  lobbyMic: byId('lobby-mic'),
  lobbyCam: byId('lobby-cam'),
  micMeter: byId('mic-meter'),
  cameraSelect: byId('camera-select'),
  micSelect: byId('mic-select'),
  mediaNotice: byId('media-notice'),
  timerMini: byId('timer-mini'),
  timerMiniPhase: byId('timer-mini-phase'),
  timerMiniClock: byId('timer-mini-clock'),
  stage: byId('stage'),
  soundBlocked: byId('sound-blocked'),
  soundButton: byId('sound-button'),
  micButton: byId('mic-button'),
  camButton: byId('cam-button'),
  shareButton: byId('share-button'),
  viewButton: byId('view-button'),
  tabs: byId('tabs'),
  tabChat: byId('tab-chat'),
  tabPeople: byId('tab-people'),
  tabPeopleCount: byId('tab-people-count'),
  handsCount: byId('hands-count'),
  handsCountN: byId('hands-count-n'),
  unread: byId('unread'),
  peoplePanel: byId('people-panel'),
  handsCard: byId('hands-card'),
  handsQueue: byId('hands-queue'),
  handsHost: byId('hands-host'),
  handsLowerAll: byId('hands-lower-all'),
  handSound: byId('hand-sound'),
  handAnnounce: byId('hand-announce'),
  toasts: byId('toasts'),
  inviteCard: byId('invite-card'),
  inviteCardLink: byId('invite-card-link'),
  inviteCardCopy: byId('invite-card-copy'),
  inviteCardShare: byId('invite-card-share'),
  inviteCardStatus: byId('invite-card-status'),
  inviteCardHide: byId('invite-card-hide'),
  helpButton: byId('help-button'),
  helpDialog: byId('help-dialog'),
  timerTitle: byId('timer-title'),
  deviceHelp: byId('device-help'),
  deviceHelpText: byId('device-help-text'),
  deviceRetry: byId('device-retry'),
  devices: byId('devices'),
  roomCameraSelect: byId('room-camera-select'),
  roomMicSelect: byId('room-mic-select'),
  mediaError: byId('media-error'),
};
const views = [el.notice, el.lobby, el.room];
const panels = new Panels(el.room, el.tabs);

const state = {
  code: null,
  room: null,
  session: null,
  /** Refreshes who is inside while the lobby is shown. */
  lobbyTimer: null,
};

/** The live connection and what it has told us. */
const live = {
  socket: null,
  /** People announced (`user-joined`) between connecting and this connection's snapshot. */
  earlyArrivals: null,
  /** Set once this page is done with the room (left, removed, ended, replaced): no reconnects. */
  over: false,
  /** This tab asked to end the room (so its own `room-ended` reads "you ended it"). */
  ending: false,
  /** The server said it is restarting; the next reconnect attempts say so. */
  restarting: false,
  /** When to reconnect after a restart (the server's hint plus jitter), in milliseconds. */
  restartDelay: RETRY_MS,
  /** The last `error` the server sent, shown until the next successful connect. */
  serverError: '',
  selfId: null,
  role: 'guest',
  /** participant_id → {participant_id, display_name, role, hand_raised, audio, video, presenting} */
  participants: new Map(),
  /**
   * Seats taken over REST whose connection has not arrived ("joining…"): participant_id →
   * {participant_id, display_name, timer}. Everyone who can read the room is shown in People.
   */
  pending: new Map(),
  presenterId: null,
  timer: null,
  /** Server − client milliseconds. */
  offset: 0,
  offsetMeasured: false,
  clockRun: 0,
  tick: null,
  resync: null,
  retry: null,
};

/** This page's camera and microphone, and its calls with everyone else. */
const media = new LocalMedia();
const call = {
  mesh: null,
  stage: new Stage(el.stage, { onBlocked: () => { el.soundBlocked.hidden = false; } }),
  /** Participant ids speaking now, the one shown large in speaker view, and its challenger. */
  speaking: new Set(),
  activeId: null,
  candidate: null,
  candidateSince: 0,
  localMeter: null,
  meterTrack: null,
  previewLoop: null,
  presenting: false,
  renderQueued: false,
  iceRefresh: null,
  /** `?relay=1` forces every call through the TURN relay (debugging NAT trouble). */
  relayOnly: /^(1|true|yes)$/i.test(new URLSearchParams(window.location.search).get('relay') || ''),
  /** `?turn=udp|tcp|tls` keeps only that way to the relay (debugging firewalls). */
  turnOnly: (new URLSearchParams(window.location.search).get('turn') || '').toLowerCase(),
};

/** The ICE servers to use: as handed out, or narrowed to one transport by `?turn=`. */
function iceFor(servers) {
  const list = Array.isArray(servers) ? servers : [];
  const keep = {
    udp: (u) => u.startsWith('turn:') && !/transport=tcp/.test(u),
    tcp: (u) => u.startsWith('turn:') && /transport=tcp/.test(u),
    tls: (u) => u.startsWith('turns:'),
  }[call.turnOnly];
  if (!keep) return list;
  return list
    .map((s) => ({ ...s, urls: [].concat(s.urls || []).filter(keep) }))
    .filter((s) => s.urls.length);
}

const chat = {
  /**
   * Lines sent whose acknowledgement did not come (the connection dropped, the server
   * restarted): client id → payload. Each is sent again, with the same id, once the room is
   * joined again; the server stores a line once per id, so a line that did arrive is not
   * doubled.
   */
  outbox: new Map(),
  unread: 0,
  loaded: false,
  loading: false,
  /** Asked to load again while a load was running (a reconnect in the middle of it). */
  again: false,
  retry: null,
  newestId: 0,
  nextBefore: null,
  rendered: new Set(),
  sending: false,
};

/** Sets an element's text only when it changes, so live regions don't repeat themselves. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Puts text in a status region and clears it after a while. */
const statusTimers = new Map();
function flash(node, text, ms = 6000) {
  node.textContent = text;
  clearTimeout(statusTimers.get(node));
  statusTimers.set(node, setTimeout(() => { node.textContent = ''; }, ms));
}

// ---- views -----------------------------------------------------------------------------------

function show(view, focusHeading) {
  el.loading.hidden = true;
  showOnly(views, view);
  // The room is a call view that fills the window (no page scroll); the rest are pages.
  document.body.classList.toggle('in-call', view === el.room);
  if (focusHeading) view.querySelector('h1')?.focus();
}

/**
 * Shows a full-page notice (and disconnects: a notice means this tab is not in the room).
 * `rejoin` offers a link back to this room's lobby; `retry` a button that opens the room again.
 */
function showNotice(title, text, { retry = false, retryLabel = 'Try again', rejoin = false, focus = true } = {}) {
  stopLive();
  endCall();
  media.stop(); // camera light off: this tab is no longer in the room
  document.title = `${title} · FlowSync`;
  el.noticeTitle.textContent = title;
  el.noticeText.textContent = text;
  el.noticeRetry.hidden = !retry;
  el.noticeRetry.textContent = retryLabel;
  el.noticeRejoin.hidden = !rejoin;
  if (rejoin) el.noticeRejoin.href = state.room ? roomPath(state.room) : `/room/${state.code}`;
  el.noticeHome.classList.toggle('primary', !rejoin);
  show(el.notice, focus);
}

/** Shows the right notice for a room lookup failure; false when the error is something else. */
function noticeForRoomError(err, focus = true) {
  if (err.code === 'ROOM_NOT_FOUND' || (err.status === 404 && err.code !== 'NOT_FOUND')) {
    clearSession(state.code);
    showNotice('Room not found', `No room has the code ${state.code}. Check the code, or ask for a new invite link.`, { focus });
    return true;
  }
  if (err.code === 'ROOM_EXPIRED' || err.status === 410) {
    clearSession(state.code);
    showNotice('This room has ended', 'The host ended this room, or it closed after a long time without activity. '
      + 'You can start a new room from the front page.', { focus });
    return true;
  }
  return false;
}

function minutes(seconds) {
  const m = seconds / 60;
  return Number.isInteger(m) ? `${m} min` : `${m.toFixed(1)} min`;
}

/** Fills a facts list with the room's public details. */
function renderFacts(list, room) {
  const facts = [
    `${room.participant_count} of ${room.max_participants} seats taken`,
    room.has_password ? 'Password protected' : 'No password',
  ];
  if (room.timer) {
    const t = room.timer;
    facts.push(`Timer: ${minutes(t.work_seconds)} work, ${minutes(t.short_break_seconds)} short break, `
      + `${minutes(t.long_break_seconds)} long break every ${t.long_break_every} rounds`
      + (t.auto_start ? ', starts automatically' : ''));
  }
  list.replaceChildren(...facts.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

function showLobby(message = '', focus = false) {
  const room = state.room;
  document.title = `Join ${room.name} · FlowSync`;
  el.lobbyCode.textContent = room.code;
  el.lobbyTitle.textContent = room.name;
  renderFacts(el.lobbyFacts, room);
  renderInside(room);
  watchLobby();
  el.lobbyNotice.textContent = message;
  el.lobbyNotice.hidden = !message;
  if (!el.joinName.value) el.joinName.value = rememberedName();
  el.joinPasswordField.hidden = !room.has_password;
  el.joinPassword.required = room.has_password;
  showFormError(el.joinError, '');
  // This browser was in the room (the tab was closed): offer to carry on as the same
  // participant, or to join as someone else.
  const resumable = state.session && !state.session.tab ? state.session : null;
  el.lobbyResume.hidden = !resumable;
  el.joinForm.hidden = !!resumable;
  if (resumable) {
    el.resumeName.textContent = resumable.display_name || 'you';
    el.resumeButton.textContent = `Rejoin as ${resumable.display_name || 'before'}`;
  }
  show(el.lobby, focus);
  if (resumable && focus) el.resumeButton.focus();
  startPreview();
}

/** Who is in the room now, as the lobby shows it (names only for rooms without a password). */
function renderInside(room) {
  const names = Array.isArray(room.inside) ? room.inside : null;
  if (names && names.length) {
    el.lobbyInside.replaceChildren('Inside now: ', strong(names.join(', ')), ` (${names.length}).`);
  } else if (names) {
    el.lobbyInside.textContent = 'Nobody is inside yet.';
  } else {
    el.lobbyInside.textContent = room.participant_count
      ? `${room.participant_count} ${room.participant_count === 1 ? 'person' : 'people'} inside.`
      : 'Nobody is inside yet.';
  }
}

/** While the lobby is shown, who is inside is looked up again now and then. */
const LOBBY_REFRESH_MS = 15000;
function watchLobby() {
  clearTimeout(state.lobbyTimer);
  state.lobbyTimer = setTimeout(async () => {
    if (el.lobby.hidden) return;
    try {
      state.room = await api('GET', `/api/rooms/${state.code}`);
      renderFacts(el.lobbyFacts, state.room);
      renderInside(state.room);
    } catch {
      // The next look, or joining, says what is wrong.
    }
    watchLobby();
  }, LOBBY_REFRESH_MS);
}

/** Carries on as the participant this browser was (same id, role and seat). */
function resumeSession() {
  if (!state.session) return;
  state.session.tab = true;
  saveSession(state.code, state.session, state.session.display_name);
  enterRoom();
}

/** Forgets this browser's participant in the room and shows the join form instead. */
function joinAsSomeoneElse() {
  clearSession(state.code);
  state.session = null;
  el.joinName.value = '';
  el.lobbyResume.hidden = true;
  el.joinForm.hidden = false;
  el.joinName.focus();
}

function strong(text) {
  const b = document.createElement('strong');
  b.textContent = text;
  return b;
}

function renderWhoami() {
  const name = state.session?.display_name || rememberedName() || 'you';
  el.whoami.replaceChildren(
    "You're in ", strong(state.room.name), ' as ', strong(name), ` (${live.role === 'host' ? 'host' : 'guest'}).`,
  );
}

function enterRoom() {
  const { room, session } = state;
  document.title = `${room.name} · FlowSync`;
  el.roomCode.textContent = room.code;
  el.inviteCode.textContent = room.code;
  el.roomTitle.textContent = room.name;
  renderFacts(el.roomFacts, room);
  el.inviteLink.value = `${window.location.origin}${roomPath(room)}`;
  el.inviteCardLink.value = el.inviteLink.value;
  live.inviteDismissed = false;
  el.roomStatus.textContent = '';
  el.roomError.textContent = '';
  el.exportFallback.hidden = true;

  live.selfId = session.participant_id;
  live.participants.clear();
  live.presenterId = null;
  live.timer = null;
  setRole(session.role === 'host' ? 'host' : 'guest');
  renderParticipants();
  renderHand();
  renderTimer();
  renderNotify();
  resetChat();
  chat.unread = 0;
  renderUnread();
  // Entering the room changes the whole page: its heading takes focus (after creating a room,
  // joining, or reloading), so keyboard and screen-reader users start from the top of it.
  show(el.room, true);
  startCall();
  startLive();
  // Resuming after a reload starts the devices here (permission is usually remembered).
  media.start().then(() => {
    renderDevices();
    onMediaChange();
  });
}

// ---- session-aware API calls -------------------------------------------------------------------

/** Whether an error means this tab's token no longer works. */
function isSessionError(err) {
  return err.code === 'INVALID_TOKEN' || err.code === 'UNAUTHORIZED' || err.status === 410;
}

/** The token stopped working: forget it and show what the room's state now calls for. */
async function sessionLost(err) {
  stopLive();
  endCall();
  if (state.session?.display_name && !el.joinName.value) el.joinName.value = state.session.display_name;
  clearSession(state.code);
  state.session = null;
  if (err.status === 410) {
    noticeForRoomError(err);
    return;
  }
  try {
    state.room = await api('GET', `/api/rooms/${state.code}`);
  } catch (lookup) {
    if (!noticeForRoomError(lookup)) {
      showNotice('Signed out of the room', 'Your session in this room ended, and the room could not be '
        + `checked just now (${lookup.message}).`, { retry: true });
    }
    return;
  }
  showLobby('Your place in this room is no longer valid: you may have been removed by the host. '
    + 'Join again to continue.', true);
}

/** An API call with this tab's token; session failures are handled here and marked `handled`. */
async function authed(method, path, body) {
  if (!state.session) {
    const err = new Error('not in the room');
    err.handled = true;
    throw err;
  }
  try {
    return await api(method, path, body, state.session.token);
  } catch (err) {
    if (isSessionError(err)) {
      err.handled = true;
      await sessionLost(err);
    }
    throw err;
  }
}

// ---- the live connection ---------------------------------------------------------------------

/** A refused or failed live request: `code` is the server's error code (or OFFLINE/TIMEOUT). */
class LiveError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'LiveError';
    this.code = code;
  }
}

/** `CODE: explanation` (a refused handshake) → {code, message}. */
function parseRefusal(text) {
  const m = String(text || '').match(/^([A-Z][A-Z0-9_]*): ?(.*)$/s);
  return m ? { code: m[1], message: m[2] } : { code: '', message: String(text || '') };
}

/**
 * Emits an event and resolves with its acknowledgement `{ok: true, …}`; rejects with a LiveError
 * for `{ok: false, error}`, no answer in time, or no connection (socket.io would otherwise queue
 * the event and send it whenever it reconnects, which is not what someone clicking expects).
 */
function request(event, payload) {
  return new Promise((resolve, reject) => {
    const s = live.socket;
    if (!s || !s.connected) {
      reject(new LiveError('OFFLINE', 'You are not connected to the room right now; try again once reconnected.'));
      return;
    }
    const answer = (err, ack) => {
      if (err) {
        reject(new LiveError('TIMEOUT', 'The server did not answer in time; please try again.'));
      } else if (ack && ack.ok) {
        resolve(ack);
      } else {
        const e = (ack && ack.error) || {};
        reject(new LiveError(e.code || 'ERROR', e.message ? sentence(e.message) : 'The server refused that request.'));
      }
    };
    const timed = s.timeout(ACK_TIMEOUT_MS);
    if (payload === undefined) timed.emit(event, answer);
    else timed.emit(event, payload, answer);
  });
}

/** The connection indicator: `connecting`, `live`, `reconnecting` or `offline`. */
function setConn(kind, text) {
  el.connStatus.dataset.state = kind;
  setText(el.connText, text);
}

function startLive() {
  stopLive();
  live.over = false;
  live.ending = false;
  live.restarting = false;
  live.offsetMeasured = false;
  setConn('connecting', 'Connecting…');

  // forceNew: a fresh connection with this session's token (socket.io would otherwise reuse a
  // cached one, with whatever token it was opened with).
  const socket = io(window.location.origin, {
    auth: { token: state.session.token },
    transports: ['websocket'],
    forceNew: true,
  });
  live.socket = socket;

  socket.on('connect', onConnect);
  socket.on('connect_error', onConnectError);
  socket.on('disconnect', onDisconnect);
  socket.io.on('reconnect_attempt', () => {
    if (live.over) return;
    setConn('reconnecting', live.restarting ? 'Server restarting, reconnecting…' : 'Reconnecting…');
  });

  socket.on('room-joined', onRoomJoined);
  socket.on('room-updated', onRoomUpdated);
  for (const event of ['offer', 'answer', 'ice-candidate']) {
    socket.on(event, (msg) => call.mesh?.receive(event, msg));
  }
  socket.on('user-joined', onUserJoined);
  socket.on('user-left', onUserLeft);
  socket.on('participant-pending', onPending);
  socket.on('hand-raised', onHandRaised);
  socket.on('media-state', onMediaState);
  socket.on('presenter-changed', onPresenterChanged);
  socket.on('host-changed', onHostChanged);
  socket.on('timer-update', (t) => setTimer(t, true));
  socket.on('chat-message', onChatMessage);
  socket.on('kicked', () => removedByHost());
  socket.on('room-ended', () => roomEnded());
  socket.on('session-replaced', sessionReplaced);
  socket.on('server-restarting', (hint) => {
    live.restarting = true;
    const after = Number(hint && hint.reconnect_after_ms) || 500;
    const jitter = Number(hint && hint.jitter_ms) || 0;
    live.restartDelay = Math.max(0, after) + Math.random() * Math.max(0, jitter);
    setConn('reconnecting', 'Server restarting, reconnecting…');
  });
  socket.on('error', (e) => {
    // The server could not set this connection up (it then disconnects; we retry).
    live.serverError = e && e.message ? sentence(e.message) : 'The server reported a problem.';
    setText(el.roomError, live.serverError);
  });

  clearInterval(live.tick);
  live.tick = setInterval(renderClock, TICK_MS);
}

/** Closes the connection (without the handlers reacting) and stops the page's timers. */
function stopLive() {
  const s = live.socket;
  live.socket = null;
  if (s) {
    s.removeAllListeners();
    s.io.removeAllListeners();
    s.disconnect();
  }
  clearInterval(live.tick);
  clearTimeout(live.resync);
  clearTimeout(live.retry);
  clearTimeout(chat.retry);
  live.tick = null;
  live.resync = null;
  live.retry = null;
  live.clockRun += 1;
}

function onConnect() {
  // Arrivals announced before this connection's snapshot is applied (see onRoomJoined).
  live.earlyArrivals = new Map();
  // Failures from before the reconnect ("Couldn't raise your hand…") no longer hold.
  for (const node of [el.roomError, el.peopleError, el.timerError, el.hostToolsStatus]) node.textContent = '';
  live.serverError = '';
  live.restarting = false;
  clearTimeout(live.retry);
  setConn('live', 'Connected');
  syncClock();
  loadChat();
}

function onConnectError(err) {
  if (live.over) return;
  const s = live.socket;
  if (s && s.active) {
    // The server could not be reached; socket.io keeps trying with a backoff.
    setConn('reconnecting', live.restarting ? 'Server restarting, reconnecting…'
      : "Can't reach the server. Reconnecting…");
    return;
  }
  // The server refused the handshake; socket.io does not retry those by itself.
  const { code, message } = parseRefusal(err && err.message);
  switch (code) {
    case 'INVALID_TOKEN':
    case 'UNAUTHORIZED':
      live.over = true;
      sessionLost({ code, status: 401, message });
      break;
    case 'KICKED':
      removedByHost();
      break;
    case 'ROOM_FULL':
      live.over = true;
      showNotice('The room is full', 'All seats in this room are taken right now. Try again when someone leaves.',
        { retry: true });
      break;
    default:
      setConn('offline', `Couldn't join the room live${message ? `: ${sentence(message)}` : '.'} Retrying…`);
      scheduleRetry();
  }
}

function onDisconnect(reason) {
  if (live.over) return;
  if (reason === 'io client disconnect') return;
  if (reason === 'io server disconnect') {
    // Closed by the server (a restart, or presence briefly unavailable) without one of the
    // endings above: socket.io does not reconnect on its own then, so try again shortly.
    if (live.restarting) {
      setConn('reconnecting', 'Server restarting, reconnecting…');
      scheduleRetry(live.restartDelay);
    } else {
      setConn('reconnecting', 'Disconnected by the server. Reconnecting…');
      scheduleRetry();
    }
    return;
  }
  setConn('reconnecting', live.restarting ? 'Server restarting, reconnecting…' : 'Connection lost. Reconnecting…');
}

function scheduleRetry(delay = RETRY_MS) {
  clearTimeout(live.retry);
  live.retry = setTimeout(() => {
    if (live.socket && !live.over && !live.socket.connected) live.socket.connect();
  }, delay);
}

// ---- endings ---------------------------------------------------------------------------------

function removedByHost() {
  live.over = true;
  clearSession(state.code);
  state.session = null;
  showNotice('Removed from the room', 'The host removed you from this room, so you cannot rejoin it.');
}

function roomEnded() {
  live.over = true;
  const mine = live.ending;
  clearSession(state.code);
  state.session = null;
  if (mine) {
    showNotice('Room ended', 'You ended the room; everyone in it has been signed out. '
      + 'Start a new room from the front page whenever you like.');
  } else {
    showNotice('This room has ended', 'The host ended this room, and everyone in it has been signed out. '
      + 'You can start a new room from the front page.');
  }
}

function sessionReplaced() {
  live.over = true;
  showNotice('This room is open in another tab or window',
    'You can be in a room from one place at a time, so this tab stepped aside. Continue in the other one, '
    + 'or use this tab instead (the other one then steps aside).',
    { retry: true, retryLabel: 'Use this tab' });
}

async function leaveRoom() {
  const done = busy(el.leaveButton, 'Leaving…');
  live.over = true;
  try {
    await request('leave-room');
  } catch {
    // Offline or no answer: the seat is released when the reconnect grace runs out.
  }
  done();
  clearSession(state.code);
  state.session = null;
  showNotice('You left the room', 'You can rejoin while the room is open, using the link below or the invite link.',
    { rejoin: true });
}

async function endRoom() {
  const ok = window.confirm(`End "${state.room.name}" for everyone? Everyone is signed out, the room `
    + 'cannot be reopened, and its chat can no longer be downloaded.');
  if (!ok) return;
  el.roomError.textContent = '';
  const done = busy(el.endButton, 'Ending…');
  live.ending = true;
  try {
    await request('end-room');
    done();
    if (!live.over) roomEnded(); // unless `room-ended` came first
  } catch (err) {
    done();
    if (live.over) return;
    live.ending = false;
    el.roomError.textContent = `Couldn't end the room: ${err.message}`;
  }
}

// ---- people ----------------------------------------------------------------------------------

function onRoomJoined(d) {
  if (!d || typeof d !== 'object') return;
  const list = Array.isArray(d.participants) ? d.participants : [];
  live.selfId = (d.self && d.self.participant_id) || state.session.participant_id;
  const before = live.participants;
  live.participants = new Map(list.map((p) => [p.participant_id, { ...p }]));
  // Someone who arrived after the server took this snapshot but was announced before it reached
  // us (two people joining together) is not in it: keep them.
  for (const [id, p] of live.earlyArrivals || []) if (!live.participants.has(id)) live.participants.set(id, p);
  live.earlyArrivals = null;
  clearPending();
  for (const p of Array.isArray(d.pending) ? d.pending : []) addPending(p);
  if (d.self && !live.participants.has(live.selfId)) live.participants.set(live.selfId, { ...d.self });
  const presenting = list.find((p) => p.presenting);
  live.presenterId = d.presenter_id ?? (presenting ? presenting.participant_id : null);
  if (d.room) {
    state.room = d.room;
    el.roomTitle.textContent = d.room.name;
  }
  const me = live.participants.get(live.selfId);
  setRole(me ? me.role : state.session.role);
  if (!live.offsetMeasured && typeof d.server_time === 'number') {
    // One sample from the snapshot until the clock round trips have been measured.
    const now = Date.now();
    live.offset = estimateOffset([{ sent: now, received: now, server: d.server_time }]).offset;
  }
  if (d.timer) setTimer(d.timer, false);
  if (chat.outbox.size) flushOutbox();
  if (call.mesh) {
    call.mesh.setIceServers(iceFor(d.ice_servers));
    scheduleIceRefresh(d.ice_servers);
    // New people get a call from us; calls that survived a reconnect are kept, even to people
    // this snapshot lacks while their media still flows (after a server restart they are
    // reconnecting too): they stay on the page, marked as returning, until they are back.
    call.mesh.sync([...live.participants.keys()]);
    for (const id of call.mesh.held()) {
      const was = before.get(id);
      if (was) live.participants.set(id, { ...was, returning: true });
    }
  }
  if (call.presenting && live.presenterId !== live.selfId) {
    // We were sharing when the connection dropped and the server let the role go: take it back.
    request('start-presenting').then(() => {
      live.presenterId = live.selfId;
      renderParticipants();
    }, () => stopShare());
  }
  sendMediaState();
  renderParticipants();
  renderHand();
  claimHostIfAsked();
}

function onUserJoined(p) {
  if (!p || !p.participant_id) return;
  live.earlyArrivals?.set(p.participant_id, { ...p });
  dropPending(p.participant_id);
  live.participants.set(p.participant_id, { ...p });
  call.mesh?.keep(p.participant_id);
  renderParticipants();
}

/** A seat taken over REST: shown as "joining…" until its connection arrives or it lapses. */
function addPending(p) {
  if (!p || typeof p.participant_id !== 'string' || live.participants.has(p.participant_id)) return;
  dropPending(p.participant_id);
  const ms = Math.max(0, Math.min(Number(p.expires_in_ms) || 0, 10 * 60 * 1000));
  const timer = setTimeout(() => {
    if (live.pending.delete(p.participant_id)) renderParticipants();
  }, ms + 500);
  live.pending.set(p.participant_id, {
    participant_id: p.participant_id,
    display_name: String(p.display_name || ''),
    timer,
  });
}

function dropPending(id) {
  const p = live.pending.get(id);
  if (!p) return false;
  clearTimeout(p.timer);
  live.pending.delete(id);
  return true;
}

function clearPending() {
  for (const p of live.pending.values()) clearTimeout(p.timer);
  live.pending.clear();
}

function onPending(p) {
  addPending(p);
  renderParticipants();
}

function onUserLeft(d) {
  const id = d && d.participant_id;
  live.earlyArrivals?.delete(id);
  call.mesh?.remove(id);
  const wasPending = dropPending(id);
  if (!live.participants.delete(id)) {
    if (wasPending) renderParticipants();
    return;
  }
  if (live.presenterId === id) live.presenterId = null;
  renderParticipants();
}

function onHandRaised(d) {
  const { participant_id: id, raised, raised_at: at, lowered_by: by } = d || {};
  const p = live.participants.get(id);
  if (!p) return;
  const was = p.hand_raised;
  p.hand_raised = !!raised;
  p.hand_raised_at = raised ? (typeof at === 'number' ? at : p.hand_raised_at ?? Date.now()) : null;
  renderParticipants();
  if (id === live.selfId) renderHand();
  if (raised && !was && id !== live.selfId) {
    // Everyone notices a hand: a toast over the video, a short sound (unless turned off) and
    // an announcement for screen readers, with its place in the queue.
    const place = handQueue([...live.participants.values()]).findIndex((x) => x.participant_id === id) + 1;
    const text = `${p.display_name} raised a hand${place > 1 ? ` (${place} in the queue)` : ''}.`;
    toast(el.toasts, text, 'hand');
    setText(el.handAnnounce, text);
    if (el.handSound.checked) handSound(audio());
  } else if (!raised && was && by && by !== id) {
    const host = live.participants.get(by);
    const text = id === live.selfId
      ? `${host ? host.display_name : 'The host'} lowered your hand.`
      : `${p.display_name}'s hand was lowered.`;
    setText(el.handAnnounce, text);
    if (id === live.selfId) toast(el.toasts, text);
  }
}

/** The host lowers one hand (a queue entry's Lower) or every hand. */
async function lowerHands(event) {
  const one = event.target.closest('button[data-lower]');
  if (event.currentTarget === el.handsQueue && !one) return;
  const button = one || el.handsLowerAll;
  el.peopleError.textContent = '';
  button.disabled = true;
  try {
    await request('lower-hand', one ? { participant_id: one.dataset.lower } : { all: true });
  } catch (err) {
    el.peopleError.textContent = `Couldn't lower ${one ? 'that hand' : 'the hands'}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

/** The invite card over an empty stage: shown while nobody else is here (until dismissed). */
function renderInviteCard() {
  const alone = live.participants.size <= 1 && live.pending.size === 0;
  el.inviteCard.hidden = !alone || !!live.inviteDismissed || el.room.hidden;
  el.inviteCardShare.hidden = typeof navigator.share !== 'function';
}

async function shareInvite() {
  try {
    await navigator.share({ title: state.room.name, text: `Join "${state.room.name}" on FlowSync`, url: el.inviteCardLink.value });
  } catch (err) {
    if (err && err.name !== 'AbortError') flash(el.inviteCardStatus, "Couldn't open the share sheet; copy the link instead.");
  }
}

function onMediaState(d) {
  const { participant_id: id, audio, video } = d || {};
  const p = live.participants.get(id);
  if (!p) return;
  p.audio = !!audio;
  p.video = !!video;
  renderParticipants();
}

function onPresenterChanged(d) {
  const id = (d && d.presenter_id) ?? null;
  live.presenterId = id;
  for (const p of live.participants.values()) p.presenting = p.participant_id === id;
  if (call.presenting && id !== live.selfId) {
    // The server no longer counts us as presenting: stop sending the screen.
    call.presenting = false;
    media.stopScreen();
    call.mesh?.setScreen(null);
  }
  renderParticipants();
}

function onHostChanged(d) {
  const id = d && d.participant_id;
  if (!id) return;
  for (const p of live.participants.values()) if (p.role === 'host') p.role = 'guest';
  const next = live.participants.get(id);
  if (next) next.role = 'host';
  const wasHost = live.role === 'host';
  setRole(id === live.selfId ? 'host' : 'guest');
  renderParticipants();
  if (id === live.selfId && !wasHost) {
    flash(el.roomStatus, 'You are now the host: you can run the timer, remove people and end the room.', 10000);
  } else if (next) {
    flash(el.roomStatus, `${next.display_name} is now the host.`, 10000);
  }
}

/** This tab's role: host controls appear or disappear with it. */
function setRole(role) {
  live.role = role === 'host' ? 'host' : 'guest';
  if (state.session && state.session.role !== live.role) {
    state.session.role = live.role;
    saveSession(state.code, state.session, state.session.display_name);
  }
  const host = live.role === 'host';
  el.endButton.hidden = !host;
  el.timerControls.hidden = !host;
  el.timerGuestHint.hidden = host;
  renderHostHint();
  renderHostTools();
  renderWhoami();
}

/** The path people open a room with: its readable link for a standing room, else its code. */
function roomPath(room) {
  return room.standing && room.slug ? `/r/${room.slug}` : `/room/${room.code}`;
}

/** The room's facts changed (made standing): its link and the host's tools follow. */
function onRoomUpdated(d) {
  if (!d || !d.room) return;
  state.room = { ...state.room, ...d.room };
  el.inviteLink.value = `${window.location.origin}${roomPath(state.room)}`;
  renderFacts(el.roomFacts, state.room);
  renderHostTools();
  if (state.room.standing && window.location.pathname !== roomPath(state.room)) {
    window.history.replaceState(null, '', roomPath(state.room));
  }
}

/** A host's tools for a team's room: make it standing, copy or renew its host link. */
function renderHostTools() {
  const host = live.role === 'host';
  const standing = !!(state.room && state.room.standing);
  el.hostTools.hidden = !host;
  el.standingButton.hidden = standing;
  el.hostLinkButton.hidden = !standing;
  el.hostLinkRotate.hidden = !standing;
  setText(el.standingHint, standing
    ? `A standing room: it stays until you end it and keeps its chat ${state.room.retention_days || 30} days. `
      + 'Whoever opens the host link becomes host; keep it to the people who run this room.'
    : 'A standing room stays until you end it, gets a readable link and a host link: for a team that meets here every day.');
}

async function makeStanding() {
  const done = busy(el.standingButton, 'Making it standing…');
  try {
    const ack = await request('make-standing', {});
    onRoomUpdated({ room: ack.room });
    flash(el.hostToolsStatus, `This room now stays until you end it. Its link is ${el.inviteLink.value}`, 10000);
  } catch (err) {
    flash(el.hostToolsStatus, err.message, 10000);
  } finally {
    done();
  }
}

async function copyHostLink(rotate) {
  if (rotate && !window.confirm('Make a new host link? The current one stops working.')) return;
  const button = rotate ? el.hostLinkRotate : el.hostLinkButton;
  const done = busy(button, rotate ? 'Renewing…' : 'Copying…');
  try {
    const ack = await request('host-link', rotate ? { rotate: true } : {});
    const link = `${window.location.origin}${roomPath(state.room)}#host=${ack.host_key}`;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(link);
        copied = true;
      }
    } catch {
      copied = false;
    }
    const what = rotate ? 'A new host link was made (the old one no longer works)' : 'Host link';
    flash(el.hostToolsStatus, copied ? `${what}: copied.` : `${what}: ${link}`, 20000);
  } catch (err) {
    flash(el.hostToolsStatus, err.message, 10000);
  } finally {
    done();
  }
}

/** A host link opened in this tab: become host once connected (the key is then forgotten). */
function claimHostIfAsked() {
  const key = read(sessionStorage, hostKeyKey(state.code));
  if (!key) return;
  write(sessionStorage, hostKeyKey(state.code), null);
  if (live.role === 'host') return;
  request('claim-host', { host_key: key }).then(
    () => flash(el.roomStatus, 'You opened the host link: you are the host now.', 10000),
    (err) => flash(el.roomStatus, err.message, 15000),
  );
}

const hostKeyKey = (code) => `flowsync:host-key:${code}`;

/** Who runs the timer, for guests: the host by name, never a host that is not there. */
function renderHostHint() {
  const host = [...live.participants.values()].find((p) => p.role === 'host');
  setText(el.timerGuestHint, host
    ? `${host.display_name} is host: they start and pause the timer for everyone, and can make you host.`
    : 'Nobody is host right now: the next person to arrive, or the longest here, becomes host.');
}

/** A small label in People; `iconName` an icons.js icon drawn before the text. */
function badge(text, kind, iconName = '') {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  if (iconName) span.append(icon(iconName));
  span.append(text);
  return span;
}

function actionButton(action, id, label, name, kind) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `button small ${kind}`;
  b.dataset.action = action;
  b.dataset.id = id;
  const hidden = document.createElement('span');
  hidden.className = 'visually-hidden';
  hidden.textContent = ` (${name})`;
  b.append(label, hidden);
  return b;
}

function participantItem(p, amHost) {
  const li = document.createElement('li');
  li.className = 'participant';
  li.dataset.id = p.participant_id;
  const me = p.participant_id === live.selfId;
  const presenting = live.presenterId === p.participant_id;

  const name = document.createElement('span');
  name.className = 'participant-name';
  name.textContent = p.display_name;
  if (me) {
    const you = document.createElement('span');
    you.className = 'you';
    you.textContent = ' (you)';
    name.append(you);
  }

  const badges = document.createElement('span');
  badges.className = 'badges';
  badges.append(p.role === 'host' ? badge('Host', 'host') : badge('Guest', 'guest'));
  if (p.returning) badges.append(badge('reconnecting…', 'joining'));
  if (p.hand_raised) badges.append(badge('Hand raised', 'hand', 'hand'));
  if (presenting) badges.append(badge('Presenting', 'presenting'));
  if (p.audio === false) badges.append(badge('Mic off', 'off'));
  if (p.video === false) badges.append(badge('Camera off', 'off'));
  if (!me) {
    const q = document.createElement('span');
    q.className = 'quality';
    q.dataset.id = p.participant_id;
    badges.append(q);
  }

  li.append(name, badges);
  if (amHost && !me) {
    const actions = document.createElement('span');
    actions.className = 'participant-actions';
    actions.append(
      actionButton('make-host', p.participant_id, 'Make host', p.display_name, 'subtle'),
      actionButton('kick', p.participant_id, 'Remove', p.display_name, 'danger'),
    );
    li.append(actions);
  }
  return li;
}

/** A pending seat in People: its name, "joining…", and Remove for the host. */
function pendingItem(p, amHost) {
  const li = document.createElement('li');
  li.className = 'participant pending';
  li.dataset.id = p.participant_id;
  const name = document.createElement('span');
  name.className = 'participant-name';
  name.textContent = p.display_name;
  const badges = document.createElement('span');
  badges.className = 'badges';
  badges.append(badge('joining…', 'joining'));
  li.append(name, badges);
  if (amHost) {
    const actions = document.createElement('span');
    actions.className = 'participant-actions';
    actions.append(actionButton('kick', p.participant_id, 'Remove', p.display_name, 'danger'));
    li.append(actions);
  }
  return li;
}

function renderParticipants() {
  const amHost = live.role === 'host';
  const people = [...live.participants.values()];
  // Re-rendering replaces the buttons; keep keyboard focus where it was.
  const active = document.activeElement;
  const focused = active && el.participants.contains(active) && active.dataset.action
    ? { action: active.dataset.action, id: active.dataset.id } : null;

  el.participants.replaceChildren(
    ...people.map((p) => participantItem(p, amHost)),
    ...[...live.pending.values()].map((p) => pendingItem(p, amHost)),
  );
  setText(el.peopleCount, people.length ? `(${people.length})` : '');
  renderHostHint();

  if (focused) {
    const again = [...el.participants.querySelectorAll('button[data-action]')]
      .find((b) => b.dataset.action === focused.action && b.dataset.id === focused.id);
    (again || el.participants.closest('section').querySelector('h2'))?.focus?.();
  }
  if (state.room && people.length) {
    state.room.participant_count = people.length;
    renderFacts(el.roomFacts, state.room);
  }
  setText(el.tabPeopleCount, people.length ? String(people.length) : '');
  const raised = handQueue(people);
  el.handsCard.hidden = !raised.length;
  el.handsHost.hidden = !amHost;
  renderQueue(el.handsQueue, raised, { amHost, selfId: live.selfId });
  el.handsCount.hidden = !raised.length;
  setText(el.handsCountN, String(raised.length));
  el.tabPeople.setAttribute('aria-label', `People, ${people.length}${raised.length ? `, ${raised.length} raised ${raised.length === 1 ? 'hand' : 'hands'}` : ''}`);
  renderInviteCard();
  renderQuality();
  renderMediaButtons();
  renderCall();
}

function renderHand() {
  const me = live.participants.get(live.selfId);
  const up = !!(me && me.hand_raised);
  setToggle(el.handButton, up, 'Raise hand', `${up ? 'Lower your hand' : 'Raise your hand'} (H)`);
}

async function toggleHand() {
  const me = live.participants.get(live.selfId);
  const raised = !(me && me.hand_raised);
  el.roomError.textContent = '';
  el.handButton.disabled = true;
  try {
    await request('raise-hand', { raised });
    const self = live.participants.get(live.selfId);
    if (self) self.hand_raised = raised;
    renderHand();
    renderParticipants();
    flash(el.roomStatus, raised ? 'Your hand is raised.' : 'Your hand is lowered.');
  } catch (err) {
    el.roomError.textContent = `Couldn't ${raised ? 'raise' : 'lower'} your hand: ${err.message}`;
  } finally {
    el.handButton.disabled = false;
  }
}

async function participantAction(event) {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const id = button.dataset.id;
  const p = live.participants.get(id) || live.pending.get(id);
  const name = p ? p.display_name : 'this participant';
  el.peopleError.textContent = '';
  if (button.dataset.action === 'kick') {
    if (!window.confirm(`Remove ${name} from the room? They will not be able to rejoin it.`)) return;
    button.disabled = true;
    try {
      await request('kick-participant', { participant_id: id });
      flash(el.peopleStatus, `${name} was removed from the room.`);
    } catch (err) {
      el.peopleError.textContent = `Couldn't remove ${name}: ${err.message}`;
      button.disabled = false;
    }
  } else if (button.dataset.action === 'make-host') {
    if (!window.confirm(`Make ${name} the host? You will no longer run the timer, remove people or end the room.`)) return;
    button.disabled = true;
    try {
      await request('transfer-host', { participant_id: id });
    } catch (err) {
      el.peopleError.textContent = `Couldn't make ${name} the host: ${err.message}`;
      button.disabled = false;
    }
  }
}

// ---- timer -----------------------------------------------------------------------------------

const PHASES = { work: 'Work', short_break: 'Short break', long_break: 'Long break' };
const STATUSES = { idle: 'Not started', running: 'Running', paused: 'Paused' };

function phaseName(phase) {
  return PHASES[phase] || 'Work';
}

/** Measures the clock offset (several round trips) now and again every few minutes. */
async function syncClock() {
  const run = ++live.clockRun;
  clearTimeout(live.resync);
  const s = live.socket;
  if (!s) return;
  try {
    const { offset } = await measureOffset(s, CLOCK_ROUNDS);
    if (run !== live.clockRun) return;
    live.offset = offset;
    live.offsetMeasured = true;
    renderClock();
  } catch {
    // Keep the snapshot's estimate; try again at the next resync.
  }
  if (run === live.clockRun && live.socket === s) {
    live.resync = setTimeout(() => { if (s.connected) syncClock(); }, CLOCK_RESYNC_MS);
  }
}

/** Says something in the timer's status region (again, even when it is the same words). */
function announce(text) {
  const node = el.timerAnnounce;
  node.textContent = node.textContent === text ? `${text}\u00a0` : text;
}

/** A new timer state; `fromEvent` when it is news (a `timer-update`), not a snapshot. */
function setTimer(t, fromEvent) {
  if (!t || typeof t !== 'object') return;
  live.timer = t;
  el.timerError.textContent = '';
  renderTimer();
  if (!fromEvent) return;
  const phase = phaseName(t.phase);
  switch (t.reason) {
    case 'completed': {
      const text = completedText(t);
      announce(text);
      chime();
      notify(text);
      break;
    }
    case 'started': announce(`${phase} started.`); break;
    case 'paused': announce('Timer paused.'); break;
    case 'resumed': announce(`${phase} resumed.`); break;
    case 'reset': announce('Timer reset.'); break;
    case 'skipped': announce(`Skipped to ${phase.toLowerCase()}.`); break;
    default: break;
  }
}

function completedText(t) {
  const running = t.status === 'running';
  if (t.phase === 'work') {
    return running ? 'Break over: the next work session has started.' : 'Break over: ready for the next work session.';
  }
  const kind = t.phase === 'long_break' ? 'a long break' : 'a short break';
  return running ? `Work session done: ${kind} has started.` : `Work session done: time for ${kind}.`;
}

/** The parts of the timer that change with its state (the clock itself ticks in renderClock). */
function renderTimer() {
  const t = live.timer;
  if (!t) {
    setText(el.timerPhase, 'Work');
    setText(el.timerClock, '--:--');
    setText(el.timerMeta, 'Waiting for the room…');
    el.timerProgress.value = 0;
    return;
  }
  el.timerPhase.dataset.phase = t.phase;
  el.timerClock.dataset.status = t.status;
  setText(el.timerPhase, phaseName(t.phase));
  const n = t.completed_pomodoros || 0;
  setText(el.timerMeta, `${STATUSES[t.status] || t.status} · ${n} ${n === 1 ? 'pomodoro' : 'pomodoros'} completed`);
  el.timerStart.hidden = t.status !== 'idle';
  el.timerPause.hidden = t.status !== 'running';
  el.timerResume.hidden = t.status !== 'paused';
  renderClock();
}

function renderClock() {
  const t = live.timer;
  if (!t) return;
  const left = remainingMs(t, live.offset, Date.now());
  const text = formatMs(left);
  setText(el.timerClock, text);
  setText(el.timerMiniClock, text);
  setText(el.timerMiniPhase, phaseName(t.phase));
  el.timerMini.dataset.status = t.status;
  const total = t.duration_ms > 0 ? t.duration_ms : 0;
  el.timerProgress.value = total ? Math.min(1, Math.max(0, 1 - left / total)) : 0;
  if (state.room && !el.room.hidden) {
    const unread = chat.unread ? `(${chat.unread}) ` : '';
    const title = t.status === 'running'
      ? `${unread}${text} ${phaseName(t.phase)} · ${state.room.name} · FlowSync`
      : `${unread}${state.room.name} · FlowSync`;
    if (document.title !== title) document.title = title;
  }
}

async function timerCommand(event, button, label) {
  el.timerError.textContent = '';
  const done = busy(button, label);
  try {
    const ack = await request(event, event === 'start-timer' ? {} : undefined);
    if (ack.timer) setTimer(ack.timer, false);
  } catch (err) {
    el.timerError.textContent = err.message;
  } finally {
    done();
  }
}

// ---- chime and notifications -----------------------------------------------------------------

let audioCtx = null;

/** The page's AudioContext, created (or resumed) on demand; browsers allow sound after a click. */
function audio() {
  if (!audioCtx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    try {
      audioCtx = new Ctx();
    } catch {
      return null;
    }
  }
  if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
  return audioCtx;
}

/** Two soft sine tones. */
function chime() {
  const ctx = audio();
  if (!ctx) return;
  try {
    const start = ctx.currentTime + 0.02;
    [[880, 0], [1318.5, 0.22]].forEach(([freq, delay]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const t = start + delay;
      osc.type = 'sine';
      osc.frequency.setValueAtTime(freq, t);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.9);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 1);
    });
  } catch {
    // No sound is not worth an error message.
  }
}

/** The Notification API, when this browser has one. */
function notifications() {
  return typeof window.Notification === 'function' ? window.Notification : null;
}

function renderNotify() {
  const N = notifications();
  if (!N) {
    el.notifyButton.hidden = true;
    el.notifyStatus.textContent = '';
    return;
  }
  const p = N.permission;
  el.notifyButton.hidden = p !== 'default';
  el.notifyStatus.textContent = p === 'granted'
    ? 'You will get a notification when a phase ends.'
    : p === 'denied' ? 'Notifications are blocked for this site; a chime still plays when a phase ends.' : '';
}

function askNotify() {
  audio(); // this click also allows the chime
  const N = notifications();
  if (!N) return;
  const after = () => renderNotify();
  try {
    // Older Safari takes a callback; the others return a promise.
    const asked = N.requestPermission(after);
    if (asked && typeof asked.then === 'function') asked.then(after, after);
  } catch {
    after();
  }
}

function notify(text) {
  const N = notifications();
  if (!N || N.permission !== 'granted') return;
  try {
    const n = new N(state.room ? `${state.room.name} · FlowSync` : 'FlowSync', {
      body: text,
      tag: `flowsync-timer-${state.code}`,
      icon: '/assets/favicon.svg',
    });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    // Some mobile browsers only notify from a service worker.
  }
}

// ---- chat ------------------------------------------------------------------------------------

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

/**
 * Chat text as nodes, its http(s) links clickable: elements built from the text (never HTML),
 * opened in a new tab without a referrer or a handle on this page; no other schemes.
 */
function withLinks(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"']+/gi)) {
    // Sentence punctuation after a link is not part of it.
    const url = match[0].replace(/[.,;:!?)\]]+$/, '');
    let href;
    try {
      href = new URL(url);
    } catch {
      continue;
    }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') continue;
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const a = document.createElement('a');
    a.href = href.href;
    a.textContent = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    nodes.push(a);
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

/** A line of nothing but emoji (up to 16 characters, the server's limit for them). */
function isEmojiOnly(text) {
  return [...text].length <= 16 && /\p{Extended_Pictographic}/u.test(text)
    && /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Emoji_Component}|\u200d|\ufe0f|\s)+$/u.test(text);
}

function renderMessage(m) {
  const li = document.createElement('li');
  li.className = 'message';
  li.dataset.id = String(m.id);
  const mine = m.type !== 'system' && m.sender_id && m.sender_id === live.selfId;
  if (m.type === 'system') li.classList.add('system');
  if (m.type === 'emoji') li.classList.add('emoji');
  if (mine) li.classList.add('mine');

  const time = document.createElement('time');
  time.dateTime = m.created_at;
  time.textContent = formatTime(m.created_at);
  time.title = new Date(m.created_at).toLocaleString();

  const body = document.createElement('p');
  body.className = 'message-body';
  if (m.type === 'text') body.append(...withLinks(m.message));
  else body.textContent = m.message;

  if (m.type === 'system') {
    li.append(body, time);
  } else {
    const meta = document.createElement('p');
    meta.className = 'message-meta';
    const who = document.createElement('span');
    who.className = 'sender';
    who.textContent = mine ? `${m.sender_name} (you)` : m.sender_name;
    meta.append(who, ' ', time);
    li.append(meta, body);
  }
  return li;
}

/** Inserts a message in id order (ignoring ones already shown). */
function insertMessage(m) {
  if (!m || typeof m.id !== 'number' || chat.rendered.has(m.id)) return;
  chat.rendered.add(m.id);
  chat.newestId = Math.max(chat.newestId, m.id);
  const li = renderMessage(m);
  let after = el.list.lastElementChild;
  while (after && Number(after.dataset.id) > m.id) after = after.previousElementSibling;
  if (after) after.after(li);
  else el.list.prepend(li);
  el.empty.hidden = true;
}

function nearBottom() {
  const s = el.scroll;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom() {
  el.scroll.scrollTop = el.scroll.scrollHeight;
}

function updateOlderButton() {
  el.olderButton.hidden = chat.nextBefore === null || chat.nextBefore === undefined;
}

function messagesPath(before) {
  const base = `/api/rooms/${state.code}/messages`;
  return before ? `${base}?before=${encodeURIComponent(before)}` : base;
}

function resetChat() {
  clearTimeout(chat.retry);
  chat.loaded = false;
  chat.loading = false;
  chat.again = false;
  chat.newestId = 0;
  chat.nextBefore = null;
  chat.rendered.clear();
  el.list.replaceChildren();
  el.empty.hidden = true;
  showFormError(el.chatError, '');
  updateOlderButton();
}

/**
 * On every (re)connect: the newest page over REST the first time, afterwards whatever arrived
 * while the connection was down (walking back over a gap). Live lines come as `chat-message`;
 * both paths go through insertMessage, which ignores what is already shown.
 */
async function loadChat() {
  if (!state.session) return;
  if (chat.loading) {
    chat.again = true;
    return;
  }
  clearTimeout(chat.retry);
  chat.loading = true;
  chat.again = false;
  const first = !chat.loaded;
  const since = chat.newestId;
  const stick = first || nearBottom();
  if (first) el.scroll.setAttribute('aria-busy', 'true');
  try {
    const page = await authed('GET', messagesPath());
    if (!state.session) return;
    let found = page.messages;
    if (first || since === 0) {
      if (chat.nextBefore === null) chat.nextBefore = page.next_before;
    } else {
      let cursor = page.next_before;
      let pages = 0;
      while (cursor && pages < MAX_GAP_PAGES && found.length && found.every((m) => m.id > since)) {
        const older = await authed('GET', messagesPath(cursor));
        if (!state.session) return;
        found = older.messages.concat(found);
        cursor = older.next_before;
        pages += 1;
      }
    }
    for (const m of found) if (first || m.id > since) insertMessage(m);
    chat.loaded = true;
    el.empty.hidden = chat.rendered.size > 0;
    updateOlderButton();
    if (stick) scrollToBottom();
    if (el.roomError.textContent.startsWith("Couldn't load the chat")) el.roomError.textContent = '';
  } catch (err) {
    if (err.handled) return;
    setText(el.roomError, `Couldn't load the chat: ${err.message} Retrying…`);
    chat.retry = setTimeout(() => { if (live.socket && live.socket.connected) loadChat(); }, RETRY_MS);
  } finally {
    chat.loading = false;
    el.scroll.removeAttribute('aria-busy');
    if (chat.again && state.session && live.socket) loadChat();
  }
}

function onChatMessage(m) {
  if (!m || typeof m.id !== 'number') return;
  const stick = nearBottom() || m.sender_id === live.selfId;
  const fresh = !chat.rendered.has(m.id);
  insertMessage(m);
  if (stick) scrollToBottom();
  if (fresh && m.sender_id !== live.selfId && !(chatVisible() && nearBottom())) {
    chat.unread += 1;
    renderUnread();
    renderClock();
  }
}

async function loadOlder() {
  if (!chat.nextBefore) return;
  const done = busy(el.olderButton, 'Loading…');
  el.scroll.setAttribute('aria-busy', 'true');
  try {
    const page = await authed('GET', messagesPath(chat.nextBefore));
    const before = el.scroll.scrollHeight;
    for (const m of page.messages) insertMessage(m);
    el.scroll.scrollTop += el.scroll.scrollHeight - before;
    chat.nextBefore = page.next_before;
    showFormError(el.chatError, '');
  } catch (err) {
    if (!err.handled) showFormError(el.chatError, `Couldn't load older messages: ${err.message}`);
  } finally {
    done();
    el.scroll.removeAttribute('aria-busy');
    updateOlderButton();
  }
}

/** Errors after which a chat line may or may not have been stored: resent after reconnecting. */
const RESEND_CODES = new Set(['TIMEOUT', 'OFFLINE', 'UNAVAILABLE']);

/** A random id for a chat line (crypto.randomUUID needs a secure context; this does not). */
function clientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Sends the lines still waiting for an acknowledgement (after the room is joined again). */
async function flushOutbox() {
  for (const [id, line] of [...chat.outbox]) {
    try {
      const ack = await request('chat-message', line);
      chat.outbox.delete(id);
      if (ack.message) insertMessage(ack.message);
    } catch (err) {
      if (!RESEND_CODES.has(err.code)) {
        chat.outbox.delete(id);
        showFormError(el.chatError, `A message could not be sent: ${err.message}`);
      }
      return;
    }
  }
  if (chat.outbox.size === 0 && el.chatError.textContent.startsWith('Not confirmed yet')) showFormError(el.chatError, '');
}

async function sendMessage(event) {
  event.preventDefault();
  if (chat.sending) return;
  const text = el.chatInput.value.trim();
  if (!text) {
    showFormError(el.chatError, 'Write something before sending.', el.chatInput);
    return;
  }
  showFormError(el.chatError, '');
  chat.sending = true;
  const done = busy(el.chatForm.querySelector('button[type="submit"]'), 'Sending…');
  const line = { message: text, type: isEmojiOnly(text) ? 'emoji' : 'text', client_id: clientId() };
  try {
    const ack = await request('chat-message', line);
    if (ack.message) insertMessage(ack.message);
    scrollToBottom();
    el.chatInput.value = '';
    if (ack.warning) showFormError(el.chatError, sentence(ack.warning.message));
  } catch (err) {
    if (RESEND_CODES.has(err.code)) {
      // It may have been stored; it is sent again (once) after reconnecting.
      chat.outbox.set(line.client_id, line);
      el.chatInput.value = '';
      showFormError(el.chatError, 'Not confirmed yet: your message is sent again when the connection is back.');
    } else {
      showFormError(el.chatError, err.message, el.chatInput);
    }
  } finally {
    chat.sending = false;
    done();
    if (state.session) el.chatInput.focus();
  }
}

// ---- room actions ----------------------------------------------------------------------------

/** Copies the invite link from `input` (the invite card's or the room panel's). */
async function copyInvite(input = el.inviteLink, status = el.copyStatus) {
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

let exportTimer = null;
async function exportTranscript() {
  el.roomError.textContent = '';
  const done = busy(el.exportButton, 'Preparing…');
  try {
    const res = await authed('POST', `/api/rooms/${state.code}/messages/export-link`);
    const url = `${res.url}${res.url.includes('?') ? '&' : '?'}format=txt`;
    el.exportLink.href = url;
    el.exportLink.download = `flowsync-${state.code}-chat.txt`;
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
function setToggle(button, on, label, hint = '') {
  button.setAttribute('aria-pressed', String(on));
  setText(button.querySelector('.label') || button, label);
  button.title = hint;
}

function renderMediaButtons() {
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
function renderMediaNotice() {
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
async function retryDevices() {
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
function fillSelect(select, list, current, none) {
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

async function renderDevices() {
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
function localLevel() {
  if (media.audioTrack !== call.meterTrack) {
    call.localMeter?.close();
    call.meterTrack = media.audioTrack;
    call.localMeter = media.audioTrack ? new LevelMeter(media.audioTrack) : null;
  }
  return media.sendingAudio && call.localMeter ? call.localMeter.read() : 0;
}

/** Lobby preview: camera in the video, microphone in the meter, until the lobby is left. */
async function startPreview() {
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
async function toggleAudio() {
  await media.setAudio(media.problem.audio ? true : !media.audioOn);
}

async function toggleVideo() {
  await media.setVideo(media.problem.video ? true : !media.videoOn);
}

/** Tells the room whether our microphone and camera are on. */
function sendMediaState() {
  if (!live.socket || !live.socket.connected) return;
  const audio = media.sendingAudio;
  const video = media.sendingVideo;
  const me = live.participants.get(live.selfId);
  if (me) {
    me.audio = audio;
    me.video = video;
  }
  request('media-state', { audio, video }).catch(() => {
    // Sent again on the next change or reconnect.
  });
}

function onMediaChange() {
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
function startCall() {
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

function endCall() {
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
function scheduleIceRefresh(servers) {
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
function onLevels(levels) {
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
function renderCall() {
  if (call.renderQueued) return;
  call.renderQueued = true;
  requestAnimationFrame(() => {
    call.renderQueued = false;
    if (el.room.hidden) return;
    const peers = call.mesh ? call.mesh.peers : new Map();
    call.stage.update({
      selfId: live.selfId,
      people: [...live.participants.values()],
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
function renderQuality() {
  for (const node of el.participants.querySelectorAll('.quality[data-id]')) {
    const peer = call.mesh && call.mesh.peers.get(node.dataset.id);
    const q = !peer ? 'none' : peer.state === 'connected' ? peer.quality : peer.state;
    const words = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection', unknown: 'Connected',
      new: 'Connecting…', connecting: 'Connecting…', disconnected: 'Reconnecting…', failed: 'Connection failed', closed: 'No call', none: 'No call yet' };
    node.dataset.quality = q;
    setText(node, words[q] || q);
  }
}

async function toggleShare() {
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
    await request('start-presenting');
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

async function stopShare() {
  if (!call.presenting) return;
  call.presenting = false;
  media.stopScreen();
  call.mesh?.setScreen(null);
  if (live.presenterId === live.selfId) live.presenterId = null;
  renderMediaButtons();
  renderParticipants();
  try {
    await request('stop-presenting');
  } catch {
    // The server clears a departed presenter by itself.
  }
}

function toggleView() {
  const speaker = call.stage.view !== 'speaker';
  call.stage.setView(speaker ? 'speaker' : 'grid');
  setToggle(el.viewButton, speaker, 'Grid view', 'Speaker view');
}

// ---- chat panel, unread badge and emoji -----------------------------------------------------

/** Chat is read when its panel is on screen in a visible tab. */
function chatVisible() {
  return panels.showing('chat') && !document.hidden;
}

/** Unread chat: a count on the Chat tab and in the tab title ("(3) Room · FlowSync"). */
function renderUnread() {
  const n = chat.unread;
  const shown = n > 99 ? '99+' : String(n);
  el.unread.hidden = n === 0;
  setText(el.unread, shown);
  el.tabChat.setAttribute('aria-label', n ? `Chat, ${n} unread` : 'Chat');
  if (state.room) document.title = `${n ? `(${shown}) ` : ''}${state.room.name} · FlowSync`;
}

function markRead() {
  if (chat.unread && chatVisible() && nearBottom()) {
    chat.unread = 0;
    renderUnread();
    renderClock();
  }
}

/** Shows the chat (its tab on a phone) and puts the cursor in the message field. */
function openChat() {
  panels.show('chat');
  el.chatInput.focus();
}

/** A panel came into view: chat on screen is read; People shows the hands queue. */
function onPanelChange() {
  if (panels.showing('chat')) {
    scrollToBottom();
    markRead();
  }
}

/** The emoji picker: the glyphs, or their names where the system has no emoji font. */
function buildEmojiPanel() {
  const glyphs = canDrawEmoji();
  el.emojiPanel.classList.toggle('words', !glyphs);
  el.emojiPanel.replaceChildren(...EMOJI.map(([ch, name]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'emoji-choice';
    b.textContent = glyphs ? ch : name;
    b.setAttribute('aria-label', name);
    b.title = name;
    b.dataset.emoji = ch;
    return b;
  }));
}

function setEmojiOpen(open) {
  el.emojiPanel.hidden = !open;
  el.emojiButton.setAttribute('aria-expanded', String(open));
  if (open) el.emojiPanel.querySelector('button')?.focus();
}

function insertEmoji(ch) {
  const input = el.chatInput;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? input.value.length;
  input.value = input.value.slice(0, start) + ch + input.value.slice(end);
  const at = start + ch.length;
  input.focus();
  input.setSelectionRange(at, at);
}

// ---- lobby -----------------------------------------------------------------------------------

async function joinRoom(event) {
  event.preventDefault();
  const name = el.joinName.value.trim();
  if (!name) {
    showFormError(el.joinError, 'Enter your name so others know who you are.', el.joinName);
    return;
  }
  if ([...name].length > 50) {
    showFormError(el.joinError, 'Your name can be at most 50 characters.', el.joinName);
    return;
  }
  const body = { display_name: name, device_id: deviceId() };
  if (!el.joinPasswordField.hidden) {
    if (!el.joinPassword.value) {
      showFormError(el.joinError, 'This room needs a password.', el.joinPassword);
      return;
    }
    body.password = el.joinPassword.value;
  }
  showFormError(el.joinError, '');
  const done = busy(el.joinForm.querySelector('button[type="submit"]'), 'Joining…');
  try {
    const res = await api('POST', `/api/rooms/${state.code}/join`, body);
    rememberName(name);
    // If storage is blocked the session still works until this page is left.
    saveSession(state.code, res, name);
    state.session = {
      token: res.token,
      participant_id: res.participant_id,
      role: res.role,
      room_code: res.room_code,
      display_name: name,
      tab: true,
    };
    state.room = res.room;
    el.joinPassword.value = '';
    done();
    enterRoom();
  } catch (err) {
    done();
    if (noticeForRoomError(err)) return;
    switch (err.code) {
      case 'WRONG_PASSWORD':
        el.joinPasswordField.hidden = false;
        showFormError(el.joinError, 'That password is not right. Check it with whoever invited you.', el.joinPassword);
        break;
      case 'ROOM_FULL':
        showFormError(el.joinError, `${err.message} Try again when someone leaves.`);
        break;
      case 'KICKED':
        showFormError(el.joinError, 'The host removed you from this room, so you cannot rejoin it.');
        break;
      case 'RATE_LIMITED':
        showFormError(el.joinError, err.retryAfter
          ? `Too many attempts. Try again in ${err.retryAfter} s.` : err.message);
        break;
      case 'VALIDATION':
        showFormError(el.joinError, err.message, /display name/i.test(err.message) ? el.joinName : null);
        break;
      default:
        showFormError(el.joinError, err.message);
    }
  }
}

// ---- start -----------------------------------------------------------------------------------

async function init(focus = false) {
  stopLive();
  endCall();
  el.loading.hidden = false;
  showOnly(views, null);

  const [, kind, segment = ''] = window.location.pathname.split('/');
  // A host link carries its key in the fragment: kept for this tab until the room is joined,
  // and taken off the address bar.
  const hostKey = /^#host=([A-Za-z0-9_-]{16,64})$/.exec(window.location.hash);
  if (hostKey) window.history.replaceState(null, '', window.location.pathname);

  try {
    if (kind === 'r') {
      // A standing room's readable link: /r/<slug>.
      state.room = await api('GET', `/api/slugs/${encodeURIComponent(segment)}`);
      state.code = state.room.code;
    } else {
      state.code = normalizeCode(segment);
      if (!state.code) {
        showNotice('Not a room code', 'This address does not contain a valid FlowSync room code. Codes are 6 '
          + 'characters and never use 0, O, 1, I or L.', { focus });
        return;
      }
      if (segment !== state.code) window.history.replaceState(null, '', `/room/${state.code}`);
      state.room = await api('GET', `/api/rooms/${state.code}`);
    }
  } catch (err) {
    if (kind === 'r' && (err.code === 'ROOM_NOT_FOUND' || err.status === 404)) {
      showNotice('Room not found', `No room has the link /r/${segment}. Check the link, or ask for a new one.`, { focus });
    } else if (!noticeForRoomError(err, focus)) {
      showNotice("Couldn't open the room", err.message, { retry: true, focus });
    }
    return;
  }
  if (hostKey) write(sessionStorage, hostKeyKey(state.code), hostKey[1]);

  state.session = loadSession(state.code);
  if (state.session?.tab) enterRoom();
  else showLobby('', focus);
}

el.noticeRetry.addEventListener('click', () => init(true));
el.joinForm.addEventListener('submit', joinRoom);
el.resumeButton.addEventListener('click', resumeSession);
el.standingButton.addEventListener('click', makeStanding);
el.hostLinkButton.addEventListener('click', () => copyHostLink(false));
el.hostLinkRotate.addEventListener('click', () => copyHostLink(true));
el.resumeOther.addEventListener('click', joinAsSomeoneElse);
el.chatForm.addEventListener('submit', sendMessage);
el.chatInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (typeof el.chatForm.requestSubmit === 'function') el.chatForm.requestSubmit();
    else el.chatForm.dispatchEvent(new Event('submit', { cancelable: true }));
  }
});
el.olderButton.addEventListener('click', loadOlder);
el.copyButton.addEventListener('click', () => copyInvite());
el.inviteLink.addEventListener('focus', () => el.inviteLink.select());
el.inviteCardCopy.addEventListener('click', () => copyInvite(el.inviteCardLink, el.inviteCardStatus));
el.inviteCardLink.addEventListener('focus', () => el.inviteCardLink.select());
el.inviteCardShare.addEventListener('click', shareInvite);
el.inviteCardHide.addEventListener('click', () => {
  live.inviteDismissed = true;
  renderInviteCard();
  el.micButton.focus();
});
el.handsQueue.addEventListener('click', lowerHands);
el.handsLowerAll.addEventListener('click', lowerHands);
el.handSound.checked = read(localStorage, 'flowsync:hand-sound') !== 'off';
el.handSound.addEventListener('change', () => write(localStorage, 'flowsync:hand-sound', el.handSound.checked ? null : 'off'));
el.deviceRetry.addEventListener('click', retryDevices);
el.timerMini.addEventListener('click', () => {
  // On a phone the full timer (and the host's controls) sits with People.
  panels.show('people');
  el.timerTitle.focus();
});
el.helpButton.addEventListener('click', () => el.helpDialog.showModal());
installShortcuts({
  active: () => !el.room.hidden,
  keys: {
    m: toggleAudio,
    v: toggleVideo,
    h: toggleHand,
    c: openChat,
    p: () => panels.show('people', { focus: true }),
    '?': () => el.helpDialog.showModal(),
  },
  // Esc closes the Devices menu or the emoji list (a dialog closes itself), focus goes back.
  escape: () => {
    if (el.devices.open) {
      el.devices.open = false;
      el.devices.querySelector('summary').focus();
      return true;
    }
    if (!el.emojiPanel.hidden) {
      setEmojiOpen(false);
      el.emojiButton.focus();
      return true;
    }
    return false;
  },
});
el.exportButton.addEventListener('click', exportTranscript);
el.handButton.addEventListener('click', toggleHand);
el.leaveButton.addEventListener('click', leaveRoom);
el.endButton.addEventListener('click', endRoom);
el.participants.addEventListener('click', participantAction);
el.timerStart.addEventListener('click', () => timerCommand('start-timer', el.timerStart, 'Starting…'));
el.timerPause.addEventListener('click', () => timerCommand('pause-timer', el.timerPause, 'Pausing…'));
el.timerResume.addEventListener('click', () => timerCommand('resume-timer', el.timerResume, 'Resuming…'));
el.timerSkip.addEventListener('click', () => {
  if (window.confirm('Skip to the next phase for everyone? The current one ends now.')) {
    timerCommand('skip-timer', el.timerSkip, 'Skipping…');
  }
});
el.timerReset.addEventListener('click', () => {
  if (window.confirm('Reset the timer for everyone? It goes back to an idle work phase and the pomodoro count starts over.')) {
    timerCommand('reset-timer', el.timerReset, 'Resetting…');
  }
});
el.notifyButton.addEventListener('click', askNotify);
media.addEventListener('change', onMediaChange);
media.addEventListener('screenended', () => stopShare());
el.lobbyMic.addEventListener('click', toggleAudio);
el.lobbyCam.addEventListener('click', toggleVideo);
el.micButton.addEventListener('click', toggleAudio);
el.camButton.addEventListener('click', toggleVideo);
el.shareButton.addEventListener('click', toggleShare);
el.viewButton.addEventListener('click', toggleView);
panels.addEventListener('change', onPanelChange);
for (const [select, kind] of [[el.cameraSelect, 'video'], [el.roomCameraSelect, 'video'], [el.micSelect, 'audio'], [el.roomMicSelect, 'audio']]) {
  select.addEventListener('change', async () => {
    await media.useDevice(kind, select.value);
    renderDevices();
  });
}
// Device labels appear after permission, and devices come and go.
navigator.mediaDevices?.addEventListener?.('devicechange', () => renderDevices());
el.soundButton.addEventListener('click', () => {
  el.soundBlocked.hidden = true;
  call.stage.resume();
});
el.scroll.addEventListener('scroll', markRead, { passive: true });
document.addEventListener('visibilitychange', markRead);
buildEmojiPanel();
placeIcons();
el.emojiButton.addEventListener('click', () => setEmojiOpen(el.emojiPanel.hidden));
el.emojiPanel.addEventListener('click', (event) => {
  const b = event.target.closest('button[data-emoji]');
  if (!b) return;
  insertEmoji(b.dataset.emoji);
  setEmojiOpen(false);
});
el.emojiPanel.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    setEmojiOpen(false);
    el.emojiButton.focus();
  }
});
window.addEventListener('pagehide', () => {
  call.mesh?.close();
  media.stop();
});
// The first click or key press lets the page play the completion chime later.
const unlockAudio = () => {
  audio();
  document.removeEventListener('pointerdown', unlockAudio, true);
  document.removeEventListener('keydown', unlockAudio, true);
};
document.addEventListener('pointerdown', unlockAudio, true);
document.addEventListener('keydown', unlockAudio, true);

init();
