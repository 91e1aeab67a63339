// room/chat.js: the chat: history over REST (with gaps closed after a reconnect), new lines
// live, sending with resend after a dropped connection, links and emoji-only lines, the unread
// count on the Chat tab and in the tab title, and the emoji picker.

import { CLIENT } from '../events.js';
import { sentence } from '../api.js';
import { EMOJI, canDrawEmoji } from '../emoji.js';
import { busy, showFormError } from '../ui.js';
import { authed, request } from './live.js';
import { MAX_GAP_PAGES, RETRY_MS, chat, el, live, panels, setText, state } from './shared.js';
import { renderTitle } from './timer-ui.js';
import { chatIsQuiet, focus } from './focus.js';

// ---- chat ------------------------------------------------------------------------------------

export function formatTime(iso) {
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
export function withLinks(text) {
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
export function isEmojiOnly(text) {
  return [...text].length <= 16 && /\p{Extended_Pictographic}/u.test(text)
    && /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Emoji_Component}|\u200d|\ufe0f|\s)+$/u.test(text);
}

export function renderMessage(m) {
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
export function insertMessage(m) {
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

export function nearBottom() {
  const s = el.scroll;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

export function scrollToBottom() {
  el.scroll.scrollTop = el.scroll.scrollHeight;
}

export function updateOlderButton() {
  el.olderButton.hidden = chat.nextBefore === null || chat.nextBefore === undefined;
}

export function messagesPath(before) {
  const base = `/api/rooms/${state.code}/messages`;
  return before ? `${base}?before=${encodeURIComponent(before)}` : base;
}

export function resetChat() {
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
export async function loadChat() {
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

export function onChatMessage(m) {
  if (!m || typeof m.id !== 'number') return;
  const stick = nearBottom() || m.sender_id === live.selfId;
  const fresh = !chat.rendered.has(m.id);
  insertMessage(m);
  if (stick) scrollToBottom();
  if (fresh && m.sender_id !== live.selfId && !(chatVisible() && nearBottom())) {
    // A quiet work block: the line is there, its count waits for the break.
    if (chatIsQuiet()) {
      focus.quiet += 1;
    } else {
      chat.unread += 1;
      renderUnread();
    }
  }
}

export async function loadOlder() {
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
export const RESEND_CODES = new Set(['TIMEOUT', 'OFFLINE', 'UNAVAILABLE']);

/** A random id for a chat line (crypto.randomUUID needs a secure context; this does not). */
export function clientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Sends the lines still waiting for an acknowledgement (after the room is joined again). */
export async function flushOutbox() {
  for (const [id, line] of [...chat.outbox]) {
    try {
      const ack = await request(CLIENT.CHAT_MESSAGE, line);
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

export async function sendMessage(event) {
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
    const ack = await request(CLIENT.CHAT_MESSAGE, line);
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

// ---- chat panel, unread badge and emoji -----------------------------------------------------

/** Chat is read when its panel is on screen in a visible tab. */
export function chatVisible() {
  return panels.showing('chat') && !document.hidden;
}

/** Unread chat: a count on the Chat tab and in the tab title ("(3) Room · FlowSync"). */
export function renderUnread() {
  const n = chat.unread;
  const shown = n > 99 ? '99+' : String(n);
  el.unread.hidden = n === 0;
  setText(el.unread, shown);
  el.tabChat.setAttribute('aria-label', n ? `Chat, ${n} unread` : 'Chat');
  renderTitle();
}

export function markRead() {
  if (chat.unread && chatVisible() && nearBottom()) {
    chat.unread = 0;
    renderUnread();
  }
}

/** Shows the chat (its tab on a phone) and puts the cursor in the message field. */
export function openChat() {
  panels.show('chat');
  el.chatInput.focus();
}

/** A panel came into view: chat on screen is read; People shows the hands queue. */
export function onPanelChange() {
  if (panels.showing('chat')) {
    scrollToBottom();
    markRead();
  }
}

/** The emoji picker: the glyphs, or their names where the system has no emoji font. */
export function buildEmojiPanel() {
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

export function setEmojiOpen(open) {
  el.emojiPanel.hidden = !open;
  el.emojiButton.setAttribute('aria-expanded', String(open));
  if (open) el.emojiPanel.querySelector('button')?.focus();
}

export function insertEmoji(ch) {
  const input = el.chatInput;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? input.value.length;
  input.value = input.value.slice(0, start) + ch + input.value.slice(end);
  const at = start + ch.length;
  input.focus();
  input.setSelectionRange(at, at);
}
