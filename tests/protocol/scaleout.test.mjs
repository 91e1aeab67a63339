// Scale-out: two flowsync instances sharing one PostgreSQL database and one Redis behave as one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

import { BIN, api, call, createRoom, enter, joinRoom, next, quiet, refused, startServer } from "./harness.mjs";

const PG_ADMIN = process.env.FLOWSYNC_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS = process.env.FLOWSYNC_TEST_REDIS_URL || "redis://127.0.0.1:6379/?protocol=resp3";

let a, b;
before(async () => {
  const suffix = randomBytes(6).toString("hex");
  const db = `fst_${suffix}`;
  execFileSync("psql", [PG_ADMIN, "-qc", `CREATE DATABASE ${db}`]);
  const env = {
    FLOWSYNC_DATABASE__URL: PG_ADMIN.replace(/\/[^/]*$/, `/${db}`),
    FLOWSYNC_REDIS__URL: REDIS,
    FLOWSYNC_REDIS__KEY_PREFIX: `fstest:${suffix}:`,
  };
  a = await startServer({ env });
  b = await startServer({ env });
});
after(async () => {
  await a?.stop();
  await b?.stop();
});

test("participants on different instances see, call and chat with each other", async () => {
  const host = await createRoom(a, { name: "Across", timer: { work_seconds: 1, short_break_seconds: 1, long_break_seconds: 1, long_break_every: 4 } });
  const guest = await joinRoom(b, host.room_code, { display_name: "Remote" });
  const h = await enter(a, host.token);
  const g = await enter(b, guest.token);
  assert.deepEqual(g.joined.participants.map((p) => p.participant_id), [host.participant_id, guest.participant_id]);
  assert.equal((await next(h.socket, "user-joined")).participant_id, guest.participant_id);

  // Relay crosses instances; it still reaches only the addressed participant.
  assert.equal((await call(h.socket, "offer", { to: guest.participant_id, offer: { type: "offer", sdp: "v=0" } })).ok, true);
  assert.equal((await next(g.socket, "offer")).from, host.participant_id);
  assert.equal((await call(g.socket, "answer", { to: host.participant_id, answer: { type: "answer", sdp: "v=0" } })).ok, true);
  assert.equal((await next(h.socket, "answer")).from, guest.participant_id);

  // Between two sockets of one instance the relay goes straight to the socket instead of
  // through Redis: it still arrives exactly once, and only at the addressee.
  const mate = await joinRoom(a, host.room_code, { display_name: "Local" });
  const m = await enter(a, mate.token);
  await next(h.socket, "user-joined", (p) => p.participant_id === mate.participant_id);
  const offersAtGuest = g.socket.received.filter((r) => r.event === "offer").length;
  assert.equal((await call(h.socket, "offer", { to: mate.participant_id, offer: { type: "offer", sdp: "v=0" } })).ok, true);
  assert.equal((await next(m.socket, "offer")).from, host.participant_id);
  assert.ok(await quiet(m.socket, "offer", 300), "the same-instance relay arrives once");
  assert.equal(g.socket.received.filter((r) => r.event === "offer").length, offersAtGuest, "nobody else gets it");

  // Chat and hands reach the other instance.
  assert.equal((await call(g.socket, "chat-message", { message: "hi from b" })).ok, true);
  assert.equal((await next(h.socket, "chat-message", (m) => m.type === "text")).message, "hi from b");
  assert.equal((await call(h.socket, "raise-hand", { raised: true })).ok, true);
  assert.equal((await next(g.socket, "hand-raised")).participant_id, host.participant_id);

  // One presenter across instances.
  assert.equal((await call(g.socket, "start-presenting")).ok, true);
  assert.equal((await next(h.socket, "presenter-changed")).presenter_id, guest.participant_id);
  assert.equal((await call(h.socket, "start-presenting")).error.code, "PRESENTER_EXISTS");

  // The timer: each phase end is announced exactly once to everyone.
  assert.equal((await call(h.socket, "start-timer", {})).ok, true);
  await next(g.socket, "timer-update", (t) => t.reason === "completed", 4000);
  await next(g.socket, "timer-update", (t) => t.reason === "completed", 4000);
  const completed = g.socket.received.filter((r) => r.event === "timer-update" && r.data.reason === "completed");
  const phases = completed.map((r) => `${r.data.phase}/${r.data.completed_pomodoros}`);
  assert.equal(new Set(phases).size, phases.length, `no duplicate completions: ${phases}`);
  assert.equal((await call(h.socket, "pause-timer")).ok, true);

  // A kick from instance A reaches a socket on instance B.
  const kicked = next(g.socket, "kicked");
  assert.equal((await call(h.socket, "kick-participant", { participant_id: guest.participant_id })).ok, true);
  await kicked;
  assert.match((await refused(b, guest.token)).message, /^KICKED/);
  assert.equal((await next(h.socket, "user-left")).participant_id, guest.participant_id);
  assert.ok(await quiet(h.socket, "user-left", 300), "the departure is announced once");
  h.socket.close();
  g.socket.close();
  m.socket.close();
});

test("goals, check-ins and status are shared across instances; a block ends once for both", async () => {
  const host = await createRoom(a, { timer: { work_seconds: 1, short_break_seconds: 600, long_break_every: 4 } });
  const guest = await joinRoom(b, host.room_code, { display_name: "Remote" });
  const h = await enter(a, host.token);
  const g = await enter(b, guest.token);
  try {
    assert.equal((await call(g.socket, "set-goal", { text: "Ship the release" })).ok, true);
    assert.equal((await next(h.socket, "goal-updated")).goal.text, "Ship the release");
    const late = await enter(a, (await joinRoom(a, host.room_code, { display_name: "Late" })).token);
    assert.deepEqual(late.joined.goals.map((x) => x.text), ["Ship the release"]);
    late.socket.close();

    // Both instances poll the timer; the block ends, and its owner is asked, exactly once.
    assert.equal((await call(h.socket, "start-timer", {})).ok, true);
    const req = await next(g.socket, "check-in-requested", () => true, 5000);
    assert.deepEqual([req.block, req.goal.text], [0, "Ship the release"]);
    assert.ok(await quiet(g.socket, "check-in-requested", 500));
    assert.equal(g.socket.received.filter((r) => r.event === "check-in-requested").length, 1);
    assert.equal((await call(g.socket, "check-in", { block: 0, outcome: "done" })).ok, true);
    // A status set on one instance is seen on the other, and by a later joiner there.
    assert.equal((await call(g.socket, "set-status", { status: "away" })).ok, true);
    assert.equal((await next(h.socket, "status-changed")).status, "away");
    const later = await enter(a, (await joinRoom(a, host.room_code, { display_name: "Later" })).token);
    assert.equal(later.joined.participants.find((p) => p.participant_id === guest.participant_id).status, "away");
    later.socket.close();
    const line = await next(h.socket, "chat-message", (m) => m.type === "system" && m.message.includes("✓"));
    assert.equal(line.message, "Remote ✓ Ship the release");
  } finally {
    h.socket.close();
    g.socket.close();
  }
});

test("a crashed instance's participants are reaped after the grace; their seats free up", async () => {
  const c = await startServer({ env: a.env });
  const host = await createRoom(a, { max_participants: 2 });
  const lost = await joinRoom(c, host.room_code, { display_name: "Lost" });
  const h = await enter(a, host.token);
  const l = await enter(c, lost.token);
  assert.equal((await next(h.socket, "user-joined")).participant_id, lost.participant_id);
  l.socket.io.opts.reconnection = false;
  c.child.kill("SIGKILL");
  await new Promise((r) => c.child.once("exit", r));
  // Heartbeat lapses (15 s), then the 2 s grace, then the reaper (every 10 s) departs it.
  const left = await next(h.socket, "user-left", () => true, 45000).catch((e) => {
    console.log([...a.log, ...b.log].filter((l) => /reap|presence|WARN|ERROR/.test(l)).join("\n"));
    throw e;
  });
  assert.equal(left.participant_id, lost.participant_id);
  // Its seat is free again: someone else can take it.
  const again = await joinRoom(a, host.room_code, { display_name: "Next" });
  assert.ok(again.token);
  h.socket.close();
  await c.stop();
});

test("two instances: one create link, a hostless room gets one host from either side", async () => {
  const suffix = randomBytes(6).toString("hex");
  const db = `fst_${suffix}`;
  execFileSync("psql", [PG_ADMIN, "-qc", `CREATE DATABASE ${db}`]);
  const env = {
    FLOWSYNC_DATABASE__URL: PG_ADMIN.replace(/\/[^/]*$/, `/${db}`),
    FLOWSYNC_REDIS__URL: REDIS,
    FLOWSYNC_REDIS__KEY_PREFIX: `fstest:${suffix}:`,
    FLOWSYNC_ROOMS__CREATE_POLICY: "link",
  };
  const x = await startServer({ env });
  const y = await startServer({ env });
  try {
    // The create link is the team's, whichever instance answers; rotating it stops it on both.
    const cli = (...args) => {
      const childEnv = { ...process.env, ...env };
      for (const k of Object.keys(childEnv)) if (k.startsWith("FLOWSYNC_TEST") || k === "FLOWSYNC_BIN") delete childEnv[k];
      return JSON.parse(execFileSync(BIN, [...args, "--json"], { env: childEnv, encoding: "utf8" }));
    };
    const key = cli("rooms", "create-link").create_link.split("#create=")[1];
    const made = await api(x, "POST", "/api/rooms", { display_name: "Ada", create_key: key });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const rotated = cli("rooms", "create-link", "--rotate").create_link.split("#create=")[1];
    for (const [server, k, want] of [[x, key, 403], [y, key, 403], [y, rotated, 201]]) {
      const r = await api(server, "POST", "/api/rooms", { display_name: "Bo", create_key: k });
      assert.equal(r.status, want, JSON.stringify(r.body));
    }

    // The host leaves alone on x; Cy on x and Dee on y arrive together: exactly one is host.
    const h = await enter(x, made.body.token);
    assert.equal((await call(h.socket, "leave-room", {})).ok, true);
    const cy = await joinRoom(x, made.body.room_code, { display_name: "Cy" });
    const dee = await joinRoom(y, made.body.room_code, { display_name: "Dee" });
    const [c, d] = await Promise.all([enter(x, cy.token), enter(y, dee.token)]);
    // One of them is host: only one may run the timer, and the other hears who.
    const calls = await Promise.all([call(c.socket, "start-timer", {}), call(d.socket, "start-timer", {})]);
    assert.equal(calls.filter((r) => r.ok).length, 1, JSON.stringify(calls));
    const [winner, other] = calls[0].ok ? [cy, d] : [dee, c];
    assert.notEqual(other.joined.self.role, "host");
    // Told by host-changed, or (when that went out before it joined) by its snapshot.
    const inSnapshot = other.joined.participants.some((p) => p.participant_id === winner.participant_id && p.role === "host");
    if (!inSnapshot) await next(other.socket, "host-changed", (h) => h.participant_id === winner.participant_id);
    c.socket.close();
    d.socket.close();
  } finally {
    await x.stop();
    await y.stop();
  }
});
