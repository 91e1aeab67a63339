// Heartbeats on every transport, against the patched engineioxide of vendor/ (its heartbeat
// waits on a `Notify` for pongs instead of a channel): clients on long-polling, on polling
// upgraded to WebSocket, and on WebSocket stay connected past the point where a lost pong would
// have closed them (ping interval 25 s + ping timeout 20 s), and still talk to each other.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { call, createRoom, enter, joinRoom, next, startServer } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

const PING_INTERVAL_MS = 25_000;
const PING_TIMEOUT_MS = 20_000;

test("polling, upgraded and websocket clients survive heartbeats and still chat", { timeout: 90_000 }, async () => {
  const host = await createRoom(server);
  const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
  const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });

  const polling = await enter(server, host.token, { transports: ["polling"] });
  const upgraded = await enter(server, ada.token, { transports: ["polling", "websocket"] });
  const ws = await enter(server, bob.token);
  const clients = { polling, upgraded, ws };
  const drops = [];
  for (const [name, c] of Object.entries(clients)) {
    c.socket.on("disconnect", (reason) => drops.push(`${name}: ${reason}`));
  }

  // Past the first ping's deadline and into the second ping.
  await new Promise((r) => setTimeout(r, PING_INTERVAL_MS + PING_TIMEOUT_MS + 5_000));
  assert.deepEqual(drops, []);
  assert.equal(polling.socket.io.engine.transport.name, "polling");
  assert.equal(upgraded.socket.io.engine.transport.name, "websocket");
  assert.equal(ws.socket.io.engine.transport.name, "websocket");

  const ack = await call(polling.socket, "chat-message", { message: "still here" });
  assert.equal(ack.ok, true);
  for (const c of [upgraded, ws]) {
    const line = await next(c.socket, "chat-message", (m) => m.message === "still here");
    assert.equal(line.sender_id, host.participant_id);
  }
  for (const c of Object.values(clients)) c.socket.close();
});
