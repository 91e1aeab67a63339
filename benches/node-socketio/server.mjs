// The Node.js Socket.io column of FlowSync's benchmarks: the same minimal protocol as
// examples/bare_socketioxide.rs (REST seats, handshake auth, room-joined, relayed
// offer/answer/ice-candidate with `from`), on Socket.io 4.8.1 with websocket transport.
// Usage: node server.mjs [host:port]   (scripts/bench.sh runs it with BENCH_SERVER=node)
import { createServer } from "node:http";
import { Server } from "socket.io";

const [host, port] = (process.argv[2] ?? "127.0.0.1:18082").split(":");
const tokens = new Map(); // token -> [room, participant]
const members = new Map(); // room -> [participant]
let next = 0;

function seat(room) {
  next += 1;
  const pid = `p${next}`;
  const token = `t${next}-${room}`;
  tokens.set(token, [room, pid]);
  if (!members.has(room)) members.set(room, []);
  members.get(room).push(pid);
  return { room_code: room, participant_id: pid, token };
}

const http = createServer((req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  req.resume();
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/readyz") return reply(200, { ok: true });
    if (req.method === "POST" && req.url === "/api/rooms") {
      next += 1;
      return reply(200, seat(`room${next}`));
    }
    const m = req.method === "POST" && req.url.match(/^\/api\/rooms\/([^/]+)\/join$/);
    if (m) return reply(200, seat(m[1]));
    reply(404, { error: "not found" });
  });
});

const io = new Server(http, { transports: ["websocket", "polling"], maxHttpBufferSize: 64 * 1024 });
io.on("connection", (socket) => {
  const seatOf = tokens.get(socket.handshake.auth?.token);
  if (!seatOf) return socket.disconnect(true);
  const [room, pid] = seatOf;
  socket.join([`r:${room}`, `p:${pid}`]);
  socket.emit("room-joined", { participants: members.get(room).map((p) => ({ participant_id: p })) });
  for (const event of ["offer", "answer", "ice-candidate"]) {
    socket.on(event, (data, ack) => {
      if (data && typeof data === "object") io.to(`p:${data.to}`).emit(event, { ...data, from: pid });
      if (typeof ack === "function") ack({ ok: true });
    });
  }
});

http.listen(Number(port), host, () => console.error(`node socket.io listening on http://${host}:${port}`));
