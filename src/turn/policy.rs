//! Which peers the relay may talk to. A TURN relay is an open proxy unless it refuses
//! destinations on the server's side of the firewall, so by default the relay refuses every
//! block of the IANA special-purpose registries (loopback, private, CGNAT, link-local,
//! documentation, benchmarking, reserved, multicast, translation prefixes carrying such an
//! address), and every address of this host. There are two exceptions. The first is the relay's own
//! addresses within the relay port range: two participants may both be relayed, and then each
//! one's peer is the other's relayed address. The second is `turn.allow_peers`, for LAN
//! installs and tests.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct PeerPolicy {
    /// Addresses relayed candidates are advertised on (and this host's own).
    relay_ips: Vec<IpAddr>,
    own: Vec<IpAddr>,
    allow: Vec<IpNet>,
}

/// The IANA special-purpose address registries (IPv4 and IPv6), every block that is not
/// globally reachable or that a relay has no business sending to (documentation, benchmarking,
/// reserved, multicast, discard, translation prefixes handled below), plus multicast.
const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network"
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // carrier-grade NAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local (cloud metadata lives here)
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.88.99.0/24",  // 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
];

const SPECIAL_V6: &[&str] = &[
    "::/128",         // unspecified
    "::1/128",        // loopback
    "::/96",          // IPv4-compatible (deprecated)
    "64:ff9b:1::/48", // local-use IPv4/IPv6 translation
    "100::/64",       // discard-only
    "100:0:0:1::/64", // dummy prefix
    "2001::/23",      // IETF protocol assignments (Teredo, ORCHID, benchmarking, …)
    "2001:db8::/32",  // documentation
    "3fff::/20",      // documentation
    "5f00::/16",      // segment routing SIDs
    "fc00::/7",       // unique local
    "fe80::/10",      // link-local
    "fec0::/10",      // site-local (deprecated)
    "ff00::/8",       // multicast
];

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().filter_map(|n| n.parse().ok()).collect()
}

static SPECIAL: std::sync::LazyLock<(Vec<IpNet>, Vec<IpNet>)> =
    std::sync::LazyLock::new(|| (nets(SPECIAL_V4), nets(SPECIAL_V6)));

/// Whether `ip` is in a special-purpose block. IPv6 forms that carry an IPv4 address (mapped,
/// NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address.
fn special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => SPECIAL.0.iter().any(|n| n.contains(&ip)),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let o = v6.octets();
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                return special(IpAddr::V4(std::net::Ipv4Addr::new(
                    o[12], o[13], o[14], o[15],
                )));
            }
            if seg[0] == 0x2002 {
                return special(IpAddr::V4(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5])));
            }
            SPECIAL.1.iter().any(|n| n.contains(&ip))
        }
    }
}

impl PeerPolicy {
    pub fn new(relay_ips: Vec<IpAddr>, own: Vec<IpAddr>, allow: Vec<IpNet>) -> Self {
        PeerPolicy {
            relay_ips,
            own,
            allow,
        }
    }

    /// Whether the relay may exchange data with `peer`.
    pub fn allows(&self, peer: SocketAddr) -> bool {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        !(special(ip) || self.own.contains(&ip) || self.relay_ips.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_servers_side() {
        let p = PeerPolicy::new(
            vec!["8.8.4.7".parse().unwrap()],
            vec!["8.8.4.7".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            vec!["192.168.50.0/24".parse().unwrap()],
        );
        let a = |s: &str| p.allows(s.parse().unwrap());
        assert!(a("93.184.216.34:5000"), "a public peer");
        assert!(a("[2a00:1450:4001::1]:5000"), "a public v6 peer");
        assert!(!a("127.0.0.1:8080"), "loopback");
        assert!(!a("[::1]:80"), "v6 loopback");
        assert!(!a("[::ffff:127.0.0.1]:80"), "v4-mapped loopback");
        assert!(!a("10.1.2.3:5432"), "private");
        assert!(!a("169.254.169.254:80"), "cloud metadata (link-local)");
        assert!(!a("100.64.1.1:80"), "CGNAT");
        assert!(!a("8.8.4.7:443"), "this host's service port");
        assert!(!a("8.8.4.7:3478"), "this host's TURN port");
        assert!(
            !a("8.8.4.7:50000"),
            "a relay-range port of this host: only live relays are allowed (the actor checks)"
        );
        assert!(a("192.168.50.9:6000"), "allow_peers");
        for special in [
            "0.1.2.3:80",
            "240.0.0.1:80",
            "255.255.255.255:80",
            "198.18.0.1:80",
            "198.19.255.255:80",
            "192.0.0.8:80",
            "192.0.2.1:80",
            "203.0.113.9:80",
            "224.0.0.251:5353",
            "[64:ff9b::a00:1]:80",
            "[64:ff9b::7f00:1]:80",
            "[2002:a00:1::1]:80",
            "[2001:db8::1]:80",
            "[fd00::1]:80",
            "[fe80::1]:80",
            "[ff02::1]:80",
            "[100::1]:80",
            "[::a00:1]:80",
        ] {
            assert!(!a(special), "{special}");
        }
        assert!(a("[64:ff9b::5db8:d822]:80"), "NAT64 of a public address");
    }
}
