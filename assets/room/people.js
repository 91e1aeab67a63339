// room/people.js: who is in the room: the snapshot and arrivals and departures, hands (the
// queue, toasts, lowering), media state, presenter and host changes, the invite card shown to
// someone alone, the host's tools (standing room, host link) and People's list and actions.

import { CLIENT } from '../events.js';
import { read, saveSession, write } from '../api.js';
import { handSound, queue as handQueue, renderQueue, toast } from '../hands.js';
import { icon } from '../icons.js';
import { estimateOffset } from '../timer.js';
import { busy } from '../ui.js';
import { renderCall, renderMediaButtons, renderQuality, scheduleIceRefresh, sendMediaState, setToggle, stopShare } from './calls.js';
import { flushOutbox } from './chat.js';
import { STATUS_WORDS, renderFocus, statusOf } from './focus.js';
import { goalOf, onSnapshot as goalsSnapshot } from './goals.js';
import { request } from './live.js';
import { call, chat, el, flash, iceFor, live, media, setText, state } from './shared.js';
import { audio, setTimer } from './timer-ui.js';
import { renderFacts, renderWhoami } from './views.js';

// ---- people ----------------------------------------------------------------------------------

export function onRoomJoined(d) {
  if (!d || typeof d !== 'object') return;
  const list = Array.isArray(d.participants) ? d.participants : [];
  live.selfId = (d.self && d.self.participant_id) || state.session.participant_id;
  live.snapshotSeen = true;
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
  goalsSnapshot(d);
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
    request(CLIENT.START_PRESENTING).then(() => {
      live.presenterId = live.selfId;
      renderParticipants();
    }, () => stopShare());
  }
  sendMediaState();
  renderParticipants();
  renderHand();
  claimHostIfAsked();
}

export function onUserJoined(p) {
  if (!p || !p.participant_id) return;
  live.earlyArrivals?.set(p.participant_id, { ...p });
  dropPending(p.participant_id);
  live.participants.set(p.participant_id, { ...p });
  call.mesh?.keep(p.participant_id);
  renderParticipants();
}

/** A seat taken over REST: shown as "joining…" until its connection arrives or it lapses. */
export function addPending(p) {
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

export function dropPending(id) {
  const p = live.pending.get(id);
  if (!p) return false;
  clearTimeout(p.timer);
  live.pending.delete(id);
  return true;
}

export function clearPending() {
  for (const p of live.pending.values()) clearTimeout(p.timer);
  live.pending.clear();
}

export function onPending(p) {
  addPending(p);
  renderParticipants();
}

export function onUserLeft(d) {
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

export function onHandRaised(d) {
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
export async function lowerHands(event) {
  const one = event.target.closest('button[data-lower]');
  if (event.currentTarget === el.handsQueue && !one) return;
  const button = one || el.handsLowerAll;
  el.peopleError.textContent = '';
  button.disabled = true;
  try {
    await request(CLIENT.LOWER_HAND, one ? { participant_id: one.dataset.lower } : { all: true });
  } catch (err) {
    el.peopleError.textContent = `Couldn't lower ${one ? 'that hand' : 'the hands'}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

/** The invite card over an empty stage: shown while nobody else is here (until dismissed). */
export function renderInviteCard() {
  // Only once the server said who is here: before the first snapshot the list is empty.
  const alone = live.snapshotSeen && live.participants.size <= 1 && live.pending.size === 0;
  el.inviteCard.hidden = !alone || !!live.inviteDismissed || el.room.hidden;
  el.inviteCardShare.hidden = typeof navigator.share !== 'function';
}

export async function shareInvite() {
  try {
    await navigator.share({ title: state.room.name, text: `Join "${state.room.name}" on FlowSync`, url: el.inviteCardLink.value });
  } catch (err) {
    if (err && err.name !== 'AbortError') flash(el.inviteCardStatus, "Couldn't open the share sheet; copy the link instead.");
  }
}

export function onMediaState(d) {
  const { participant_id: id, audio, video } = d || {};
  const p = live.participants.get(id);
  if (!p) return;
  p.audio = !!audio;
  p.video = !!video;
  renderParticipants();
}

export function onPresenterChanged(d) {
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

export function onHostChanged(d) {
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
export function setRole(role) {
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
export function roomPath(room) {
  return room.standing && room.slug ? `/r/${room.slug}` : `/room/${room.code}`;
}

/** The room's facts changed (made standing): its link and the host's tools follow. */
export function onRoomUpdated(d) {
  if (!d || !d.room) return;
  state.room = { ...state.room, ...d.room };
  el.inviteLink.value = `${window.location.origin}${roomPath(state.room)}`;
  renderFacts(el.roomFacts, state.room);
  renderHostTools();
  renderFocus();
  if (state.room.standing && window.location.pathname !== roomPath(state.room)) {
    window.history.replaceState(null, '', roomPath(state.room));
  }
}

/** A host's tools for a team's room: make it standing, copy or renew its host link. */
export function renderHostTools() {
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

export async function makeStanding() {
  const done = busy(el.standingButton, 'Making it standing…');
  try {
    const ack = await request(CLIENT.MAKE_STANDING, {});
    onRoomUpdated({ room: ack.room });
    flash(el.hostToolsStatus, `This room now stays until you end it. Its link is ${el.inviteLink.value}`, 10000);
  } catch (err) {
    flash(el.hostToolsStatus, err.message, 10000);
  } finally {
    done();
  }
}

export async function copyHostLink(rotate) {
  if (rotate && !window.confirm('Make a new host link? The current one stops working.')) return;
  const button = rotate ? el.hostLinkRotate : el.hostLinkButton;
  const done = busy(button, rotate ? 'Renewing…' : 'Copying…');
  try {
    const ack = await request(CLIENT.HOST_LINK, rotate ? { rotate: true } : {});
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
export function claimHostIfAsked() {
  const key = read(sessionStorage, hostKeyKey(state.code));
  if (!key) return;
  write(sessionStorage, hostKeyKey(state.code), null);
  if (live.role === 'host') return;
  request(CLIENT.CLAIM_HOST, { host_key: key }).then(
    () => flash(el.roomStatus, 'You opened the host link: you are the host now.', 10000),
    (err) => flash(el.roomStatus, err.message, 15000),
  );
}

export const hostKeyKey = (code) => `flowsync:host-key:${code}`;

/** Who runs the timer, for guests: the host by name, never a host that is not there. */
export function renderHostHint() {
  const host = [...live.participants.values()].find((p) => p.role === 'host');
  setText(el.timerGuestHint, host
    ? `${host.display_name} is host: they start and pause the timer for everyone, and can make you host.`
    : 'Nobody is host right now: the next person to arrive, or the longest here, becomes host.');
}

/** A small label in People; `iconName` an icons.js icon drawn before the text. */
export function badge(text, kind, iconName = '') {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  if (iconName) span.append(icon(iconName));
  span.append(text);
  return span;
}

export function actionButton(action, id, label, name, kind) {
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

export function participantItem(p, amHost) {
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
  const status = statusOf(p);
  if (status) badges.append(badge(STATUS_WORDS[status], `status status-${status}`));
  if (!me) {
    const q = document.createElement('span');
    q.className = 'quality';
    q.dataset.id = p.participant_id;
    badges.append(q);
  }

  li.append(name, badges);
  const goal = goalOf(p.participant_id);
  if (goal) {
    const line = document.createElement('span');
    line.className = 'participant-goal';
    line.textContent = `Goal: ${goal}`;
    li.append(line);
  }
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
export function pendingItem(p, amHost) {
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

export function renderParticipants() {
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

export function renderHand() {
  const me = live.participants.get(live.selfId);
  const up = !!(me && me.hand_raised);
  setToggle(el.handButton, up, 'Raise hand', `${up ? 'Lower your hand' : 'Raise your hand'} (H)`);
}

export async function toggleHand() {
  const me = live.participants.get(live.selfId);
  const raised = !(me && me.hand_raised);
  el.roomError.textContent = '';
  el.handButton.disabled = true;
  try {
    await request(CLIENT.RAISE_HAND, { raised });
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

export async function participantAction(event) {
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
      await request(CLIENT.KICK_PARTICIPANT, { participant_id: id });
      flash(el.peopleStatus, `${name} was removed from the room.`);
    } catch (err) {
      el.peopleError.textContent = `Couldn't remove ${name}: ${err.message}`;
      button.disabled = false;
    }
  } else if (button.dataset.action === 'make-host') {
    if (!window.confirm(`Make ${name} the host? You will no longer run the timer, remove people or end the room.`)) return;
    button.disabled = true;
    try {
      await request(CLIENT.TRANSFER_HOST, { participant_id: id });
    } catch (err) {
      el.peopleError.textContent = `Couldn't make ${name} the host: ${err.message}`;
      button.disabled = false;
    }
  }
}
