// Protocol tests: the official socket.io-client against the real flowsync binary on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { api, call, connect, createRoom, enter, joinRoom, next, quiet, refused, startServer } from "./harness.mjs";
import { estimateOffset, measureOffset, remainingMs } from "../../assets/timer.js";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

test("a full room session: snapshot, presence, relay, chat, hands, presenter, kick, end", async () => {
  const host = await createRoom(server, { name: "Standup" });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada", device_id: "dev-ada" });
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob", device_id: "dev-bob" });
  const other = await createRoom(server, { display_name: "Stranger" });

  const h = await enter(server, host.token);
  assert.equal(h.joined.self.participant_id, host.participant_id);
  assert.equal(h.joined.self.role, "host");
  assert.equal(h.joined.room.code, host.room_code);
  assert.equal(h.joined.timer.status, "idle");
  assert.equal(typeof h.joined.server_time, "number");
  assert.deepEqual(h.joined.ice_servers, []);
  assert.equal(h.joined.presenter_id, null);

  const a = await enter(server, ada.token);
  assert.deepEqual(a.joined.participants.map((p) => p.display_name), ["Host", "Ada"]);
  const seenByHost = await next(h.socket, "user-joined");
  assert.equal(seenByHost.participant_id, ada.participant_id);
  assert.equal(seenByHost.display_name, "Ada");

  const b = await enter(server, bob.token);
  const o = await enter(server, other.token);

  // Relay reaches only the addressed participant of the same room, tagged with the sender.
  const sdp = { type: "offer", sdp: "v=0\r\n" + "a=x\r\n".repeat(800) };
  let ack = await call(h.socket, "offer", { to: ada.participant_id, offer: sdp });
  assert.deepEqual(ack, { ok: true });
  const offer = await next(a.socket, "offer");
  assert.equal(offer.from, host.participant_id);
  assert.deepEqual(offer.offer, sdp);
  ack = await call(a.socket, "answer", { to: host.participant_id, answer: { type: "answer", sdp: "v=0" } });
  assert.equal(ack.ok, true);
  assert.equal((await next(h.socket, "answer")).from, ada.participant_id);
  ack = await call(a.socket, "ice-candidate", { to: host.participant_id, candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0" } });
  assert.equal(ack.ok, true);
  await next(h.socket, "ice-candidate");
  for (const to of [other.participant_id, other.room_code, "garbage", ""]) {
    ack = await call(h.socket, "offer", { to, offer: sdp });
    assert.equal(ack.ok, false, `relay to ${to}`);
    assert.equal(ack.error.code, "NOT_IN_ROOM");
  }
  assert.ok(await quiet(o.socket, "offer"), "another room never receives the relay");
  assert.ok(!b.socket.received.some((r) => r.event === "offer"), "a bystander never receives it");

  // Chat is stored before it is announced, reaches the whole room, and is in the history.
  ack = await call(b.socket, "chat-message", { message: "hello room", type: "text" });
  assert.equal(ack.ok, true);
  assert.equal(ack.message.message, "hello room");
  for (const s of [h.socket, a.socket, b.socket]) {
    const m = await next(s, "chat-message", (m) => m.type === "text");
    assert.equal(m.message, "hello room");
    assert.equal(m.sender_id, bob.participant_id);
    assert.equal(m.sender_name, "Bob");
  }
  const history = await api(server, "GET", `/api/rooms/${host.room_code}/messages`, undefined, ada.token);
  const texts = history.body.messages.map((m) => `${m.type}:${m.message}`);
  assert.ok(texts.includes("text:hello room"), texts.join(" | "));
  assert.ok(texts.includes("system:Ada joined"), texts.join(" | "));
  assert.ok(await quiet(o.socket, "chat-message"), "chat stays in its room");

  // Hands and media state are broadcast and part of the snapshot for late joiners.
  assert.equal((await call(a.socket, "raise-hand", { raised: true })).ok, true);
  const hand = await next(h.socket, "hand-raised");
  assert.deepEqual({ ...hand, raised_at: typeof hand.raised_at }, { participant_id: ada.participant_id, raised: true, raised_at: "number" });
  assert.equal((await call(b.socket, "media-state", { audio: false, video: true })).ok, true);
  assert.deepEqual(await next(h.socket, "media-state"), { participant_id: bob.participant_id, audio: false, video: true });

  // One presenter at a time.
  assert.equal((await call(a.socket, "start-presenting")).ok, true);
  assert.equal((await next(h.socket, "presenter-changed")).presenter_id, ada.participant_id);
  ack = await call(b.socket, "start-presenting");
  assert.equal(ack.error.code, "PRESENTER_EXISTS");

  const late = await joinRoom(server, host.room_code, { display_name: "Late" });
  const l = await enter(server, late.token);
  const adaSeen = l.joined.participants.find((p) => p.participant_id === ada.participant_id);
  assert.equal(adaSeen.hand_raised, true);
  assert.equal(adaSeen.presenting, true);
  assert.equal(l.joined.presenter_id, ada.participant_id);
  assert.equal(l.joined.participants.find((p) => p.participant_id === bob.participant_id).audio, false);

  assert.equal((await call(a.socket, "stop-presenting")).ok, true);
  assert.equal((await next(h.socket, "presenter-changed", (p) => p.presenter_id === null)).presenter_id, null);

  // Host powers are checked on the server.
  for (const [event, payload] of [["start-timer", {}], ["kick-participant", { participant_id: host.participant_id }], ["end-room", undefined], ["transfer-host", { participant_id: bob.participant_id }]]) {
    ack = payload === undefined ? await call(b.socket, event) : await call(b.socket, event, payload);
    assert.equal(ack.error?.code, "FORBIDDEN", `${event} by a guest`);
  }

  // Kick: the target hears it, is disconnected, cannot come back with its token or device.
  const bobGone = new Promise((r) => b.socket.on("disconnect", r));
  ack = await call(h.socket, "kick-participant", { participant_id: bob.participant_id });
  assert.equal(ack.ok, true);
  await next(b.socket, "kicked");
  await bobGone;
  assert.equal((await next(a.socket, "user-left")).participant_id, bob.participant_id);
  const err = await refused(server, bob.token);
  assert.match(err.message, /^KICKED/);
  const rejoin = await api(server, "POST", `/api/rooms/${host.room_code}/join`, { display_name: "Bob", device_id: "dev-bob" });
  assert.equal(rejoin.body.error.code, "KICKED");

  // End: everyone hears it and is disconnected; the room is gone.
  const ended = [a.socket, l.socket].map((s) => next(s, "room-ended"));
  ack = await call(h.socket, "end-room");
  assert.equal(ack.ok, true);
  await Promise.all(ended);
  assert.equal((await api(server, "GET", `/api/rooms/${host.room_code}`)).status, 410);
  for (const s of [h.socket, a.socket, l.socket, o.socket]) s.close();
});

test("handshake refusals carry stable codes", async () => {
  assert.match((await refused(server, undefined)).message, /^UNAUTHORIZED/);
  assert.match((await refused(server, "fst_not-a-token")).message, /^INVALID_TOKEN/);
  const room = await createRoom(server);
  await api(server, "DELETE", `/api/rooms/${room.room_code}`, undefined, room.token);
  assert.match((await refused(server, room.token)).message, /^INVALID_TOKEN/);

  // A seat lapses when its holder stays away past the reconnect grace (2 s here) and someone
  // else takes it: coming back then finds the room full.
  const small = await createRoom(server, { max_participants: 2 });
  const h = await enter(server, small.token);
  const ada = await joinRoom(server, small.room_code, { display_name: "Ada" });
  // Once Ada's seat has lapsed (the lookup counts seats), Cy takes it.
  const deadline = Date.now() + 10000;
  while ((await api(server, "GET", `/api/rooms/${small.room_code}`)).body.participant_count > 1) {
    assert.ok(Date.now() < deadline, "Ada's seat never lapsed");
    await new Promise((r) => setTimeout(r, 250));
  }
  await joinRoom(server, small.room_code, { display_name: "Cy" });
  assert.match((await refused(server, ada.token)).message, /^ROOM_FULL/);
  h.socket.close();
});

test("reconnects keep the participant; a second connection replaces the first", async () => {
  const host = await createRoom(server);
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a1 = await enter(server, ada.token);
  await next(h.socket, "user-joined");

  // A blip inside the grace: peers are not told, the participant id is the same.
  a1.socket.close();
  const a2 = await enter(server, ada.token);
  assert.equal(a2.joined.self.participant_id, ada.participant_id);
  assert.ok(await quiet(h.socket, "user-left", 500));
  assert.ok(!h.socket.received.some((r) => r.event === "user-joined" && r.data.participant_id === ada.participant_id && !r.consumed));

  // A second live connection with the same token replaces the first.
  const replaced = next(a2.socket, "session-replaced");
  const gone = new Promise((r) => a2.socket.on("disconnect", r));
  const a3 = await enter(server, ada.token);
  await replaced;
  await gone;
  assert.equal(a3.joined.self.participant_id, ada.participant_id);
  assert.ok(await quiet(h.socket, "user-left", 300));

  // Gone longer than the grace (2 s here): peers are told, once.
  a3.socket.close();
  const left = await next(h.socket, "user-left", () => true, 6000);
  assert.equal(left.participant_id, ada.participant_id);
  h.socket.close();
});

test("the host role passes to the longest-present participant when the host is gone", async () => {
  const host = await createRoom(server);
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const b = await enter(server, bob.token);
  h.socket.close();
  const changed = await next(b.socket, "host-changed", () => true, 6000);
  assert.equal(changed.participant_id, ada.participant_id);
  // The new host has the powers now; transfer it on explicitly.
  assert.equal((await call(a.socket, "transfer-host", { participant_id: bob.participant_id })).ok, true);
  assert.equal((await next(a.socket, "host-changed", (c) => c.participant_id === bob.participant_id)).participant_id, bob.participant_id);
  assert.equal((await call(a.socket, "start-timer", {})).error.code, "FORBIDDEN");
  assert.equal((await call(b.socket, "start-timer", {})).ok, true);
  a.socket.close();
  b.socket.close();
});

test("the server-authoritative timer advances phases by itself, with long breaks", async () => {
  const host = await createRoom(server, { timer: { work_seconds: 1, short_break_seconds: 1, long_break_seconds: 2, long_break_every: 2, auto_start: true } });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  let ack = await call(h.socket, "start-timer", {});
  assert.equal(ack.ok, true);
  assert.equal(ack.timer.status, "running");
  assert.equal((await next(a.socket, "timer-update")).reason, "started");
  const phases = [];
  for (let i = 0; i < 3; i++) {
    const [x, y] = await Promise.all([h.socket, a.socket].map((s) => next(s, "timer-update", (t) => t.reason === "completed", 4000)));
    assert.deepEqual(x, { ...y, server_time: x.server_time }, "everyone gets the same update");
    phases.push(`${x.phase}/${x.completed_pomodoros}`);
  }
  assert.deepEqual(phases, ["short_break/1", "work/1", "long_break/2"]);
  ack = await call(h.socket, "pause-timer");
  assert.equal(ack.timer.status, "paused");
  ack = await call(h.socket, "pause-timer");
  assert.equal(ack.ok, false, "pausing a paused timer is refused");
  ack = await call(h.socket, "reset-timer");
  assert.deepEqual([ack.timer.status, ack.timer.phase, ack.timer.completed_pomodoros], ["idle", "work", 0]);
  h.socket.close();
  a.socket.close();
});

test("a client whose clock is 5 minutes off shows the same remaining time", async () => {
  const host = await createRoom(server, { timer: { work_seconds: 600 } });
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const skew = 5 * 60 * 1000;
  const skewedNow = () => Date.now() + skew;
  const good = await measureOffset(h.socket, 5);
  const skewed = await measureOffset(a.socket, 5, skewedNow);
  assert.ok(Math.abs(skewed.offset + skew - good.offset) < 100, `offsets ${good.offset} vs ${skewed.offset}`);
  const ack = await call(h.socket, "start-timer", {});
  const update = await next(a.socket, "timer-update", (t) => t.status === "running");
  const mine = remainingMs(ack.timer, good.offset, Date.now());
  const theirs = remainingMs(update, skewed.offset, skewedNow());
  assert.ok(Math.abs(mine - theirs) <= 100, `remaining ${mine} vs ${theirs}`);
  // The check can fail: ignoring the offset is minutes off.
  const naive = remainingMs(update, 0, skewedNow());
  assert.ok(Math.abs(mine - naive) > 100, "a wrong offset must not pass");
  assert.deepEqual(estimateOffset([{ sent: 0, received: 100, server: 1050 }, { sent: 0, received: 10, server: 1005 }]), { offset: 1000, rtt: 10 });
  h.socket.close();
  a.socket.close();
});

test("malformed payloads get error acks; nothing crashes; others keep working", async () => {
  const host = await createRoom(server);
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const bad = [
    ["offer", "not an object"], ["offer", { offer: {} }], ["answer", { to: 5 }], ["ice-candidate", null],
    ["chat-message", { message: 5 }], ["chat-message", { message: "" }], ["chat-message", { message: "x".repeat(2001) }],
    ["chat-message", { message: "hi", type: "system" }], ["media-state", { audio: "yes" }], ["raise-hand", {}],
    ["start-timer", { phase: "nap" }], ["kick-participant", {}], ["transfer-host", { participant_id: 1 }],
    ["clock", { client_time: "now" }], ["no-such-event", {}],
  ];
  for (const [event, payload] of bad) {
    const ack = await call(h.socket, event, payload);
    assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)}`);
    assert.ok(["VALIDATION", "NOT_IN_ROOM"].includes(ack.error.code), `${event}: ${ack.error.code}`);
  }
  // Broken JSON after a valid event name (only a hand-made client sends it) gets an error
  // acknowledgement like any payload of the wrong shape, and the socket stays: the patched
  // parser reads only the event name to dispatch (docs/upstream/socketioxide-parser-common-*).
  const engine = h.socket.io.engine;
  const rawAck = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no acknowledgement for broken JSON")), 5000).unref();
    const onPacket = (packet) => {
      if (packet.type === "message" && typeof packet.data === "string" && packet.data.startsWith("3987")) {
        engine.off("packet", onPacket);
        resolve(JSON.parse(packet.data.slice(4))[0]);
      }
    };
    engine.on("packet", onPacket);
  });
  engine.write('2987["offer",{"to":"p_x","offer":{"sdp":"v=0');
  const broken = await rawAck;
  assert.equal(broken.ok, false);
  assert.equal(broken.error.code, "VALIDATION");
  assert.equal(h.socket.connected, true);
  assert.equal((await call(h.socket, "clock", { client_time: 1 })).ok, true);
  // A huge payload is refused by the transport (the socket is dropped), not by a crash.
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });
  const big = connect(server, bob.token);
  await next(big, "room-joined");
  const dropped = new Promise((r) => big.on("disconnect", r));
  big.emit("chat-message", { message: "x".repeat(200 * 1024) });
  await dropped;
  // Others are fine.
  const ack = await call(a.socket, "chat-message", { message: "still here" });
  assert.equal(ack.ok, true);
  assert.equal((await call(h.socket, "clock", { client_time: 1 })).ok, true);
  h.socket.close();
  a.socket.close();
});

test("a flooding socket is throttled and then disconnected; the room is unaffected", async () => {
  const host = await createRoom(server);
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const h = await enter(server, host.token);
  const a = await enter(server, ada.token);
  const gone = new Promise((r) => a.socket.on("disconnect", r));
  let disconnected = false;
  a.socket.on("disconnect", () => { disconnected = true; });
  // Batches of 100 stay within the socket's send buffer, so what stops the flood is the budget.
  const codes = [];
  for (let batch = 0; batch < 10 && !disconnected; batch++) {
    const acks = [];
    for (let i = 0; i < 100; i++) acks.push(call(a.socket, "clock", { client_time: i }).catch(() => null));
    for (const x of await Promise.all(acks)) if (x) codes.push(x.ok ? "ok" : x.error.code);
  }
  await gone;
  assert.ok(codes.includes("RATE_LIMITED"), "throttled first");
  assert.equal((await call(h.socket, "clock", { client_time: 1 })).ok, true);
  h.socket.close();
});

test("a restart keeps participants and the timer", async () => {
  const local = await startServer();
  const host = await createRoom(local, { timer: { work_seconds: 120 } });
  const ada = await joinRoom(local, host.room_code, { display_name: "Ada" });
  const h = await enter(local, host.token);
  const a = await enter(local, ada.token);
  const started = (await call(h.socket, "start-timer", {})).timer;
  const restarting = next(a.socket, "server-restarting");
  await local.stop({ keepData: true });
  await restarting;
  const again = await startServer({ dataDir: local.dir });
  try {
    const h2 = await enter(again, host.token);
    const a2 = await enter(again, ada.token);
    assert.equal(h2.joined.self.participant_id, host.participant_id);
    assert.equal(a2.joined.self.participant_id, ada.participant_id);
    assert.equal(a2.joined.timer.status, "running");
    assert.equal(a2.joined.timer.ends_at, started.ends_at, "the timer continues where it was");
    h2.socket.close();
    a2.socket.close();
  } finally {
    await again.stop();
  }
});
