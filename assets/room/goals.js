// room/goals.js: the co-working ritual on the shared timer: everyone's goal for the current
// work block (or, during a break, the next one) under their tile and in People, the form to
// set, change, clear or carry over one's own, and the check-in card shown when a block with a
// goal ends (done / partly / not done, with an optional note). The server numbers the blocks
// (`timer.block`) and asks each goal's owner once (`check-in-requested`); a card left
// unanswered goes away when the next work block starts and is not shown again. The Today
// panel shows the room's day in this browser's time zone (blocks, goals, check-ins, streaks).

import { CLIENT } from '../events.js';
import { read, write } from '../api.js';
import { renderCall } from './calls.js';
import { authed, request } from './live.js';
import { renderParticipants } from './people.js';
import { el, flash, live, setText, state } from './shared.js';

export const goals = {
  /** The block the goals below are for (the timer's `block`), and participant_id → goal. */
  block: null,
  byId: new Map(),
  /** The ended goal whose check-in card is shown (or waiting to be). */
  asked: null,
  /** This tab's last goal text, offered as "carry over" when the next block has none. */
  last: '',
  saving: false,
};

const lastKey = () => `flowsync:last-goal:${state.code}`;

/** The goal of one participant for the current block (its text), or ''. */
export function goalOf(id) {
  return goals.byId.get(id)?.text || '';
}

/** The snapshot: the current block's goals and, during a break, our unanswered check-in. */
export function onSnapshot(d) {
  goals.block = d.timer && typeof d.timer.block === 'number' ? d.timer.block : null;
  goals.byId = new Map((Array.isArray(d.goals) ? d.goals : []).map((g) => [g.participant_id, g]));
  goals.last = read(sessionStorage, lastKey()) || '';
  const mine = goals.byId.get(live.selfId);
  if (mine) remember(mine.text);
  if (d.check_in && d.check_in.participant_id === live.selfId) ask(d.check_in, false);
  else if (goals.asked && !(d.timer && d.timer.phase !== 'work')) hideCheckIn();
  renderGoals();
  loadToday();
}

/** A timer update: a new block number means a fresh set of goals (the last ones ended). */
export function onTimer(t) {
  if (!t || typeof t.block !== 'number') return;
  if (goals.block !== null && t.block !== goals.block) {
    const mine = goals.byId.get(live.selfId);
    goals.byId = new Map();
    // The ended goal leaves the form too (unless it is being edited into something else).
    if (mine && el.goalInput.value.trim() === mine.text) el.goalInput.value = '';
    scheduleToday();
  }
  goals.block = t.block;
  // Whoever did not answer is not asked again once the next work block runs.
  if (goals.asked && t.phase === 'work' && t.status === 'running') hideCheckIn();
  renderGoals();
}

export function onGoalUpdated(d) {
  if (!d || typeof d.participant_id !== 'string') return;
  if (d.block !== goals.block) {
    // An ended block's check-in: the chat line tells it; the day's record counts it.
    if (d.goal && d.goal.outcome) scheduleToday();
    return;
  }
  scheduleToday();
  if (d.goal) goals.byId.set(d.participant_id, d.goal);
  else goals.byId.delete(d.participant_id);
  if (d.participant_id === live.selfId && d.goal) remember(d.goal.text);
  renderGoals();
}

export function onCheckInRequested(d) {
  if (!d || !d.goal || d.goal.participant_id !== live.selfId) return;
  ask(d.goal, true);
}

function remember(text) {
  goals.last = text;
  write(sessionStorage, lastKey(), text);
}

/** Everything that shows goals: the form, the tiles (through the stage) and People. */
export function renderGoals() {
  const t = live.timer;
  const breakNow = !!t && t.phase !== 'work';
  const mine = goals.byId.get(live.selfId);
  setText(el.goalLabel, breakNow ? 'Your goal for the next work block' : 'Your goal for this work block');
  if (mine && document.activeElement !== el.goalInput && !goals.saving) el.goalInput.value = mine.text;
  el.goalClear.hidden = !mine;
  setText(el.goalSave, mine ? 'Change' : 'Set goal');
  const carry = !mine && goals.last && !goals.asked;
  el.goalCarry.hidden = !carry;
  if (carry) setText(el.goalCarryText, goals.last);
  renderParticipants();
  renderCall();
}

export async function submitGoal(event) {
  event.preventDefault();
  const text = el.goalInput.value.trim();
  if (!text) {
    if (goals.byId.has(live.selfId)) await clearGoal();
    else el.goalError.textContent = 'Write a goal first (one line, up to 120 characters).';
    return;
  }
  await setGoal(text, el.goalSave);
}

async function setGoal(text, button) {
  el.goalError.textContent = '';
  goals.saving = true;
  button.disabled = true;
  try {
    const ack = await request(CLIENT.SET_GOAL, { text });
    onGoalUpdated({ participant_id: live.selfId, block: ack.goal.block, goal: ack.goal });
    flash(el.goalStatus, 'Goal set: everyone sees it beside your name.');
  } catch (err) {
    el.goalError.textContent = `Couldn't set your goal: ${err.message}`;
  } finally {
    goals.saving = false;
    button.disabled = false;
    renderGoals();
  }
}

export async function clearGoal() {
  el.goalError.textContent = '';
  el.goalClear.disabled = true;
  try {
    await request(CLIENT.CLEAR_GOAL, {});
    onGoalUpdated({ participant_id: live.selfId, block: goals.block, goal: null });
    // A goal cleared on purpose is not offered again as "carry over".
    remember('');
    el.goalInput.value = '';
    flash(el.goalStatus, 'Goal cleared.');
  } catch (err) {
    el.goalError.textContent = `Couldn't clear your goal: ${err.message}`;
  } finally {
    el.goalClear.disabled = false;
    renderGoals();
  }
}

export function carryOver() {
  if (goals.last) setGoal(goals.last, el.goalCarry);
}

// ---- the check-in card ---------------------------------------------------------------------

function ask(goal, news) {
  goals.asked = goal;
  remember(goal.text);
  setText(el.checkinGoal, goal.text);
  el.checkinNote.value = '';
  el.checkinError.textContent = '';
  el.checkinCard.hidden = false;
  if (news) {
    // Non-blocking: focus stays where it was; the card is in the stage, and screen readers
    // hear the question.
    setText(el.checkinAnnounce, `Work block done. Check in on your goal: ${goal.text}. Done, partly or not done?`);
  }
  renderGoals();
}

export function hideCheckIn() {
  goals.asked = null;
  el.checkinCard.hidden = true;
  renderGoals();
}

export async function answerCheckIn(event) {
  const button = event.target.closest('button[data-outcome]');
  if (!button || !goals.asked) return;
  const asked = goals.asked;
  const note = el.checkinNote.value.trim();
  el.checkinError.textContent = '';
  for (const b of el.checkinOutcomes.querySelectorAll('button')) b.disabled = true;
  try {
    await request(CLIENT.CHECK_IN, { block: asked.block, outcome: button.dataset.outcome, ...(note ? { note } : {}) });
    if (button.dataset.outcome === 'done') remember('');
    hideCheckIn();
    const words = { done: 'done', partly: 'partly done', not_done: 'not done' }[button.dataset.outcome];
    flash(el.goalStatus, `Checked in: ${words}.${button.dataset.outcome === 'done' ? '' : ' Carry it over to the next block from here.'}`, 10000);
  } catch (err) {
    el.checkinError.textContent = `Couldn't check in: ${err.message}`;
  } finally {
    for (const b of el.checkinOutcomes.querySelectorAll('button')) b.disabled = false;
  }
}

// ---- the Today panel -----------------------------------------------------------------------

const MARKS = { done: '✓', partly: '≈', not_done: '✗' };

/** This browser's date (YYYY-MM-DD) and UTC offset in minutes east. */
export function localDay(now = new Date()) {
  const pad = (n) => String(n).padStart(2, '0');
  return {
    date: `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`,
    offset: -now.getTimezoneOffset(),
  };
}

let todayRun = 0;
let todayTimer = null;

/** Reloads the day's record soon: several changes in a row (everyone checking in) load it once. */
export function scheduleToday() {
  clearTimeout(todayTimer);
  todayTimer = setTimeout(loadToday, 800);
}

export async function loadToday() {
  clearTimeout(todayTimer);
  if (!state.session) return;
  const run = ++todayRun;
  const { date, offset } = localDay();
  try {
    const r = await authed('GET', `/api/rooms/${state.code}/record?date=${date}&utc_offset=${offset}`);
    if (run !== todayRun) return;
    el.todayError.textContent = '';
    renderToday(r);
  } catch (err) {
    if (run === todayRun && !err.handled) el.todayError.textContent = `Couldn't load today's record: ${err.message}`;
  }
}

export function renderToday(r) {
  const nothing = !r.tally.blocks && !r.tally.goals;
  setText(el.todaySummary, nothing ? 'no work blocks yet' : r.summary);
  el.todayGoals.replaceChildren(...r.goals.map((g) => {
    const li = document.createElement('li');
    const mark = document.createElement('span');
    mark.className = 'today-mark';
    mark.dataset.outcome = g.outcome || (g.ended ? 'none' : 'open');
    mark.textContent = MARKS[g.outcome] || '·';
    mark.setAttribute('aria-label', g.outcome ? g.outcome.replace('_', ' ') : (g.ended ? 'no check-in' : 'in progress'));
    const who = document.createElement('strong');
    who.textContent = g.display_name;
    li.append(mark, ' ', who, ` ${g.text}${g.note ? ` — ${g.note}` : ''}`);
    return li;
  }));
  el.todayStreaks.hidden = !r.streaks.length;
  setText(el.todayStreaks, r.streaks.length
    ? `Streaks: ${r.streaks.map((s) => `${s.name} ${s.days} ${s.days === 1 ? 'day' : 'days'}`).join(', ')}` : '');
}
