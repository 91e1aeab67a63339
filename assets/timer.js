// The shared timer arithmetic: clock-offset estimation against the server and the remaining
// time of a phase. The room page renders with it, and the protocol tests import this very file,
// so what is tested is what users run. No DOM; its one import is the event names.

import { CLIENT } from './events.js';

/**
 * One clock sample: the client sent at `sent`, received the answer at `received` (both client
 * milliseconds) and the server said `server` (server milliseconds) in between.
 * The offset is server − client at the midpoint; the sample with the shortest round trip wins,
 * since its midpoint is the least uncertain.
 * @param {{sent:number, received:number, server:number}[]} samples
 * @returns {{offset:number, rtt:number}}
 */
export function estimateOffset(samples) {
  if (!samples.length) throw new Error("no clock samples");
  let best = null;
  for (const s of samples) {
    const rtt = s.received - s.sent;
    const offset = s.server - (s.sent + rtt / 2);
    if (!best || rtt < best.rtt) best = { offset, rtt };
  }
  return best;
}

/**
 * Measures the offset over `rounds` `clock` round trips on a connected socket.io socket.
 * @param {{emit: Function}} socket
 * @param {() => number} now client clock (defaults to Date.now)
 */
export async function measureOffset(socket, rounds = 5, now = () => Date.now()) {
  const samples = [];
  for (let i = 0; i < rounds; i++) {
    const sent = now();
    const ack = await new Promise((resolve) => socket.emit(CLIENT.CLOCK, { client_time: sent }, resolve));
    if (!ack || !ack.ok) throw new Error(`clock failed: ${JSON.stringify(ack)}`);
    samples.push({ sent, received: now(), server: ack.server_time });
  }
  return estimateOffset(samples);
}

/**
 * Milliseconds left in the current phase, as this client should display it.
 * @param {{status:string, ends_at:number|null, remaining_ms:number}} timer a timer-update payload
 * @param {number} offset server − client milliseconds (from estimateOffset)
 * @param {number} clientNow the client's clock
 */
export function remainingMs(timer, offset, clientNow = Date.now()) {
  if (timer.status === "running" && typeof timer.ends_at === "number") {
    return Math.max(0, timer.ends_at - (clientNow + offset));
  }
  return Math.max(0, timer.remaining_ms);
}

/** `mm:ss` for a number of milliseconds (rounded up, so 0:00 shows only at the end). */
export function formatMs(ms) {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}
