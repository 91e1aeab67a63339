// room/focus.js: the room's focus rules and everyone's status. The rules are the room's
// (`room.timer.focus`, changed by the host) and each page applies them itself from the shared
// timer: the microphone muted when a work block starts (unmuting is up to each person, and
// nobody is told who did), chat kept quiet during work (lines arrive, but the unread count
// waits for the break), and a banner with the time left during breaks. A status shows on each
// tile and in People: the timer's (focusing, on break) unless someone picks one; a page whose
// tab stays hidden through a whole work block shows "away" until it is looked at again.

import { CLIENT } from '../events.js';
import { formatMs, remainingMs } from '../timer.js';
import { renderCall } from './calls.js';
import { renderUnread } from './chat.js';
import { request } from './live.js';
import { renderParticipants } from './people.js';
import { chat, el, flash, live, media, setText, state } from './shared.js';

export const STATUS_WORDS = { focusing: 'Focusing', on_break: 'On break', away: 'Away' };

export const focus = {
  /** Lines that arrived while chat was quiet, shown as unread at the break. */
  quiet: 0,
  /** The tab was hidden when the current work block started (and has stayed hidden). */
  hiddenAtStart: false,
  /** This page set "away" by itself, and the status to go back to. */
  autoAway: false,
  before: 'auto',
};

/** The room's rules (the shipped defaults for a room that has none). */
export function rules() {
  const f = state.room && state.room.timer && state.room.timer.focus;
  return { mute_at_work_start: false, quiet_chat: false, break_banner: true, ...(f || {}) };
}

const working = (t = live.timer) => !!t && t.phase === 'work' && t.status === 'running';
const onBreak = (t = live.timer) => !!t && t.phase !== 'work' && t.status !== 'idle';

/** What a participant shows: their pick, or the timer's phase; '' when the timer is idle. */
export function statusOf(p) {
  if (p && p.status && p.status !== 'auto') return p.status;
  if (working()) return 'focusing';
  if (onBreak()) return 'on_break';
  return '';
}

/** The rules as the room's facts say them (lobby and room), so newcomers know them. */
export function rulesText(room) {
  const f = room && room.timer && room.timer.focus;
  if (!f) return '';
  const parts = [];
  if (f.mute_at_work_start) parts.push('microphones are muted when a work block starts');
  if (f.quiet_chat) parts.push('chat is quiet during work (no unread count until the break)');
  if (f.break_banner) parts.push('a banner shows the break');
  return parts.length ? `Focus rules: ${parts.join('; ')}.` : 'Focus rules: none.';
}

/** A timer update: apply the rules at a work block's start and at the break. */
export function onTimer(t, fromEvent) {
  const r = rules();
  const startedWork = fromEvent && working(t) && ['started', 'completed', 'skipped'].includes(t.reason);
  if (startedWork) {
    focus.hiddenAtStart = document.hidden;
    if (r.mute_at_work_start && media.audioOn) {
      media.setAudio(false);
      flash(el.roomStatus, 'Work block started: your microphone is muted (a focus rule of this room). Press M to unmute.', 10000);
    }
  }
  if (fromEvent && !working(t)) {
    // A block ended: someone whose tab stayed hidden all through it is away.
    if (t.reason === 'completed' && focus.hiddenAtStart && document.hidden) setAway();
    focus.hiddenAtStart = false;
    if (focus.quiet) {
      const n = focus.quiet;
      focus.quiet = 0;
      chat.unread += n;
      renderUnread();
      flash(el.roomStatus, `${n} chat ${n === 1 ? 'message' : 'messages'} arrived during the work block.`, 10000);
    }
  }
  renderFocus();
}

/** Whether a chat line arriving now should wait for the break to be counted. */
export function chatIsQuiet() {
  return rules().quiet_chat && working();
}

/** The banner over the stage during breaks (redrawn with the clock). */
export function renderBanner() {
  const t = live.timer;
  const show = rules().break_banner && onBreak(t) && !el.room.hidden;
  el.breakBanner.hidden = !show;
  if (!show) return;
  const left = formatMs(remainingMs(t, live.offset, Date.now()));
  const kind = t.phase === 'long_break' ? 'Long break' : 'Break';
  setText(el.breakBanner, `${kind} — ${left}${rules().mute_at_work_start ? ', you may unmute' : ''}`);
}

/** The status picker, the host's rule switches, tiles and People. */
export function renderFocus() {
  const me = live.participants.get(live.selfId);
  const mine = (me && me.status) || 'auto';
  if (el.statusSelect.value !== mine) el.statusSelect.value = mine;
  const r = rules();
  el.focusMute.checked = r.mute_at_work_start;
  el.focusQuiet.checked = r.quiet_chat;
  el.focusBanner.checked = r.break_banner;
  renderBanner();
  renderParticipants();
  renderCall();
}

export function onStatusChanged(d) {
  const p = d && live.participants.get(d.participant_id);
  if (!p) return;
  p.status = d.status;
  renderFocus();
}

async function sendStatus(status) {
  await request(CLIENT.SET_STATUS, { status });
  onStatusChanged({ participant_id: live.selfId, status });
}

export async function pickStatus() {
  const status = el.statusSelect.value;
  focus.autoAway = false;
  try {
    await sendStatus(status);
    flash(el.goalStatus, `Your status: ${STATUS_WORDS[status] || 'follows the timer'}.`);
  } catch (err) {
    el.goalError.textContent = `Couldn't change your status: ${err.message}`;
    renderFocus();
  }
}

function setAway() {
  const me = live.participants.get(live.selfId);
  if (me && me.status === 'away') return;
  focus.before = (me && me.status) || 'auto';
  focus.autoAway = true;
  sendStatus('away').catch(() => { focus.autoAway = false; });
}

/** Back on the page: an "away" this page set by itself is taken back. */
export function onVisibility() {
  if (document.hidden) return;
  if (focus.autoAway) {
    focus.autoAway = false;
    sendStatus(focus.before).catch(() => {});
  }
}

/** The host switches a rule: every page applies the room's new rules. */
export async function changeRule(event) {
  const box = event.target;
  const key = { 'focus-mute': 'mute_at_work_start', 'focus-quiet': 'quiet_chat', 'focus-banner': 'break_banner' }[box.id];
  if (!key) return;
  box.disabled = true;
  try {
    await request(CLIENT.SET_FOCUS_POLICY, { [key]: box.checked });
    flash(el.hostToolsStatus, 'Focus rules changed for everyone in the room.');
  } catch (err) {
    box.checked = !box.checked;
    flash(el.hostToolsStatus, `Couldn't change the focus rules: ${err.message}`, 10000);
  } finally {
    box.disabled = false;
  }
}
