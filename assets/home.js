// home.js: the front page: creates a room (then opens it as host) or jumps to a room by code.

import {
  api, deviceId, rememberedName, rememberName, saveSession, normalizeCode, createKey, rememberCreateKey,
} from './api.js';
import { byId, showFormError, busy } from './ui.js';

const createForm = byId('create-form');
const createError = byId('create-error');
const joinForm = byId('join-form');
const joinError = byId('join-error');
const f = createForm.elements;

f.display_name.value = rememberedName();

// A create link (`/#create=<key>`): the key is kept in this browser for later rooms and taken
// off the address bar, so it is not bookmarked or shared by accident.
const fromLink = /^#create=([A-Za-z0-9_-]{16,128})$/.exec(window.location.hash);
if (fromLink) {
  rememberCreateKey(fromLink[1]);
  window.history.replaceState(null, '', window.location.pathname);
}

const slugField = byId('create-slug-field');
const createRefused = byId('create-refused');
f.standing.addEventListener('change', () => { slugField.hidden = !f.standing.checked; });

/** A number field: undefined when blank, NaN when not a number. */
function numberValue(input) {
  const raw = input.value.trim();
  if (raw === '' && !input.validity.badInput) return undefined;
  return raw === '' ? Number.NaN : Number(raw);
}

/** Reads and checks the create form; returns {body} or {error, input}. */
function readCreateForm() {
  const displayName = f.display_name.value.trim();
  if (!displayName) return { error: 'Enter your name so others know who you are.', input: f.display_name };
  if ([...displayName].length > 50) return { error: 'Your name can be at most 50 characters.', input: f.display_name };

  const body = { display_name: displayName, device_id: deviceId() };

  const name = f.name.value.trim();
  if ([...name].length > 80) return { error: 'The room name can be at most 80 characters.', input: f.name };
  if (name) body.name = name;

  const password = f.password.value;
  if (password) {
    const len = [...password].length;
    if (len < 4 || len > 128) return { error: 'The password must be 4 to 128 characters.', input: f.password };
    body.password = password;
  }

  const max = numberValue(f.max_participants);
  if (max !== undefined) {
    if (!Number.isInteger(max) || max < 2 || max > 10) {
      return { error: 'Max people must be a whole number from 2 to 10.', input: f.max_participants };
    }
    body.max_participants = max;
  }

  const timer = {};
  const minutes = [
    ['work_seconds', f.work_minutes, 'Work'],
    ['short_break_seconds', f.short_minutes, 'Short break'],
    ['long_break_seconds', f.long_minutes, 'Long break'],
  ];
  for (const [key, input, label] of minutes) {
    const m = numberValue(input);
    if (m === undefined) continue;
    if (!Number.isFinite(m) || m < 1 || m > 240) {
      return { error: `${label} must be between 1 and 240 minutes.`, input };
    }
    timer[key] = Math.round(m * 60);
  }
  const every = numberValue(f.long_every);
  if (every !== undefined) {
    if (!Number.isInteger(every) || every < 1 || every > 100) {
      return { error: 'Long break every must be a whole number from 1 to 100.', input: f.long_every };
    }
    timer.long_break_every = every;
  }
  if (f.auto_start.value) timer.auto_start = f.auto_start.value === 'true';
  if (Object.keys(timer).length) body.timer = timer;

  if (f.standing.checked) {
    body.standing = true;
    const slug = f.slug.value.trim().toLowerCase().replace(/[\s_]+/g, '-');
    if (slug) {
      if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,39}$/.test(slug)) {
        return { error: 'The link must be 3 to 40 letters, digits and single hyphens, like design-team.', input: f.slug };
      }
      body.slug = slug;
    }
  }
  const key = createKey();
  if (key) body.create_key = key;

  return { body };
}

/** Which input a server validation message is about, so focus can go there. */
function inputForServerMessage(message) {
  // api.js spells field names out ("display_name" arrives as "Display name").
  const m = message.toLowerCase();
  if (m.includes('display name')) return f.display_name;
  if (m.includes('max participants')) return f.max_participants;
  if (m.includes('password')) return f.password;
  if (m.includes('work seconds')) return f.work_minutes;
  if (m.includes('short break')) return f.short_minutes;
  if (m.includes('long break seconds')) return f.long_minutes;
  if (m.includes('long break every')) return f.long_every;
  if (m.startsWith('name')) return f.name;
  if (m.startsWith('slug')) return f.slug;
  return null;
}

createForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const { body, error, input } = readCreateForm();
  if (error) {
    showFormError(createError, error, input);
    return;
  }
  showFormError(createError, '');
  const done = busy(createForm.querySelector('button[type="submit"]'), 'Creating…');
  try {
    const res = await api('POST', '/api/rooms', body);
    rememberName(body.display_name);
    const code = res.room_code;
    if (!saveSession(code, res, body.display_name)) {
      done();
      showFormError(createError, `Room ${code} was created, but this browser blocked session storage, `
        + 'so you would not be signed in as its host. Allow site storage and try again.');
      return;
    }
    const path = res.room.slug ? `/r/${encodeURIComponent(res.room.slug)}` : `/room/${encodeURIComponent(code)}`;
    window.location.assign(path);
  } catch (err) {
    done();
    if (err.code === 'CREATE_NOT_ALLOWED') {
      // A stale create link is forgotten; the page says who can create rooms here.
      if (createKey()) rememberCreateKey(null);
      createRefused.textContent = `${err.message} You can still join a room with its code or link.`;
      createRefused.hidden = false;
      showFormError(createError, '');
      return;
    }
    if (err.code === 'SLUG_TAKEN') {
      showFormError(createError, err.message, f.slug);
      return;
    }
    const message = err.code === 'RATE_LIMITED' && err.retryAfter
      ? `You're creating rooms too quickly. Try again in ${err.retryAfter} s.`
      : err.message;
    showFormError(createError, message, err.code === 'VALIDATION' ? inputForServerMessage(err.message) : null);
  }
});

joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = joinForm.elements.code;
  const raw = input.value.trim();
  if (!raw) {
    showFormError(joinError, 'Enter the 6-character room code you were given.', input);
    return;
  }
  const code = normalizeCode(raw);
  if (!code) {
    const hint = /[01IOL]/i.test(raw.replace(/^.*\/room\//i, ''))
      ? ' Codes never contain 0, O, 1, I or L; check for a look-alike character.'
      : '';
    showFormError(joinError, `That doesn't look like a room code: it should be 6 letters and digits.${hint}`, input);
    return;
  }
  showFormError(joinError, '');
  window.location.assign(`/room/${code}`);
});
