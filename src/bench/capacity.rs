//! What one host should hold, from the figures `flowsync bench` measured (docs/performance.md).
//! `flowsync init` prints it in its pre-flight so a sysadmin sizing a VPS
//! gets an answer before installing.
//!
//! The limits, in the order they bind on small hosts:
//! - memory: each connected participant costs the server [`KIB_PER_SOCKET`] (measured with
//!   15,000 sockets that have all carried offer-sized frames); half of the host's memory is left
//!   to the system, the database and page cache;
//! - open files: the systemd unit raises `LimitNOFILE` to [`NOFILE`]; a few hundred stay in reserve;
//! - signaling: one core relays about [`RELAYS_PER_CORE`] offer/answer/candidate messages a
//!   second within 25 ms p99. A steady co-working room signals little; the budget is spent when
//!   people join (a 10-person mesh negotiation is ~900 messages), so it is stated as joins.

/// Server memory per connected participant, KiB. An idle socket holds 13.5
/// (`scripts/bench.sh idle`), but every participant sends and receives SDP offers of 3-6 KB
/// when it joins, and those frames pass through the WebSocket layer's buffers: with 15,000
/// sockets the server peaked at 312 MB (19.0 KiB each) during 60 s of `scripts/bench.sh relay`
/// (every tenth message an offer), and at 318-321 MB (19.4-19.6 KiB) in 20 s runs at twice the
/// rate. (Before the patched tungstenite of vendor/ freed its write buffer after a large frame,
/// buffers kept the largest frame for the connection's life: 36-37 KiB each.)
pub const KIB_PER_SOCKET: u64 = 20;
/// Resident memory of an idle server, MiB (`scripts/bench-startup.sh`: 18).
pub const BASE_MIB: u64 = 25;
/// `LimitNOFILE` of systemd/flowsync.service.
pub const NOFILE: u64 = 65_536;
/// Relayed signaling messages per second one core sustains at p99 ≤ 25 ms
/// (`scripts/bench.sh relay --rate 5.333`: 16,000/s at p99 12 ms; 24,000/s misses).
pub const RELAYS_PER_CORE: u64 = 16_000;
/// Messages of one participant's join into a room of 5 (offer, answer, 20 candidates each way
/// with each of 4 peers).
const MESSAGES_PER_JOIN: u64 = 4 * (2 + 2 * 20);

/// Participants (sockets) and rooms of `per_room` one host holds, and joins per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub sockets: u64,
    pub rooms: u64,
    pub joins_per_s: u64,
    /// Whether memory (not open files) is what limits `sockets`.
    pub memory_bound: bool,
}

pub fn estimate(memory_bytes: u64, cpus: usize, per_room: u64) -> Estimate {
    let budget_kib = (memory_bytes / 1024 / 2).saturating_sub(BASE_MIB * 1024);
    let by_memory = budget_kib / KIB_PER_SOCKET;
    let by_files = NOFILE - 512;
    let sockets = by_memory.min(by_files);
    Estimate {
        sockets,
        rooms: sockets / per_room.max(1),
        joins_per_s: RELAYS_PER_CORE * cpus.max(1) as u64 / MESSAGES_PER_JOIN,
        memory_bound: by_memory < by_files,
    }
}

/// One line for `flowsync init`'s pre-flight.
pub fn summary(memory_bytes: Option<u64>, cpus: usize) -> String {
    let Some(memory) = memory_bytes else {
        return "capacity: unknown (the host's memory could not be read)".into();
    };
    let e = estimate(memory, cpus, 5);
    format!(
        "capacity: about {} participants ({} rooms of 5; limited by {}), and {} joins/s of \
         signaling; measured with `flowsync bench` (docs/performance.md)",
        e.sockets,
        e.rooms,
        if e.memory_bound {
            "memory, half of it left to the system"
        } else {
            "open files, LimitNOFILE"
        },
        e.joins_per_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_gib_vps_is_bound_by_memory_and_a_big_host_by_open_files() {
        let small = estimate(1 << 30, 1, 5);
        assert!(small.memory_bound);
        // (512 MiB - 25 MiB) / 20 KiB
        assert_eq!(small.sockets, (512 - 25) * 1024 / 20);
        assert_eq!(small.rooms, small.sockets / 5);
        assert_eq!(small.joins_per_s, 16_000 / 168);
        let big = estimate(64 << 30, 8, 5);
        assert!(!big.memory_bound);
        assert_eq!(big.sockets, NOFILE - 512);
        assert!(summary(Some(1 << 30), 1).contains("rooms of 5"));
        assert!(summary(None, 1).contains("unknown"));
    }
}
