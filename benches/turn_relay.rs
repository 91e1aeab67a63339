//! Benchmark of the embedded TURN relay (issue 10's targets: ≥ 200 Mbit/s of 1200-byte packets on
//! one core, < 1 ms added latency at p99, ≤ 64 KiB per allocation).
//!
//! Run: `cargo bench --bench turn_relay` (prints a table; `-- --json` for one JSON line).
//!
//! It starts the release `flowsync serve` with the embedded TURN server on loopback, pinned to
//! CPU 0 with `taskset` when there are two CPUs or more, and pins itself to CPU 1. Then:
//! - throughput: one UDP allocation sends 1200-byte packets (Send indications) through the
//!   relay to a UDP peer for 3 s; the peer counts what arrives (delivered, not offered);
//! - latency: 5,000 ping-pongs client → relay → peer → relay → client, against the same ping-pong
//!   between two plain loopback sockets; the difference is what the relay adds;
//! - memory: the server's RSS before and after 1,000 more allocations, per allocation.

// A benchmark harness: a failed set-up step ends it with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowsync::turn::client::{Client, Transport};
use tokio::net::UdpSocket;

const PACKET: usize = 1200;
const SECRET: &str = "bench-secret";

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
    s.local_addr().expect("bound").port()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(data: &std::path::Path, turn_port: u16) -> Server {
    let bin = env!("CARGO_BIN_EXE_flowsync");
    let mut cmd = if cpus() >= 2 && Command::new("taskset").arg("-V").output().is_ok() {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .arg("--data-dir")
        .arg(data)
        .env("FLOWSYNC_TURN__MODE", "embedded")
        .env("FLOWSYNC_TURN__LISTEN", format!("127.0.0.1:{turn_port}"))
        .env("FLOWSYNC_TURN__SHARED_SECRET", SECRET)
        .env("FLOWSYNC_TURN__EXTERNAL_IP", "127.0.0.1")
        .env("FLOWSYNC_TURN__ALLOW_PEERS", "127.0.0.0/8")
        .env("FLOWSYNC_TURN__RELAY_PORTS", "42000-44999")
        .env("FLOWSYNC_TURN__MAX_ALLOCATIONS", "5000")
        .env("FLOWSYNC_TURN__USER_QUOTA", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Server(cmd.spawn().expect("flowsync serve starts"))
}

fn credential(who: &str) -> (String, String) {
    let expiry = flowsync::timefmt::unix_now() + 3600;
    flowsync::ice::rest_credential(SECRET.as_bytes(), who, expiry)
}

async fn allocation(server: SocketAddr, who: &str) -> (Client, SocketAddr) {
    let (u, p) = credential(who);
    let mut c = Client::connect(server, Transport::Udp, &u, &p)
        .await
        .expect("connects");
    let relayed = c.allocate(Duration::from_secs(5)).await.expect("allocates");
    (c, relayed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let json = std::env::args().any(|a| a == "--json");
    if cpus() >= 2 {
        let mut set = nix::sched::CpuSet::new();
        if set.set(1).is_ok() {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = start_server(dir.path(), port);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Ready when an allocation works.
    let started = Instant::now();
    let (mut client, relayed) = loop {
        let (u, p) = credential("bench");
        if let Ok(mut c) = Client::connect(addr, Transport::Udp, &u, &p).await
            && let Ok(r) = c.allocate(Duration::from_millis(500)).await
        {
            break (c, r);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the TURN server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer socket");
    let peer_addr = peer.local_addr().expect("peer address");
    client
        .permit(peer_addr.ip(), Duration::from_secs(5))
        .await
        .expect("permission");

    // Latency: ping-pong through the relay, then the same between two plain sockets.
    let rounds = 5000;
    let mut buf = vec![0u8; 2048];
    let mut relayed_rtt = Vec::with_capacity(rounds);
    let payload = vec![7u8; PACKET];
    for _ in 0..rounds {
        let t = Instant::now();
        client.send(peer_addr, &payload).await.expect("send");
        let (n, from) = peer.recv_from(&mut buf).await.expect("peer receives");
        assert_eq!((n, from), (PACKET, relayed));
        peer.send_to(&buf[..n], relayed)
            .await
            .expect("peer answers");
        client
            .recv(Duration::from_secs(2))
            .await
            .expect("the answer comes back");
        relayed_rtt.push(t.elapsed());
    }
    let a = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let b = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let b_addr = b.local_addr().expect("address");
    let a_addr = a.local_addr().expect("address");
    let mut direct_rtt = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        a.send_to(&payload, b_addr).await.expect("send");
        let (n, _) = b.recv_from(&mut buf).await.expect("recv");
        b.send_to(&buf[..n], a_addr).await.expect("send");
        a.recv_from(&mut buf).await.expect("recv");
        direct_rtt.push(t.elapsed());
    }
    relayed_rtt.sort();
    direct_rtt.sort();

    // Throughput: the client sends for 3 s; the peer counts in its own task.
    let counter = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut bytes = 0u64;
        let mut first = None;
        let mut last = Instant::now();
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), peer.recv_from(&mut buf)).await
        {
            first.get_or_insert_with(Instant::now);
            last = Instant::now();
            bytes += n as u64;
        }
        let span = first.map_or(Duration::ZERO, |f| last - f);
        (bytes, span)
    });
    let stop = Instant::now() + Duration::from_secs(3);
    let mut sent = 0u64;
    while Instant::now() < stop {
        for _ in 0..64 {
            client.send(peer_addr, &payload).await.expect("send");
            sent += 1;
        }
        tokio::task::yield_now().await;
    }
    let (delivered, span) = counter.await.expect("counter");
    let mbit = delivered as f64 * 8.0 / span.as_secs_f64().max(1e-9) / 1e6;
    let delivered_pct = delivered as f64 / (sent * PACKET as u64) as f64 * 100.0;

    // Memory: 1,000 more allocations.
    let pid = server.0.id();
    let before = flowsync::bench::rss_kib(pid);
    let mut held = Vec::with_capacity(1000);
    for i in 0..1000 {
        held.push(allocation(addr, &format!("m{i}")).await);
    }
    // Each allocation above was confirmed by the server, so its socket and state exist now.
    let after = flowsync::bench::rss_kib(pid);
    let per_alloc_kib = after.saturating_sub(before) as f64 / 1000.0;
    drop(held);

    let (p50, p99) = (
        percentile(&relayed_rtt, 0.5),
        percentile(&relayed_rtt, 0.99),
    );
    let (d50, d99) = (percentile(&direct_rtt, 0.5), percentile(&direct_rtt, 0.99));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "throughput_mbit_s": mbit,
                "delivered_percent": delivered_pct,
                "relayed_rtt_us": {"p50": us(p50), "p99": us(p99)},
                "direct_rtt_us": {"p50": us(d50), "p99": us(d99)},
                "added_us": {"p50": us(p50) - us(d50), "p99": us(p99) - us(d99)},
                "rss_per_allocation_kib": per_alloc_kib,
                "server_rss_kib": after,
            })
        );
    } else {
        println!("TURN relay, {PACKET}-byte packets, server pinned to CPU 0, client to CPU 1");
        println!(
            "throughput      {mbit:>8.0} Mbit/s delivered ({delivered_pct:.1} % of what was sent)"
        );
        println!(
            "round trip      relayed p50 {:>6.0} µs  p99 {:>6.0} µs",
            us(p50),
            us(p99)
        );
        println!(
            "                direct  p50 {:>6.0} µs  p99 {:>6.0} µs",
            us(d50),
            us(d99)
        );
        println!(
            "added by relay  p50 {:>6.0} µs  p99 {:>6.0} µs (two relay passes per round trip)",
            us(p50) - us(d50),
            us(p99) - us(d99)
        );
        println!(
            "memory          {per_alloc_kib:.1} KiB RSS per allocation (server RSS {after} KiB)"
        );
    }
    drop(server);
}
