// room/views.js: which view the room page shows (a notice, the lobby, the room) and getting
// from one to the other: the notices for rooms that cannot be used, the lobby (who is inside,
// resuming this browser's place, joining with a name and password) and entering the room.

import { api, clearSession, deviceId, rememberName, rememberedName, saveSession } from '../api.js';
import { busy, showFormError, showOnly } from '../ui.js';
import { endCall, onMediaChange, renderDevices, startCall, startPreview } from './calls.js';
import { renderUnread, resetChat } from './chat.js';
import { startLive, stopLive } from './live.js';
import { renderHand, renderParticipants, roomPath, setRole } from './people.js';
import { chat, el, live, media, state, views } from './shared.js';
import { renderNotify, renderTimer } from './timer-ui.js';
import { rulesText } from './focus.js';

// ---- views -----------------------------------------------------------------------------------

export function show(view, focusHeading) {
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
export function showNotice(title, text, { retry = false, retryLabel = 'Try again', rejoin = false, focus = true } = {}) {
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
export function noticeForRoomError(err, focus = true) {
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

export function minutes(seconds) {
  const m = seconds / 60;
  return Number.isInteger(m) ? `${m} min` : `${m.toFixed(1)} min`;
}

/** Fills a facts list with the room's public details. */
export function renderFacts(list, room) {
  const facts = [
    `${room.participant_count} of ${room.max_participants} seats taken`,
    room.has_password ? 'Password protected' : 'No password',
  ];
  if (room.timer) {
    const t = room.timer;
    facts.push(`Timer: ${minutes(t.work_seconds)} work, ${minutes(t.short_break_seconds)} short break, `
      + `${minutes(t.long_break_seconds)} long break every ${t.long_break_every} rounds`
      + (t.auto_start ? ', starts automatically' : ''));
    const rules = rulesText(room);
    if (rules) facts.push(rules);
  }
  list.replaceChildren(...facts.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

export function showLobby(message = '', focus = false) {
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
export function renderInside(room) {
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
export const LOBBY_REFRESH_MS = 15000;
export function watchLobby() {
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
export function resumeSession() {
  if (!state.session) return;
  state.session.tab = true;
  saveSession(state.code, state.session, state.session.display_name);
  enterRoom();
}

/** Forgets this browser's participant in the room and shows the join form instead. */
export function joinAsSomeoneElse() {
  clearSession(state.code);
  state.session = null;
  el.joinName.value = '';
  el.lobbyResume.hidden = true;
  el.joinForm.hidden = false;
  el.joinName.focus();
}

export function strong(text) {
  const b = document.createElement('strong');
  b.textContent = text;
  return b;
}

export function renderWhoami() {
  const name = state.session?.display_name || rememberedName() || 'you';
  el.whoami.replaceChildren(
    "You're in ", strong(state.room.name), ' as ', strong(name), ` (${live.role === 'host' ? 'host' : 'guest'}).`,
  );
}

export function enterRoom() {
  const { room, session } = state;
  document.title = `${room.name} · FlowSync`;
  el.roomCode.textContent = room.code;
  el.inviteCode.textContent = room.code;
  el.roomTitle.textContent = room.name;
  renderFacts(el.roomFacts, room);
  el.inviteLink.value = `${window.location.origin}${roomPath(room)}`;
  el.inviteCardLink.value = el.inviteLink.value;
  live.inviteDismissed = false;
  live.snapshotSeen = false;
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

// ---- lobby -----------------------------------------------------------------------------------

export async function joinRoom(event) {
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
