// The fault suite: FlowSync held to what docs/faults.md promises when its parts fail. Each
// test breaks something real (a Redis this test owns, a crashed or stopped server, the path to
// PostgreSQL, a full disk) and checks the promise, with the built binary and the official
// socket.io-client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { api, call, createRoom, enter, freePort, joinRoom, next, startServer, BIN } from "./harness.mjs";

const PG_ADMIN = process.env.FLOWSYNC_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true; fails with `what` after `ms`. Resolves with the time taken. */
async function until(check, ms, what) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start;
    await sleep(100);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

function pgDatabase() {
  const db = `fst_${randomBytes(6).toString("hex")}`;
  execFileSync("psql", [PG_ADMIN, "-qc", `CREATE DATABASE ${db}`]);
  return PG_ADMIN.replace(/\/[^/]*$/, `/${db}`);
}

/** A Redis server of this test's own (no persistence), answering on `port`. */
async function startRedis(port) {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  await until(() => {
    try {
      return execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim() === "PONG";
    } catch {
      return false;
    }
  }, 5000, "redis-server answers");
  return child;
}

async function kill(child, signal = "SIGKILL") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

const ready = async (server) => (await api(server, "GET", "/readyz")).status === 200;

test("Redis killed and restarted empty under two instances: chat, relays and presence come back without restarting serve", async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const env = {
    FLOWSYNC_DATABASE__URL: pgDatabase(),
    FLOWSYNC_REDIS__URL: `redis://127.0.0.1:${port}/?protocol=resp3`,
    FLOWSYNC_REDIS__KEY_PREFIX: "fstest:faults:",
    FLOWSYNC_ROOMS__RECONNECT_GRACE: "20s",
  };
  const a = await startServer({ env });
  const b = await startServer({ env });
  try {
    const host = await createRoom(a, { name: "Outage" });
    const guest = await joinRoom(b, host.room_code, { display_name: "Remote" });
    const mate = await joinRoom(a, host.room_code, { display_name: "Local" });
    const h = await enter(a, host.token);
    const g = await enter(b, guest.token);
    const m = await enter(a, mate.token);
    await next(h.socket, "user-joined", (p) => p.participant_id === mate.participant_id);

    await kill(redis);
    // While Redis is down: people on the sender's instance still get the line, and the sender
    // is told that others may not have.
    const down = await call(h.socket, "chat-message", { message: "while down" });
    assert.equal(down.ok, true, JSON.stringify(down));
    assert.equal(down.warning?.code, "PARTIAL_DELIVERY", JSON.stringify(down));
    assert.equal((await next(m.socket, "chat-message", (x) => x.message === "while down")).sender_name, "Host");
    await until(async () => !(await ready(a)) && !(await ready(b)), 5000, "/readyz reports Redis down on both instances");
    const r = await api(a, "GET", "/readyz");
    assert.equal(r.body.checks.redis_pubsub.ok, false, JSON.stringify(r.body));

    redis = await startRedis(port);
    const back = await until(async () => (await ready(a)) && (await ready(b)), 15000, "both instances ready again");
    // The promise (docs/faults.md): working again within 10 s of Redis answering.
    assert.ok(back < 10000, `ready again after ${back} ms`);

    // Chat crosses instances again and reaches the sender's instance too.
    const after = await call(g.socket, "chat-message", { message: "after" });
    assert.equal(after.ok, true);
    assert.equal(after.warning, undefined, JSON.stringify(after));
    await next(h.socket, "chat-message", (x) => x.message === "after");
    await next(m.socket, "chat-message", (x) => x.message === "after");
    // Relays find their targets (presence was rebuilt) and cross instances.
    const offer = await call(h.socket, "offer", { to: guest.participant_id, offer: { type: "offer", sdp: "v=0" } });
    assert.equal(offer.ok, true, JSON.stringify(offer));
    assert.equal((await next(g.socket, "offer")).from, host.participant_id);
    // A newcomer sees everyone, whichever instance they are on.
    const late = await joinRoom(b, host.room_code, { display_name: "Late" });
    const l = await enter(b, late.token);
    const names = l.joined.participants.map((p) => p.display_name).sort();
    assert.deepEqual(names, ["Host", "Late", "Local", "Remote"]);
    assert.equal(l.joined.participants.find((p) => p.display_name === "Host").role, "host");

    // A stall (Redis stops answering without closing anything) is survived too: lines are
    // still acknowledged meanwhile, and all is well as soon as it ends.
    redis.kill("SIGSTOP");
    const stalled = await call(h.socket, "chat-message", { message: "stalled" });
    assert.equal(stalled.ok, true, JSON.stringify(stalled));
    await next(m.socket, "chat-message", (x) => x.message === "stalled");
    redis.kill("SIGCONT");
    await until(async () => (await ready(a)) && (await ready(b)), 10000, "both instances ready after the stall");
    assert.equal((await call(g.socket, "chat-message", { message: "resumed" })).ok, true);
    await next(h.socket, "chat-message", (x) => x.message === "resumed");
    for (const s of [h, g, m, l]) s.socket.close();
  } finally {
    await a.stop();
    await b.stop();
    await kill(redis);
  }
});

test("without Redis, a host who does not come back after a restart hands over once the grace has passed", async () => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "flowsync-faults-"));
  const listen = `127.0.0.1:${port}`;
  let s = await startServer({ dataDir, listen });
  const host = await createRoom(s, { name: "Hostless" });
  const one = await joinRoom(s, host.room_code, { display_name: "One" });
  const two = await joinRoom(s, host.room_code, { display_name: "Two" });
  for (const t of [host.token, one.token, two.token]) (await enter(s, t)).socket.close();
  await s.stop({ keepData: true, signal: "SIGKILL" });

  s = await startServer({ dataDir, listen });
  try {
    const o = await enter(s, one.token);
    const t = await enter(s, two.token);
    // The grace is 2 s in these tests; the host never returns.
    assert.equal((await next(o.socket, "user-left", (p) => p.participant_id === host.participant_id, 8000)).participant_id, host.participant_id);
    assert.equal((await next(o.socket, "host-changed", () => true, 3000)).participant_id, one.participant_id);
    await next(t.socket, "chat-message", (x) => x.type === "system" && x.message === "Host left", 3000);
    const started = await call(o.socket, "start-timer", {});
    assert.equal(started.ok, true, JSON.stringify(started));
    o.socket.close();
    t.socket.close();
  } finally {
    await s.stop();
  }
});

/** Sends `n` chat lines as fast as acknowledgements allow (8 in flight); resolves with the
 * acknowledged ones (by client id) and every client id sent, when stopped or done. */
function chatter(socket, n, prefix) {
  const acked = new Map();
  const sent = [];
  let i = 0;
  const one = async () => {
    while (i < n && socket.connected) {
      const id = `${prefix}-${i++}`;
      sent.push(id);
      const ack = await new Promise((resolve) => {
        socket.timeout(3000).emit("chat-message", { message: id, client_id: id }, (err, a) => resolve(err ? null : a));
      });
      if (ack?.ok) acked.set(id, ack.message.id);
    }
  };
  const done = Promise.all(Array.from({ length: 8 }, one));
  return { acked, sent, done };
}

async function history(server, room) {
  const r = await api(server, "GET", `/api/rooms/${room.room_code}/messages?limit=200`, undefined, room.token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const out = [...r.body.messages];
  let before = r.body.next_before;
  while (before) {
    const p = await api(server, "GET", `/api/rooms/${room.room_code}/messages?limit=200&before=${before}`, undefined, room.token);
    out.unshift(...p.body.messages);
    before = p.body.next_before;
  }
  return out.filter((x) => x.type === "text");
}

for (const backend of ["sqlite", "postgres"]) {
  test(`SIGKILL under acknowledged chat (${backend}): every acknowledged line is stored`, async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "flowsync-faults-"));
    const env = backend === "postgres" ? { FLOWSYNC_DATABASE__URL: pgDatabase() } : {};
    Object.assign(env, { FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT: "100000/minute" });
    const listen = `127.0.0.1:${port}`;
    let s = await startServer({ dataDir, listen, env });
    const host = await createRoom(s, { name: "Crash" });
    const h = await enter(s, host.token);
    const run = chatter(h.socket, 100000, "k");
    await until(() => run.acked.size >= 300, 15000, "300 lines acknowledged");
    await s.stop({ keepData: true, signal: "SIGKILL" });
    await run.done;
    s = await startServer({ dataDir, listen, env });
    try {
      const stored = new Map((await history(s, host)).map((x) => [x.message, x.id]));
      const lost = [...run.acked.keys()].filter((id) => !stored.has(id));
      assert.deepEqual(lost, [], `${lost.length} of ${run.acked.size} acknowledged lines lost`);
      for (const [id, msgId] of run.acked) assert.equal(stored.get(id), msgId, `line ${id} kept its id`);
    } finally {
      await s.stop();
    }
  });
}

test("SIGTERM drain: clients are told, in-flight lines are answered, and resends are stored once", async () => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "flowsync-faults-"));
  const listen = `127.0.0.1:${port}`;
  const env = { FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT: "100000/minute" };
  let s = await startServer({ dataDir, listen, env });
  const host = await createRoom(s, { name: "Drain" });
  const h = await enter(s, host.token);
  const run = chatter(h.socket, 100000, "d");
  await until(() => run.acked.size >= 200, 15000, "200 lines acknowledged");
  const told = next(h.socket, "server-restarting", () => true, 5000);
  const stopped = s.stop({ keepData: true });
  await told;
  await run.done;
  await stopped;

  s = await startServer({ dataDir, listen, env });
  try {
    const again = await enter(s, host.token);
    // The client resends every line it has no acknowledgement for, with the same id; a resend
    // of an acknowledged line is answered with the stored one.
    const unacked = run.sent.filter((id) => !run.acked.has(id));
    // Hundreds of resends at once meet the per-socket event budget; wait as a client would.
    const resend = async (id) => {
      let ack = await call(again.socket, "chat-message", { message: id, client_id: id });
      while (ack.error?.code === "RATE_LIMITED") {
        await sleep(100);
        ack = await call(again.socket, "chat-message", { message: id, client_id: id });
      }
      return ack;
    };
    for (const id of unacked) {
      const ack = await resend(id);
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
    const [firstId, firstMsg] = run.acked.entries().next().value;
    const dup = await resend(firstId);
    assert.deepEqual([dup.ok, dup.duplicate, dup.message.id], [true, true, firstMsg]);
    const lines = (await history(s, host)).map((x) => x.message);
    assert.equal(lines.length, new Set(lines).size, "no line is stored twice");
    assert.deepEqual(new Set(lines), new Set(run.sent), "every line sent is stored");
    again.socket.close();
  } finally {
    await s.stop();
  }
});

/** A TCP proxy to PostgreSQL that the test can cut (refusing and dropping connections) and
 * restore, for "the database became unreachable". */
async function pgProxy() {
  const target = new URL(PG_ADMIN);
  const port = await freePort();
  const conns = new Set();
  let server;
  const open = () =>
    new Promise((resolve) => {
      server = net.createServer((c) => {
        const up = net.connect(Number(target.port || 5432), target.hostname);
        conns.add(c);
        conns.add(up);
        c.pipe(up).pipe(c);
        const drop = () => { c.destroy(); up.destroy(); conns.delete(c); conns.delete(up); };
        c.on("error", drop).on("close", drop);
        up.on("error", drop).on("close", drop);
      });
      server.listen(port, "127.0.0.1", resolve);
    });
  await open();
  return {
    port,
    cut: () => new Promise((resolve) => { for (const c of conns) c.destroy(); conns.clear(); server.close(resolve); }),
    restore: open,
  };
}

test("PostgreSQL unreachable and back: 503 with Retry-After meanwhile, working again without a restart", async () => {
  const url = new URL(pgDatabase());
  const proxy = await pgProxy();
  url.host = `127.0.0.1:${proxy.port}`;
  const s = await startServer({ env: { FLOWSYNC_DATABASE__URL: url.toString() } });
  try {
    assert.equal((await createRoom(s, { name: "Before" })).room_code.length > 0, true);
    await proxy.cut();
    const r = await api(s, "POST", "/api/rooms", { display_name: "Host", name: "During" });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "UNAVAILABLE");
    assert.ok(Number(r.headers.get("retry-after")) > 0, "Retry-After is set");
    assert.equal((await api(s, "GET", "/readyz")).status, 503);
    await proxy.restore();
    const back = await until(async () => (await api(s, "POST", "/api/rooms", { display_name: "Host", name: "After" })).status === 201, 10000, "rooms can be created again");
    assert.ok(back < 10000);
    assert.equal((await api(s, "GET", "/readyz")).status, 200);
  } finally {
    await s.stop();
    await proxy.cut();
  }
});

const root = process.getuid?.() === 0;

test("the data directory's disk full and freed: retryable errors, readiness says why, then back", { skip: !root && "needs root to mount a small file system" }, async () => {
  const mnt = mkdtempSync(join(tmpdir(), "flowsync-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt]);
  const s = await startServer({ dataDir: mnt });
  try {
    const host = await createRoom(s, { name: "Full" });
    const h = await enter(s, host.token);
    assert.equal((await call(h.socket, "chat-message", { message: "before" })).ok, true);
    // Fill the disk.
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=64k"], { stdio: "ignore" });
    } catch { /* dd stops at "No space left on device" */ }
    const big = "x".repeat(1900);
    let refusedLine;
    await until(async () => {
      refusedLine = await call(h.socket, "chat-message", { message: big });
      return !refusedLine.ok;
    }, 5000, "a chat line is refused on a full disk");
    assert.equal(refusedLine.error.code, "UNAVAILABLE", JSON.stringify(refusedLine));
    const post = await api(s, "POST", `/api/rooms/${host.room_code}/messages`, { message: big }, host.token);
    assert.equal(post.status, 503, JSON.stringify(post.body));
    assert.ok(Number(post.headers.get("retry-after")) > 0);
    const r = await api(s, "GET", "/readyz");
    assert.equal(r.status, 503);
    assert.match(r.body.checks.data_dir.error, /disk is full/);
    // Free it: everything works again, without a restart.
    rmSync(join(mnt, "filler"));
    await until(async () => (await call(h.socket, "chat-message", { message: "after" })).ok, 5000, "chat works again");
    assert.equal((await api(s, "GET", "/readyz")).status, 200);
    h.socket.close();
  } finally {
    await s.stop({ keepData: true });
    execFileSync("umount", [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

test("a data directory FlowSync cannot write to is a configuration error (exit 2)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flowsync-ro-"));
  // A path below a regular file can never be created, whoever runs the test.
  writeFileSync(join(dir, "file"), "");
  const notADir = execFileSyncStatus(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", join(dir, "file", "data")]);
  assert.equal(notADir.status, 2, notADir.stderr);
  assert.match(notADir.stderr, /server\.data_dir/);
  if (root) {
    // An existing directory on a read-only file system (root can write anywhere else).
    const ro = join(dir, "ro");
    mkdirSync(ro);
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]);
    try {
      const r = execFileSyncStatus(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", ro]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /cannot write to the data directory/);
    } finally {
      execFileSync("umount", [ro]);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function execFileSyncStatus(bin, args) {
  // flowsync refuses FLOWSYNC_* variables that are not configuration keys.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOWSYNC_")));
  try {
    const stdout = execFileSync(bin, args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10000, env });
    return { status: 0, stdout: stdout.toString(), stderr: "" };
  } catch (e) {
    return { status: e.status, stdout: e.stdout?.toString() ?? "", stderr: e.stderr?.toString() ?? "" };
  }
}
