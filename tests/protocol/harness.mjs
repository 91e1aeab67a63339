// Test harness: starts the built flowsync binary on 127.0.0.1:0 with its own data directory,
// and helpers for REST calls and socket.io-client connections.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

export const BIN = process.env.FLOWSYNC_BIN || new URL("../../target/debug/flowsync", import.meta.url).pathname;

/** Starts `flowsync serve`; resolves once it logs its URL. `listen` keeps an address across
 * restarts (clients reconnect to the same URL). */
export async function startServer({ env = {}, dataDir, listen = "127.0.0.1:0" } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), "flowsync-proto-"));
  const childEnv = { ...process.env, FLOWSYNC_LOG__LEVEL: "info", FLOWSYNC_ROOMS__RECONNECT_GRACE: "2s", ...env };
  // flowsync refuses FLOWSYNC_* variables that are not configuration keys.
  for (const k of Object.keys(childEnv)) if (k.startsWith("FLOWSYNC_TEST") || k === "FLOWSYNC_BIN") delete childEnv[k];
  const child = spawn(BIN, ["serve", "--listen", listen, "--data-dir", join(dir, "data")], {
    env: childEnv,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines = createInterface({ input: child.stderr });
  const log = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no readiness line:\n${log.join("\n")}`)), 20000);
    child.on("exit", (code) => reject(new Error(`flowsync exited with ${code}:\n${log.join("\n")}`)));
    lines.on("line", (line) => {
      log.push(line);
      const m = line.match(/url=(https?:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    url,
    dir,
    log,
    child,
    env,
    async stop({ keepData = false, signal = "SIGTERM" } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill(signal);
        await exited;
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port free on loopback now (for a server restarted on the same address). */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function api(server, method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json, headers: res.headers };
}

export async function createRoom(server, body = {}) {
  const r = await api(server, "POST", "/api/rooms", { display_name: "Host", ...body });
  if (r.status !== 201) throw new Error(`create room: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function joinRoom(server, code, body = {}) {
  const r = await api(server, "POST", `/api/rooms/${code}/join`, { display_name: "Guest", ...body });
  if (r.status !== 200) throw new Error(`join: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A socket.io-client connection that records every event it receives. */
export function connect(server, token, opts = {}) {
  const socket = io(server.url, {
    auth: token === undefined ? undefined : { token },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    ...opts,
  });
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, data: args[0], at: Date.now() }));
  return socket;
}

/** Resolves with the payload of the next `event` (or one already received matching `pred`). */
export function next(socket, event, pred = () => true, ms = 5000) {
  const seen = socket.received.find((r) => r.event === event && pred(r.data) && !r.consumed);
  if (seen) {
    seen.consumed = true;
    return Promise.resolve(seen.data);
  }
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    const on = (data) => {
      if (!pred(data)) return;
      clearTimeout(t);
      socket.off(event, on);
      const rec = socket.received.find((r) => r.event === event && r.data === data);
      if (rec) rec.consumed = true;
      resolve(data);
    };
    socket.on(event, on);
  });
}

/** Connects and resolves with the `room-joined` snapshot. */
export async function enter(server, token, opts) {
  const socket = connect(server, token, opts);
  const joined = await next(socket, "room-joined");
  return { socket, joined };
}

/** Emits with an acknowledgement. */
export function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for ${event}`)), 5000);
    socket.emit(event, ...args, (ack) => {
      clearTimeout(t);
      resolve(ack);
    });
  });
}

/** Resolves with the connect_error of a refused handshake. */
export function refused(server, token) {
  const socket = connect(server, token);
  return new Promise((resolve, reject) => {
    socket.on("connect", () => reject(new Error("the handshake was accepted")));
    socket.on("connect_error", (err) => {
      socket.close();
      resolve(err);
    });
  });
}

/** Resolves once nothing matching arrives within `ms` (to prove something did NOT happen). */
export async function quiet(socket, event, ms = 300) {
  const before = socket.received.filter((r) => r.event === event).length;
  await new Promise((r) => setTimeout(r, ms));
  return socket.received.filter((r) => r.event === event).length === before;
}
