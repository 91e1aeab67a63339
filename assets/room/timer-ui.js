// room/timer-ui.js: the shared timer as the page shows it: clock-offset measurement, the
// timer card and the header's mini clock, the host's timer commands, and the chime and
// notification when a phase ends (and the page's one AudioContext, shared with hand sounds).

import { tones } from '../sound.js';
import { formatMs, measureOffset, remainingMs } from '../timer.js';
import { busy } from '../ui.js';
import { onTimer as focusOnTimer, renderBanner } from './focus.js';
import { onTimer } from './goals.js';
import { request } from './live.js';
import { CLOCK_RESYNC_MS, CLOCK_ROUNDS, chat, el, live, setText, state } from './shared.js';

// ---- timer -----------------------------------------------------------------------------------

export const PHASES = { work: 'Work', short_break: 'Short break', long_break: 'Long break' };
export const STATUSES = { idle: 'Not started', running: 'Running', paused: 'Paused' };

export function phaseName(phase) {
  return PHASES[phase] || 'Work';
}

/** Measures the clock offset (several round trips) now and again every few minutes. */
export async function syncClock() {
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
export function announce(text) {
  const node = el.timerAnnounce;
  node.textContent = node.textContent === text ? `${text}\u00a0` : text;
}

/** A new timer state; `fromEvent` when it is news (a `timer-update`), not a snapshot. */
export function setTimer(t, fromEvent) {
  if (!t || typeof t !== 'object') return;
  live.timer = t;
  el.timerError.textContent = '';
  renderTimer();
  onTimer(t);
  focusOnTimer(t, fromEvent);
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

export function completedText(t) {
  const running = t.status === 'running';
  if (t.phase === 'work') {
    return running ? 'Break over: the next work session has started.' : 'Break over: ready for the next work session.';
  }
  const kind = t.phase === 'long_break' ? 'a long break' : 'a short break';
  return running ? `Work session done: ${kind} has started.` : `Work session done: time for ${kind}.`;
}

/** The parts of the timer that change with its state (the clock itself ticks in renderClock). */
export function renderTimer() {
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

export function renderClock() {
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
  renderTitle(text);
  renderBanner();
}

/**
 * The tab title in the room: unread chat first, then the running timer, then the room:
 * "(3) 12:04 Work · Design sync · FlowSync". `clock` is the timer's text when already known.
 */
export function renderTitle(clock) {
  if (!state.room || el.room.hidden) return;
  const n = chat.unread;
  const unread = n ? `(${n > 99 ? '99+' : n}) ` : '';
  const t = live.timer;
  const running = t && t.status === 'running'
    ? `${clock ?? formatMs(remainingMs(t, live.offset, Date.now()))} ${phaseName(t.phase)} · ` : '';
  const title = `${unread}${running}${state.room.name} · FlowSync`;
  if (document.title !== title) document.title = title;
}

export async function timerCommand(event, button, label) {
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

export let audioCtx = null;

/** The page's AudioContext, created (or resumed) on demand; browsers allow sound after a click. */
export function audio() {
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
export function chime() {
  tones(audio(), [[880, 0], [1318.5, 0.22]], { peak: 0.25, length: 0.9 });
}

/** The Notification API, when this browser has one. */
export function notifications() {
  return typeof window.Notification === 'function' ? window.Notification : null;
}

export function renderNotify() {
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

export function askNotify() {
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

export function notify(text) {
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
