// api.js: the one place the pages talk to the FlowSync REST API, plus the small pieces of
// browser state they share (device id, remembered display name, per-room sessions, room codes).

/** Room codes: 6 characters from this alphabet (no 0/O/1/I/L), case-insensitive. */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const CODE_LEN = 6;

/** An API failure: `code` is the server's stable error code, `status` the HTTP status. */
export class ApiError extends Error {
  constructor(code, status, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Messages for failures that carry no server envelope. */
function fallbackMessage(status) {
  if (status === 429) return 'Too many requests; please wait a moment and try again.';
  if (status >= 500) return 'The server had a problem; please try again shortly.';
  return `The request failed (HTTP ${status}).`;
}

/**
 * The server writes lowercase messages for people that may name fields ("display_name must
 * be…", "timer.work_seconds must…"); show them as sentences with the field names spelled out.
 */
export function sentence(text) {
  const t = String(text || '').trim()
    .replace(/\btimer\./g, 'timer ')
    .replace(/\b([a-z]+(?:_[a-z]+)+)\b/g, (id) => id.replace(/_/g, ' '));
  if (!t) return t;
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/**
 * Calls the API. Resolves to the parsed JSON body (or null for 204 No Content); rejects with an
 * ApiError carrying `.code`, `.status` and a readable `.message`.
 */
export async function api(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined && body !== null) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) headers.Authorization = `Bearer ${token}`;

  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError('NETWORK', 0, 'Could not reach the server. Check your connection and try again.');
  }

  if (res.status === 204) return null;
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(
      err.code || `HTTP_${res.status}`,
      res.status,
      err.message ? sentence(err.message) : fallbackMessage(res.status),
      Number.isFinite(retry) ? retry : null,
    );
  }
  if (data === null && text) {
    throw new ApiError('BAD_RESPONSE', res.status, 'The server sent an unexpected response.');
  }
  return data;
}

// ---- storage (guarded: private modes and strict settings can make storage throw) ----------

/** `store.getItem(key)`, or null where storage is blocked. */
export function read(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

/** Sets (or with null removes) `key`; false where storage is blocked. */
export function write(store, key, value) {
  try {
    if (value === null) store.removeItem(key);
    else store.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

const DEVICE_KEY = 'flowsync:device_id';
const CREATE_KEY = 'flowsync:create_key';
const NAME_KEY = 'flowsync:display_name';
const sessionKey = (code) => `flowsync:session:${code}`;

/** 32 random hex characters (works without a secure context, unlike crypto.randomUUID). */
function randomHex() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This browser's stable device id, created on first use; matches [A-Za-z0-9_-]{1,64}. */
export function deviceId() {
  const stored = read(localStorage, DEVICE_KEY);
  if (stored && /^[A-Za-z0-9_-]{1,64}$/.test(stored)) return stored;
  const id = randomHex();
  write(localStorage, DEVICE_KEY, id);
  return id;
}

/** The team's create-link key this browser was given (`/#create=…`), if any. */
export function createKey() {
  return read(localStorage, CREATE_KEY) || '';
}

/** Keeps (or with null forgets) the create-link key. */
export function rememberCreateKey(key) {
  write(localStorage, CREATE_KEY, key);
}

export function rememberedName() {
  return read(localStorage, NAME_KEY) || '';
}

export function rememberName(name) {
  write(localStorage, NAME_KEY, name);
}

/**
 * The session for a room: {token, participant_id, role, room_code, display_name, tab}. It is
 * kept per browser (localStorage), so closing the tab and opening the link again resumes the
 * same participant; `tab` is true when this very tab was in the room (a reload), which enters
 * again without asking. A second tab with the same session replaces the first
 * (`session-replaced`). The token never appears in a URL.
 */
export function loadSession(code) {
  const fromTab = parseSession(read(sessionStorage, sessionKey(code)));
  if (fromTab) return { ...fromTab, tab: true };
  const fromBrowser = parseSession(read(localStorage, sessionKey(code)));
  return fromBrowser ? { ...fromBrowser, tab: false } : null;
}

function parseSession(raw) {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw);
    return s && typeof s.token === 'string' && s.token ? s : null;
  } catch {
    return null;
  }
}

/** Stores a session from a create/join answer; false when the browser refuses storage. */
export function saveSession(code, joined, displayName) {
  const s = JSON.stringify({
    token: joined.token,
    participant_id: joined.participant_id,
    role: joined.role,
    room_code: joined.room_code || code,
    display_name: displayName,
  });
  const inBrowser = write(localStorage, sessionKey(code), s);
  return write(sessionStorage, sessionKey(code), s) || inBrowser;
}

/** Forgets a room's session in this tab and this browser (left, removed, ended, replaced). */
export function clearSession(code) {
  write(sessionStorage, sessionKey(code), null);
  write(localStorage, sessionKey(code), null);
}

// ---- room codes ------------------------------------------------------------------------------

/**
 * Normalises what a person typed or pasted (a code, or an invite link) into a room code, or
 * returns null when it cannot be one.
 */
export function normalizeCode(input) {
  let s = String(input || '').trim();
  const fromLink = s.match(/\/room\/([^/?#\s]+)/i);
  if (fromLink) {
    try {
      s = decodeURIComponent(fromLink[1]);
    } catch {
      return null;
    }
  }
  s = s.replace(/[\s-]/g, '').toUpperCase();
  if (s.length !== CODE_LEN) return null;
  for (const ch of s) if (!CODE_ALPHABET.includes(ch)) return null;
  return s;
}
