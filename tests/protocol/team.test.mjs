// A team's own rooms with the official socket.io-client against the real binary: who may create
// rooms (each rooms.create_policy), the operator's standing room whose first arrival becomes
// host, the host link, and a room whose host is gone with nobody there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { BIN, api, call, createRoom, enter, joinRoom, next, startServer } from "./harness.mjs";

/** Runs an operator command against a server's data directory; its JSON output. */
function operator(server, policy, ...args) {
  const env = { ...process.env, FLOWSYNC_SERVER__DATA_DIR: join(server.dir, "data"), FLOWSYNC_ROOMS__CREATE_POLICY: policy };
  for (const k of Object.keys(env)) if (k.startsWith("FLOWSYNC_TEST") || k === "FLOWSYNC_BIN") delete env[k];
  const r = spawnSync(BIN, [...args, "--json"], { env, encoding: "utf8" });
  assert.equal(r.status, 0, `flowsync ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test("create policy link: the team's create link, rotated", async () => {
  const server = await startServer({ env: { FLOWSYNC_ROOMS__CREATE_POLICY: "link" } });
  try {
    let r = await api(server, "POST", "/api/rooms", { display_name: "Ada" });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "CREATE_NOT_ALLOWED");
    const first = operator(server, "link", "rooms", "create-link");
    assert.equal(first.create_policy, "link");
    const key = first.create_link.split("#create=")[1];
    r = await api(server, "POST", "/api/rooms", { display_name: "Ada", create_key: key });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const again = operator(server, "link", "rooms", "create-link");
    assert.equal(again.create_link, first.create_link, "shown again, not replaced");
    const rotated = operator(server, "link", "rooms", "create-link", "--rotate");
    assert.notEqual(rotated.create_link, first.create_link);
    r = await api(server, "POST", "/api/rooms", { display_name: "Ada", create_key: key });
    assert.equal(r.body.error.code, "CREATE_NOT_ALLOWED");
    r = await api(server, "POST", "/api/rooms", { display_name: "Ada", create_key: rotated.create_link.split("#create=")[1] });
    assert.equal(r.status, 201);
  } finally {
    await server.stop();
  }
});

test("create policy operator: the operator's standing room, its first arrival is host", async () => {
  const server = await startServer({ env: { FLOWSYNC_ROOMS__CREATE_POLICY: "operator" } });
  try {
    const r = await api(server, "POST", "/api/rooms", { display_name: "Ada" });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "CREATE_NOT_ALLOWED");
    const room = operator(server, "operator", "rooms", "create", "--standing", "--name", "Team Room", "--slug", "team");
    assert.equal(room.slug, "team");
    assert.match(room.link, /\/r\/team$/);
    assert.match(room.host_link, /\/r\/team#host=[A-Za-z0-9_-]{22}$/);
    const looked = await api(server, "GET", "/api/slugs/team");
    assert.equal(looked.body.code, room.code);
    assert.equal(looked.body.expires_at, null);

    const ada = await joinRoom(server, room.code, { display_name: "Ada" });
    const a = await enter(server, ada.token);
    assert.equal(a.joined.self.role, "host", "nobody is host yet: the first arrival is");
    assert.equal((await call(a.socket, "start-timer", {})).ok, true);
    const bob = await joinRoom(server, room.code, { display_name: "Bob" });
    const b = await enter(server, bob.token);
    assert.equal(b.joined.self.role, "guest");

    // The operator's host link makes Bob host.
    const key = room.host_link.split("#host=")[1];
    assert.equal((await call(b.socket, "claim-host", { host_key: key })).ok, true);
    assert.equal((await next(a.socket, "host-changed", (c) => c.participant_id === bob.participant_id)).participant_id, bob.participant_id);
    const shown = operator(server, "operator", "rooms", "host-link", "team", "--rotate");
    assert.notEqual(shown.host_link, room.host_link);
    assert.equal((await call(a.socket, "claim-host", { host_key: key })).error.code, "FORBIDDEN");
    a.socket.close();
    b.socket.close();
  } finally {
    await server.stop();
  }
});

test("create policy open: anyone creates, a standing room gets a host link", async () => {
  const server = await startServer();
  try {
    const r = await api(server, "POST", "/api/rooms", { display_name: "Ada", name: "Standup", standing: true });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.room.slug, "standup");
    assert.equal(typeof r.body.host_key, "string");
  } finally {
    await server.stop();
  }
});

test("a room whose host is gone with nobody there makes the next arrival its host", async () => {
  const server = await startServer();
  try {
    const host = await createRoom(server);
    // The host leaves alone; the acknowledgement comes after the departure is recorded.
    let h = await enter(server, host.token);
    assert.equal((await call(h.socket, "leave-room", {})).ok, true);
    const ada = await joinRoom(server, host.room_code, { display_name: "Ada" });
    const a = await enter(server, ada.token);
    assert.equal(a.joined.self.role, "host");
    assert.equal((await next(a.socket, "host-changed")).participant_id, ada.participant_id);
    assert.equal((await call(a.socket, "start-timer", {})).ok, true);
    const bob = await joinRoom(server, host.room_code, { display_name: "Bob" });
    const b = await enter(server, bob.token);
    assert.equal(b.joined.self.role, "guest");
    assert.equal((await call(b.socket, "pause-timer", {})).error.code, "FORBIDDEN");

    // The host's connection is lost and its grace (2 s here) runs out with nobody there.
    const other = await createRoom(server);
    h = await enter(server, other.token);
    h.socket.close();
    const seats = async () => (await api(server, "GET", `/api/rooms/${other.room_code}`)).body.participant_count;
    const deadline = Date.now() + 10000;
    while ((await seats()) !== 0) {
      assert.ok(Date.now() < deadline, "the host's seat was never released");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Seats are counted against the grace, so the departure itself may follow an instant later:
    // Cy is host at once, or is handed the role by that departure.
    const cy = await joinRoom(server, other.room_code, { display_name: "Cy" });
    const c = await enter(server, cy.token);
    if (c.joined.self.role !== "host") {
      await next(c.socket, "host-changed", (x) => x.participant_id === cy.participant_id, 6000);
    }
    assert.equal((await call(c.socket, "start-timer", {})).ok, true);
    for (const s of [a.socket, b.socket, c.socket]) s.close();
  } finally {
    await server.stop();
  }
});
