// Raised hands with the official socket.io client: the queue order is the server's (a hand's
// `raised_at`), shared with late joiners and kept when a raised hand is raised again; only the
// host lowers other people's hands, one or all, and everyone hears who lowered them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { call, createRoom, enter, joinRoom, next, quiet, startServer } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("the hands queue: order, replay to a late joiner, host lowers one and all", async () => {
  const host = await createRoom(server, { name: "Hands" });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const b = await enter(server, bob.token);
  try {
    assert.equal((await call(a.socket, "raise-hand", { raised: true })).ok, true);
    const adaUp = await next(h.socket, "hand-raised", (d) => d.participant_id === ada.participant_id);
    assert.equal(adaUp.raised, true);
    assert.equal(typeof adaUp.raised_at, "number");
    // The next hand goes up on a later millisecond of the server's clock (this machine's).
    while (Date.now() <= adaUp.raised_at) await new Promise((r) => setImmediate(r));
    assert.equal((await call(b.socket, "raise-hand", { raised: true })).ok, true);
    const bobUp = await next(h.socket, "hand-raised", (d) => d.participant_id === bob.participant_id);
    assert.ok(bobUp.raised_at > adaUp.raised_at, "Bob raised after Ada");

    // Raising again keeps Ada's place.
    assert.equal((await call(a.socket, "raise-hand", { raised: true })).ok, true);
    const again = await next(h.socket, "hand-raised", (d) => d.participant_id === ada.participant_id);
    assert.equal(again.raised_at, adaUp.raised_at);

    // A late joiner gets the same queue.
    const cy = await joinRoom(server, host.room_code, { display_name: "Cy" });
    const c = await enter(server, cy.token);
    const byId = Object.fromEntries(c.joined.participants.map((p) => [p.participant_id, p]));
    assert.equal(byId[ada.participant_id].hand_raised_at, adaUp.raised_at);
    assert.equal(byId[bob.participant_id].hand_raised_at, bobUp.raised_at);
    assert.equal(byId[host.participant_id].hand_raised_at, null);
    assert.equal(byId[host.participant_id].hand_raised, false);

    // Guests cannot lower others' hands; bad payloads are refused.
    assert.equal((await call(b.socket, "lower-hand", { participant_id: ada.participant_id })).error.code, "FORBIDDEN");
    for (const bad of [{}, { participant_id: ada.participant_id, all: true }, { all: "yes" }, { participant_id: 7 }, { who: 1 }]) {
      assert.equal((await call(h.socket, "lower-hand", bad)).error?.code, "VALIDATION", JSON.stringify(bad));
    }
    assert.equal((await call(h.socket, "lower-hand", { participant_id: "p_nobody" })).error.code, "NOT_IN_ROOM");

    // The host lowers Ada's hand: everyone hears it, with who lowered it.
    const one = await call(h.socket, "lower-hand", { participant_id: ada.participant_id });
    assert.deepEqual(one, { ok: true, lowered: 1 });
    const down = await next(c.socket, "hand-raised", (d) => d.participant_id === ada.participant_id && !d.raised);
    assert.deepEqual(down, { participant_id: ada.participant_id, raised: false, raised_at: null, lowered_by: host.participant_id });
    // Lowering a hand that is down changes nothing and tells no one.
    assert.deepEqual(await call(h.socket, "lower-hand", { participant_id: ada.participant_id }), { ok: true, lowered: 0 });

    // Everyone's: Bob's and Cy's come down.
    assert.equal((await call(c.socket, "raise-hand", { raised: true })).ok, true);
    const all = await call(h.socket, "lower-hand", { all: true });
    assert.deepEqual(all, { ok: true, lowered: 2 });
    await next(a.socket, "hand-raised", (d) => d.participant_id === bob.participant_id && !d.raised && d.lowered_by === host.participant_id);
    await next(a.socket, "hand-raised", (d) => d.participant_id === cy.participant_id && !d.raised);
    assert.ok(await quiet(a.socket, "hand-raised", 200));
    const late = await enter(server, (await joinRoom(server, host.room_code, { display_name: "Di" })).token);
    assert.ok(late.joined.participants.every((p) => !p.hand_raised && p.hand_raised_at === null));
    for (const s of [c, late]) s.socket.close();
  } finally {
    for (const s of [h, a, b]) s.socket.close();
  }
});
