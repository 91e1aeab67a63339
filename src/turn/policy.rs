//! Which peers the relay may talk to. A TURN relay is an open proxy unless it refuses
//! destinations on the server's side of the firewall, so by default the relay refuses
//! loopback, unspecified, multicast, link-local and private (RFC 1918, ULA, CGNAT) addresses, and
//! every address of this host. There are two exceptions. The first is the relay's own
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

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
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
        !(private(ip) || self.own.contains(&ip) || self.relay_ips.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_servers_side() {
        let p = PeerPolicy::new(
            vec!["203.0.113.7".parse().unwrap()],
            vec!["203.0.113.7".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            vec!["192.168.50.0/24".parse().unwrap()],
        );
        let a = |s: &str| p.allows(s.parse().unwrap());
        assert!(a("198.51.100.20:5000"), "a public peer");
        assert!(!a("127.0.0.1:8080"), "loopback");
        assert!(!a("[::1]:80"), "v6 loopback");
        assert!(!a("[::ffff:127.0.0.1]:80"), "v4-mapped loopback");
        assert!(!a("10.1.2.3:5432"), "private");
        assert!(!a("169.254.169.254:80"), "cloud metadata (link-local)");
        assert!(!a("100.64.1.1:80"), "CGNAT");
        assert!(!a("203.0.113.7:443"), "this host's service port");
        assert!(!a("203.0.113.7:3478"), "this host's TURN port");
        assert!(
            !a("203.0.113.7:50000"),
            "a relay-range port of this host: only live relays are allowed (the actor checks)"
        );
        assert!(a("192.168.50.9:6000"), "allow_peers");
    }
}
