// room/live.js: the live connection: REST calls made with this tab's session (and what to do
// when it stops working), the Socket.io connection with its acknowledged requests, connection
// status and reconnects, and the ways a visit ends (left, removed, room ended, replaced).

import { CLIENT, SERVER } from '../events.js';
import { api, clearSession, sentence } from '../api.js';
import { busy } from '../ui.js';
import { io } from '/assets/vendor/socket.io-client/socket.io.esm.min.js';
import { endCall } from './calls.js';
import { loadChat, onChatMessage } from './chat.js';
import { onStatusChanged } from './focus.js';
import { onCheckInRequested, onGoalUpdated } from './goals.js';
import { onHandRaised, onHostChanged, onMediaState, onPending, onPresenterChanged, onRoomJoined, onRoomUpdated, onUserJoined, onUserLeft } from './people.js';
import { ACK_TIMEOUT_MS, RETRY_MS, TICK_MS, call, chat, el, live, setText, state } from './shared.js';
import { renderClock, setTimer, syncClock } from './timer-ui.js';
import { noticeForRoomError, showLobby, showNotice } from './views.js';

// ---- session-aware API calls -------------------------------------------------------------------

/** Whether an error means this tab's token no longer works. */
export function isSessionError(err) {
  return err.code === 'INVALID_TOKEN' || err.code === 'UNAUTHORIZED' || err.status === 410;
}

/** The token stopped working: forget it and show what the room's state now calls for. */
export async function sessionLost(err) {
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
export async function authed(method, path, body) {
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
export class LiveError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'LiveError';
    this.code = code;
  }
}

/** `CODE: explanation` (a refused handshake) → {code, message}. */
export function parseRefusal(text) {
  const m = String(text || '').match(/^([A-Z][A-Z0-9_]*): ?(.*)$/s);
  return m ? { code: m[1], message: m[2] } : { code: '', message: String(text || '') };
}

/**
 * Emits an event and resolves with its acknowledgement `{ok: true, …}`; rejects with a LiveError
 * for `{ok: false, error}`, no answer in time, or no connection (socket.io would otherwise queue
 * the event and send it whenever it reconnects, which is not what someone clicking expects).
 */
export function request(event, payload) {
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
export function setConn(kind, text) {
  el.connStatus.dataset.state = kind;
  setText(el.connText, text);
}

export function startLive() {
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

  socket.on(SERVER.ROOM_JOINED, onRoomJoined);
  socket.on(SERVER.ROOM_UPDATED, onRoomUpdated);
  // Relayed signaling arrives under the names it was sent with.
  for (const event of [CLIENT.OFFER, CLIENT.ANSWER, CLIENT.ICE_CANDIDATE]) {
    socket.on(event, (msg) => call.mesh?.receive(event, msg));
  }
  socket.on(SERVER.USER_JOINED, onUserJoined);
  socket.on(SERVER.USER_LEFT, onUserLeft);
  socket.on(SERVER.PARTICIPANT_PENDING, onPending);
  socket.on(SERVER.HAND_RAISED, onHandRaised);
  socket.on(SERVER.MEDIA_STATE, onMediaState);
  socket.on(SERVER.PRESENTER_CHANGED, onPresenterChanged);
  socket.on(SERVER.HOST_CHANGED, onHostChanged);
  socket.on(SERVER.TIMER_UPDATE, (t) => setTimer(t, true));
  socket.on(SERVER.CHAT_MESSAGE, onChatMessage);
  socket.on(SERVER.GOAL_UPDATED, onGoalUpdated);
  socket.on(SERVER.CHECK_IN_REQUESTED, onCheckInRequested);
  socket.on(SERVER.STATUS_CHANGED, onStatusChanged);
  socket.on(SERVER.KICKED, () => removedByHost());
  socket.on(SERVER.ROOM_ENDED, () => roomEnded());
  socket.on(SERVER.SESSION_REPLACED, sessionReplaced);
  socket.on(SERVER.SERVER_RESTARTING, (hint) => {
    live.restarting = true;
    const after = Number(hint && hint.reconnect_after_ms) || 500;
    const jitter = Number(hint && hint.jitter_ms) || 0;
    live.restartDelay = Math.max(0, after) + Math.random() * Math.max(0, jitter);
    setConn('reconnecting', 'Server restarting, reconnecting…');
  });
  socket.on(SERVER.ERROR, (e) => {
    // The server could not set this connection up (it then disconnects; we retry).
    live.serverError = e && e.message ? sentence(e.message) : 'The server reported a problem.';
    setText(el.roomError, live.serverError);
  });

  clearInterval(live.tick);
  live.tick = setInterval(renderClock, TICK_MS);
}

/** Closes the connection (without the handlers reacting) and stops the page's timers. */
export function stopLive() {
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

export function onConnect() {
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

export function onConnectError(err) {
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

export function onDisconnect(reason) {
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

export function scheduleRetry(delay = RETRY_MS) {
  clearTimeout(live.retry);
  live.retry = setTimeout(() => {
    if (live.socket && !live.over && !live.socket.connected) live.socket.connect();
  }, delay);
}

// ---- endings ---------------------------------------------------------------------------------

export function removedByHost() {
  live.over = true;
  clearSession(state.code);
  state.session = null;
  showNotice('Removed from the room', 'The host removed you from this room, so you cannot rejoin it.');
}

export function roomEnded() {
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

export function sessionReplaced() {
  live.over = true;
  showNotice('This room is open in another tab or window',
    'You can be in a room from one place at a time, so this tab stepped aside. Continue in the other one, '
    + 'or use this tab instead (the other one then steps aside).',
    { retry: true, retryLabel: 'Use this tab' });
}

export async function leaveRoom() {
  const done = busy(el.leaveButton, 'Leaving…');
  live.over = true;
  try {
    await request(CLIENT.LEAVE_ROOM);
  } catch {
    // Offline or no answer: the seat is released when the reconnect grace runs out.
  }
  done();
  clearSession(state.code);
  state.session = null;
  showNotice('You left the room', 'You can rejoin while the room is open, using the link below or the invite link.',
    { rejoin: true });
}

export async function endRoom() {
  const ok = window.confirm(`End "${state.room.name}" for everyone? Everyone is signed out, the room `
    + 'cannot be reopened, and its chat can no longer be downloaded.');
  if (!ok) return;
  el.roomError.textContent = '';
  const done = busy(el.endButton, 'Ending…');
  live.ending = true;
  try {
    await request(CLIENT.END_ROOM);
    done();
    if (!live.over) roomEnded(); // unless `room-ended` came first
  } catch (err) {
    done();
    if (live.over) return;
    live.ending = false;
    el.roomError.textContent = `Couldn't end the room: ${err.message}`;
  }
}
