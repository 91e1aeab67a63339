// The co-working ritual with the official socket.io client: goals for a work block (set, edit,
// clear, limits and errors, replay to a late joiner), the check-in its owners are asked for
// exactly once when the timer ends the block, answers as chat lines and in the transcript,
// a page reloaded during the break asked again by its own snapshot, status and focus rules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { api, call, createRoom, enter, joinRoom, next, quiet, startServer } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const asked = (s) => s.received.filter((r) => r.event === "check-in-requested");

test("goals: set, edit, clear, limits, errors and replay to a late joiner", async () => {
  const host = await createRoom(server, { name: "Goals", timer: { work_seconds: 600 } });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  try {
    assert.equal(h.joined.timer.block, 0);
    assert.deepEqual(h.joined.goals, []);
    assert.equal(h.joined.check_in, null);

    const set = await call(a.socket, "set-goal", { text: "  Draft the\nintro " });
    assert.equal(set.ok, true);
    assert.equal(set.goal.text, "Draft the intro", "one line, trimmed");
    assert.equal(set.goal.block, 0);
    assert.equal(set.goal.participant_id, ada.participant_id);
    assert.equal(set.goal.display_name, "Ada");
    assert.equal(set.goal.ended, false);
    assert.equal(set.goal.outcome, null);
    const heard = await next(h.socket, "goal-updated", (d) => d.goal?.text === "Draft the intro");
    assert.deepEqual({ ...heard, goal: undefined }, { participant_id: ada.participant_id, block: 0, goal: undefined });

    // Editing replaces it; 120 characters fit, 121 do not.
    const edited = await call(a.socket, "set-goal", { text: "é".repeat(120) });
    assert.equal(edited.goal.text.length, 120);
    await next(h.socket, "goal-updated", (d) => d.goal?.text === "é".repeat(120));
    for (const bad of [{}, { text: "" }, { text: " \u200b " }, { text: "a".repeat(121) }, { text: 5 }, { text: "x", block: 3 }, "text", null]) {
      const r = await call(a.socket, "set-goal", bad);
      assert.equal(r.error?.code, "VALIDATION", JSON.stringify(bad));
    }
    assert.match((await call(a.socket, "set-goal", { text: "a".repeat(121) })).error.message, /121.*120/);
    assert.equal((await call(a.socket, "set-goal", { text: "Outline" })).goal.text, "Outline");

    // A late joiner is told the block's goals.
    const cy = await joinRoom(server, host.room_code, { display_name: "Cy" });
    const c = await enter(server, cy.token);
    assert.deepEqual(c.joined.goals.map((g) => [g.participant_id, g.text, g.block]), [[ada.participant_id, "Outline", 0]]);

    // Check-ins are for ended blocks with a goal.
    const early = await call(a.socket, "check-in", { block: 0, outcome: "done" });
    assert.equal(early.error.code, "VALIDATION");
    assert.match(early.error.message, /has not ended/);
    assert.match((await call(c.socket, "check-in", { block: 0, outcome: "done" })).error.message, /no goal/);
    for (const bad of [{ block: 0, outcome: "maybe" }, { outcome: "done" }, { block: -1, outcome: "done" }, { block: 0, outcome: "done", note: "n".repeat(121) }]) {
      assert.equal((await call(a.socket, "check-in", bad)).error?.code, "VALIDATION", JSON.stringify(bad));
    }

    // Clearing tells everyone once; clearing nothing tells no one.
    assert.deepEqual(await call(a.socket, "clear-goal", {}), { ok: true, cleared: true });
    const gone = await next(c.socket, "goal-updated", (d) => d.goal === null);
    assert.deepEqual(gone, { participant_id: ada.participant_id, block: 0, goal: null });
    assert.deepEqual(await call(a.socket, "clear-goal"), { ok: true, cleared: false });
    assert.ok(await quiet(c.socket, "goal-updated", 200));
    const d = await enter(server, (await joinRoom(server, host.room_code, { display_name: "Di" })).token);
    assert.deepEqual(d.joined.goals, []);
    for (const s of [c, d]) s.socket.close();
  } finally {
    for (const s of [h, a]) s.socket.close();
  }
});

test("the end of a work block asks each goal's owner once; answers become chat lines", async () => {
  const host = await createRoom(server, {
    name: "Rituals",
    timer: { work_seconds: 1, short_break_seconds: 600, long_break_seconds: 600, long_break_every: 4, auto_start: true },
  });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const b = await enter(server, bob.token);
  try {
    // Skipping a work phase that never ran ends no block: the goal waits for the next one.
    assert.equal((await call(a.socket, "set-goal", { text: "Draft the intro" })).ok, true);
    assert.equal((await call(h.socket, "set-goal", { text: "Review PRs" })).ok, true);
    const skipped = await call(h.socket, "skip-timer");
    assert.equal(skipped.timer.block, 0);
    assert.ok(await quiet(a.socket, "check-in-requested", 300));
    assert.equal((await call(h.socket, "start-timer", { phase: "work" })).timer.block, 0);

    // The block runs out: the timer moves to the break and names the next block.
    const done = await next(b.socket, "timer-update", (t) => t.reason === "completed", 5000);
    assert.deepEqual([done.phase, done.block], ["short_break", 1]);
    const askedAda = await next(a.socket, "check-in-requested");
    assert.equal(askedAda.block, 0);
    assert.deepEqual([askedAda.goal.text, askedAda.goal.ended, askedAda.goal.outcome], ["Draft the intro", true, null]);
    assert.equal((await next(h.socket, "check-in-requested")).goal.text, "Review PRs");
    // Exactly once, and only those with a goal.
    assert.ok(await quiet(b.socket, "check-in-requested", 400));
    assert.deepEqual([asked(a.socket).length, asked(h.socket).length, asked(b.socket).length], [1, 1, 0]);

    // A goal set now is for the next block; the ended one can no longer change.
    const nextGoal = await call(b.socket, "set-goal", { text: "Fix the build" });
    assert.equal(nextGoal.goal.block, 1);

    // Ada answers: the room gets a system line and the goal's outcome.
    const answer = await call(a.socket, "check-in", { block: 0, outcome: "partly", note: " half  of it " });
    assert.equal(answer.ok, true);
    assert.deepEqual([answer.goal.outcome, answer.goal.note], ["partly", "half of it"]);
    const line = await next(b.socket, "chat-message", (m) => m.type === "system" && m.message.startsWith("Ada"));
    assert.equal(line.message, "Ada ≈ Draft the intro — half of it");
    await next(b.socket, "goal-updated", (d) => d.block === 0 && d.goal?.outcome === "partly");
    const again = await call(a.socket, "check-in", { block: 0, outcome: "done" });
    assert.equal(again.error.code, "VALIDATION");
    assert.match(again.error.message, /already checked in/);

    // The host reloads during the break: its own snapshot asks again; Ada's does not.
    h.socket.close();
    const h2 = await enter(server, host.token);
    assert.equal(h2.joined.check_in?.text, "Review PRs");
    assert.deepEqual(h2.joined.goals.map((g) => g.text), ["Fix the build"]);
    a.socket.close();
    const a2 = await enter(server, ada.token);
    assert.equal(a2.joined.check_in, null);
    assert.equal((await call(h2.socket, "check-in", { block: 0, outcome: "done" })).ok, true);
    assert.equal((await next(a2.socket, "chat-message", (m) => m.type === "system" && m.message.startsWith("Host"))).message, "Host ✓ Review PRs");

    // The transcript has both check-ins.
    const text = await fetch(`${server.url}/api/rooms/${host.room_code}/messages/export?format=txt`, {
      headers: { authorization: `Bearer ${host.token}` },
    }).then((r) => r.text());
    assert.match(text, /Ada ≈ Draft the intro — half of it/);
    assert.match(text, /Host ✓ Review PRs/);
    for (const s of [h2, a2]) s.socket.close();
  } finally {
    for (const s of [h, a, b]) s.socket.close();
  }
});

test("a work block the host ends early asks too, and a reset keeps the block's goals", async () => {
  const host = await createRoom(server, { timer: { work_seconds: 600, short_break_seconds: 600 } });
  const h = await enter(server, host.token);
  try {
    await call(h.socket, "start-timer");
    assert.equal((await call(h.socket, "set-goal", { text: "Plan" })).goal.block, 0);
    assert.equal((await call(h.socket, "reset-timer")).timer.block, 0);
    assert.equal((await next(h.socket, "goal-updated")).goal.text, "Plan");
    // The reset work phase never ran since: skipping it now still ends the block (it ran before).
    const skipped = await call(h.socket, "skip-timer");
    assert.equal(skipped.timer.block, 1);
    const req = await next(h.socket, "check-in-requested");
    assert.deepEqual([req.block, req.goal.text], [0, "Plan"]);
    assert.equal((await api(server, "GET", `/api/rooms/${host.room_code}`)).status, 200);
  } finally {
    h.socket.close();
  }
});

test("status: set, shared, replayed to a late joiner; bad values refused", async () => {
  const host = await createRoom(server, { name: "Status" });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  try {
    assert.ok(h.joined.participants.every((p) => p.status === "auto"), "everyone starts following the timer");
    assert.deepEqual(await call(a.socket, "set-status", { status: "away" }), { ok: true });
    assert.deepEqual(await next(h.socket, "status-changed"), { participant_id: ada.participant_id, status: "away" });
    const late = await enter(server, (await joinRoom(server, host.room_code, { display_name: "Cy" })).token);
    assert.equal(late.joined.participants.find((p) => p.participant_id === ada.participant_id).status, "away");
    for (const bad of [{}, { status: "busy" }, { status: 1 }, { status: "away", why: "lunch" }]) {
      assert.equal((await call(a.socket, "set-status", bad)).error?.code, "VALIDATION", JSON.stringify(bad));
    }
    for (const s of ["focusing", "on_break", "auto"]) {
      assert.equal((await call(a.socket, "set-status", { status: s })).ok, true);
      assert.equal((await next(late.socket, "status-changed", (d) => d.status === s)).participant_id, ada.participant_id);
    }
    late.socket.close();
  } finally {
    for (const s of [h, a]) s.socket.close();
  }
});

test("focus rules: defaults from config, the host changes them, everyone and the lobby see them", async () => {
  const quiet = await startServer({ env: { FLOWSYNC_ROOMS__FOCUS_QUIET_CHAT: "true" } });
  try {
    const host = await createRoom(quiet, { name: "Rules" });
    assert.deepEqual(host.room.timer.focus, { mute_at_work_start: false, quiet_chat: true, break_banner: true });
    const ada = await joinRoom(quiet, host.room_code, { display_name: "Ada" });
    const h = await enter(quiet, host.token);
    const a = await enter(quiet, ada.token);
    try {
      assert.equal((await call(a.socket, "set-focus-policy", { mute_at_work_start: true })).error.code, "FORBIDDEN");
      for (const bad of [{ mute: true }, { quiet_chat: "yes" }, "on"]) {
        assert.equal((await call(h.socket, "set-focus-policy", bad)).error?.code, "VALIDATION", JSON.stringify(bad));
      }
      const set = await call(h.socket, "set-focus-policy", { mute_at_work_start: true, break_banner: false });
      assert.deepEqual(set.room.timer.focus, { mute_at_work_start: true, quiet_chat: true, break_banner: false });
      assert.equal(set.room.timer.work_seconds, 1500, "the durations stay");
      const heard = await next(a.socket, "room-updated");
      assert.deepEqual(heard.room.timer.focus, set.room.timer.focus);
      // A newcomer knows the rules before joining (the lobby's lookup) and after (the snapshot).
      const lobby = await api(quiet, "GET", `/api/rooms/${host.room_code}`);
      assert.deepEqual(lobby.body.timer.focus, set.room.timer.focus);
      const c = await enter(quiet, (await joinRoom(quiet, host.room_code, { display_name: "Cy" })).token);
      assert.deepEqual(c.joined.room.timer.focus, set.room.timer.focus);
      c.socket.close();
    } finally {
      for (const s of [h, a]) s.socket.close();
    }
  } finally {
    await quiet.stop();
  }
});
