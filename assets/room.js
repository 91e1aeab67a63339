// room.js: one room's page: looks the room up, shows a lobby until this tab has a session,
// then the room: who you are, the invite link, REST-polled chat, transcript export and (host)
// ending the room. Live signaling and video come later with the realtime client.

import {
  api, deviceId, rememberedName, rememberName, loadSession, saveSession, clearSession, normalizeCode,
} from './api.js';
import { byId, showFormError, busy, showOnly } from './ui.js';

const POLL_MS = 3000;
/** Every this many polls, the room's public facts (seats) are refreshed too. */
const ROOM_REFRESH_EVERY = 10;
/** How far back a poll walks to close a gap after a burst of messages. */
const MAX_GAP_PAGES = 10;

const el = {
  loading: byId('loading'),
  notice: byId('notice'),
  noticeTitle: byId('notice-title'),
  noticeText: byId('notice-text'),
  noticeRetry: byId('notice-retry'),
  lobby: byId('lobby'),
  lobbyCode: byId('lobby-code'),
  lobbyTitle: byId('lobby-title'),
  lobbyFacts: byId('lobby-facts'),
  lobbyNotice: byId('lobby-notice'),
  joinForm: byId('join-form'),
  joinError: byId('join-error'),
  joinName: byId('join-display-name'),
  joinPasswordField: byId('join-password-field'),
  joinPassword: byId('join-password'),
  room: byId('room'),
  roomCode: byId('room-code'),
  roomTitle: byId('room-title'),
  whoami: byId('room-whoami'),
  roomFacts: byId('room-facts'),
  roomStatus: byId('room-status'),
  roomError: byId('room-error'),
  exportButton: byId('export-button'),
  exportFallback: byId('export-fallback'),
  exportLink: byId('export-link'),
  endButton: byId('end-button'),
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
};
const views = [el.notice, el.lobby, el.room];

const state = {
  code: null,
  room: null,
  session: null,
};

const chat = {
  running: false,
  timer: null,
  inFlight: false,
  polls: 0,
  newestId: 0,
  nextBefore: null,
  rendered: new Set(),
  failing: false,
  sending: false,
};

/** Sets an element's text only when it changes, so live regions don't repeat themselves. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// ---- views -----------------------------------------------------------------------------------

function show(view, focusHeading) {
  el.loading.hidden = true;
  showOnly(views, view);
  if (focusHeading) view.querySelector('h1')?.focus();
}

function showNotice(title, text, { retry = false, focus = true } = {}) {
  stopChat();
  document.title = `${title} · FlowSync`;
  el.noticeTitle.textContent = title;
  el.noticeText.textContent = text;
  el.noticeRetry.hidden = !retry;
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
  el.lobbyNotice.textContent = message;
  el.lobbyNotice.hidden = !message;
  if (!el.joinName.value) el.joinName.value = rememberedName();
  el.joinPasswordField.hidden = !room.has_password;
  el.joinPassword.required = room.has_password;
  showFormError(el.joinError, '');
  show(el.lobby, focus);
}

function enterRoom(focus) {
  const { room, session } = state;
  document.title = `${room.name} · FlowSync`;
  el.roomCode.textContent = room.code;
  el.inviteCode.textContent = room.code;
  el.roomTitle.textContent = room.name;
  renderFacts(el.roomFacts, room);

  const name = session.display_name || rememberedName() || 'you';
  const strong = (text) => {
    const b = document.createElement('strong');
    b.textContent = text;
    return b;
  };
  el.whoami.replaceChildren(
    "You're in ", strong(room.name), ' as ', strong(name), ` (${session.role === 'host' ? 'host' : 'guest'}).`,
  );

  el.inviteLink.value = `${window.location.origin}/room/${room.code}`;
  el.endButton.hidden = session.role !== 'host';
  el.roomStatus.textContent = '';
  el.roomError.textContent = '';
  el.exportFallback.hidden = true;
  show(el.room, focus);
  startChat();
}

// ---- session-aware API calls -------------------------------------------------------------------

/** Whether an error means this tab's token no longer works. */
function isSessionError(err) {
  return err.code === 'INVALID_TOKEN' || err.code === 'UNAUTHORIZED' || err.status === 410;
}

/** The token stopped working: forget it and show what the room's state now calls for. */
async function sessionLost(err) {
  stopChat();
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

function renderMessage(m) {
  const li = document.createElement('li');
  li.className = 'message';
  li.dataset.id = String(m.id);
  const mine = state.session && m.sender_id === state.session.participant_id;
  if (m.type === 'system') li.classList.add('system');
  if (m.type === 'emoji') li.classList.add('emoji');
  if (mine) li.classList.add('mine');

  const time = document.createElement('time');
  time.dateTime = m.created_at;
  time.textContent = formatTime(m.created_at);
  time.title = new Date(m.created_at).toLocaleString();

  const body = document.createElement('p');
  body.className = 'message-body';
  body.textContent = m.message;

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
  if (chat.rendered.has(m.id)) return;
  chat.rendered.add(m.id);
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
  chat.newestId = 0;
  chat.nextBefore = null;
  chat.rendered.clear();
  chat.polls = 0;
  chat.failing = false;
  el.list.replaceChildren();
  el.empty.hidden = true;
  showFormError(el.chatError, '');
  updateOlderButton();
}

async function startChat() {
  stopChat();
  resetChat();
  chat.running = true;
  chat.inFlight = true;
  el.scroll.setAttribute('aria-busy', 'true');
  try {
    const page = await authed('GET', messagesPath());
    if (!chat.running) return;
    for (const m of page.messages) insertMessage(m);
    chat.newestId = page.messages.reduce((max, m) => Math.max(max, m.id), 0);
    chat.nextBefore = page.next_before;
    el.empty.hidden = page.messages.length > 0;
    updateOlderButton();
    scrollToBottom();
  } catch (err) {
    if (err.handled) return;
    el.empty.hidden = true;
    setText(el.roomError, `Couldn't load the chat: ${err.message} Retrying…`);
    chat.failing = true;
  } finally {
    chat.inFlight = false;
    el.scroll.removeAttribute('aria-busy');
    schedulePoll();
  }
}

function stopChat() {
  chat.running = false;
  clearTimeout(chat.timer);
  chat.timer = null;
}

function schedulePoll(delay = POLL_MS) {
  clearTimeout(chat.timer);
  if (chat.running) chat.timer = setTimeout(poll, delay);
}

/** Fetches messages newer than the newest shown, walking back over gaps after a burst. */
async function poll() {
  if (!chat.running || chat.inFlight) return;
  if (document.hidden) {
    schedulePoll();
    return;
  }
  chat.inFlight = true;
  chat.polls += 1;
  try {
    if (chat.polls % ROOM_REFRESH_EVERY === 0) await refreshRoom();
    if (!chat.running) return;

    const page = await authed('GET', messagesPath());
    if (!chat.running) return;
    let fresh = page.messages.filter((m) => m.id > chat.newestId);
    if (chat.newestId === 0) {
      // The room had no history when it was opened: this page is the first one.
      if (chat.nextBefore === null) chat.nextBefore = page.next_before;
    } else {
      let cursor = page.next_before;
      let pages = 0;
      while (fresh.length === page.messages.length && cursor && pages < MAX_GAP_PAGES) {
        const older = await authed('GET', messagesPath(cursor));
        if (!chat.running) return;
        const newer = older.messages.filter((m) => m.id > chat.newestId);
        fresh = newer.concat(fresh);
        if (newer.length < older.messages.length) break;
        cursor = older.next_before;
        pages += 1;
      }
    }
    if (fresh.length) {
      const stick = nearBottom();
      for (const m of fresh) insertMessage(m);
      chat.newestId = fresh.reduce((max, m) => Math.max(max, m.id), chat.newestId);
      if (stick) scrollToBottom();
    }
    updateOlderButton();
    el.empty.hidden = chat.rendered.size > 0;
    if (chat.failing) {
      chat.failing = false;
      setText(el.roomError, '');
    }
  } catch (err) {
    if (err.handled) return;
    chat.failing = true;
    setText(el.roomError, `Chat updates paused: ${err.message} Retrying…`);
  } finally {
    chat.inFlight = false;
    schedulePoll();
  }
}

/** Re-reads the room's public facts (seat count); an ended room ends the session. */
async function refreshRoom() {
  try {
    state.room = await api('GET', `/api/rooms/${state.code}`);
    renderFacts(el.roomFacts, state.room);
  } catch (err) {
    if (err.status === 404 || err.status === 410) {
      err.handled = true;
      stopChat();
      clearSession(state.code);
      state.session = null;
      noticeForRoomError(err);
      throw err;
    }
    // Anything else: the messages request that follows reports trouble.
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
  try {
    const m = await authed('POST', `/api/rooms/${state.code}/messages`, { message: text, type: 'text' });
    insertMessage(m);
    scrollToBottom();
    el.chatInput.value = '';
  } catch (err) {
    if (!err.handled) showFormError(el.chatError, err.message, el.chatInput);
  } finally {
    chat.sending = false;
    done();
    if (state.session) el.chatInput.focus();
  }
}

// ---- room actions ----------------------------------------------------------------------------

let copyStatusTimer = null;
function copyStatus(text) {
  el.copyStatus.textContent = text;
  clearTimeout(copyStatusTimer);
  copyStatusTimer = setTimeout(() => { el.copyStatus.textContent = ''; }, 6000);
}

async function copyInvite() {
  const link = el.inviteLink.value;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('clipboard unavailable');
    await navigator.clipboard.writeText(link);
    copyStatus('Invite link copied.');
    return;
  } catch {
    // Fall back to selecting the text (clipboard needs HTTPS or localhost, and permission).
  }
  el.inviteLink.focus();
  el.inviteLink.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  copyStatus(copied ? 'Invite link copied.' : 'The link is selected: press Ctrl+C (or ⌘C) to copy it.');
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
    el.roomStatus.textContent = 'Transcript download started.';
    clearTimeout(exportTimer);
    // The signed link stops working after five minutes; hide it before then.
    exportTimer = setTimeout(() => {
      el.exportFallback.hidden = true;
      el.exportLink.removeAttribute('href');
      el.roomStatus.textContent = '';
    }, 4.5 * 60 * 1000);
  } catch (err) {
    if (!err.handled) el.roomError.textContent = `Couldn't prepare the transcript: ${err.message}`;
  } finally {
    done();
  }
}

async function endRoom() {
  const ok = window.confirm(`End "${state.room.name}" for everyone? Everyone is signed out, the room `
    + 'cannot be reopened, and its chat can no longer be downloaded.');
  if (!ok) return;
  el.roomError.textContent = '';
  const done = busy(el.endButton, 'Ending…');
  try {
    await authed('DELETE', `/api/rooms/${state.code}`);
    stopChat();
    clearSession(state.code);
    state.session = null;
    showNotice('Room ended', 'You ended the room; everyone in it has been signed out. '
      + 'Start a new room from the front page whenever you like.');
  } catch (err) {
    if (!err.handled) el.roomError.textContent = `Couldn't end the room: ${err.message}`;
  } finally {
    done();
  }
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
    };
    state.room = res.room;
    el.joinPassword.value = '';
    done();
    enterRoom(true);
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
  el.loading.hidden = false;
  showOnly(views, null);

  const segment = window.location.pathname.split('/')[2] || '';
  state.code = normalizeCode(segment);
  if (!state.code) {
    showNotice('Not a room code', 'This address does not contain a valid FlowSync room code. Codes are 6 '
      + 'characters and never use 0, O, 1, I or L.', { focus });
    return;
  }
  if (segment !== state.code) window.history.replaceState(null, '', `/room/${state.code}`);

  try {
    state.room = await api('GET', `/api/rooms/${state.code}`);
  } catch (err) {
    if (!noticeForRoomError(err, focus)) {
      showNotice("Couldn't open the room", err.message, { retry: true, focus });
    }
    return;
  }

  state.session = loadSession(state.code);
  if (state.session) enterRoom(focus);
  else showLobby('', focus);
}

el.noticeRetry.addEventListener('click', () => init(true));
el.joinForm.addEventListener('submit', joinRoom);
el.chatForm.addEventListener('submit', sendMessage);
el.chatInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (typeof el.chatForm.requestSubmit === 'function') el.chatForm.requestSubmit();
    else el.chatForm.dispatchEvent(new Event('submit', { cancelable: true }));
  }
});
el.olderButton.addEventListener('click', loadOlder);
el.copyButton.addEventListener('click', copyInvite);
el.inviteLink.addEventListener('focus', () => el.inviteLink.select());
el.exportButton.addEventListener('click', exportTranscript);
el.endButton.addEventListener('click', endRoom);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && chat.running && !chat.inFlight) {
    clearTimeout(chat.timer);
    poll();
  }
});

init();
