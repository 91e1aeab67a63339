//! The listening UDP socket's datagrams with the address each was sent to, and answers sent
//! from that address (IP_PKTINFO / IPV6_PKTINFO). Bound to the wildcard on a host with several
//! addresses (a floating or failover address next to the primary one), the kernel would answer
//! from its own choice of source, and a client that sent to another address drops the answer.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel for each datagram's destination address. Only a wildcard bind needs it:
/// a socket bound to one address answers from it anyway.
pub(super) fn track_destinations(sock: &UdpSocket) -> std::io::Result<bool> {
    let local = sock.local_addr()?;
    if !local.ip().is_unspecified() {
        return Ok(false);
    }
    // IPv4 datagrams on a dual-stack socket report IP_PKTINFO; IPv6 ones IPV6_PKTINFO.
    setsockopt(sock, sockopt::Ipv4PacketInfo, &true)?;
    if local.is_ipv6() {
        setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true)?;
    }
    Ok(true)
}

/// Receives one datagram: its length, sender, and the local address it was sent to when the
/// socket tracks destinations.
pub(super) async fn recv(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    sock.async_io(Interest::READABLE, || {
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::in_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )?;
        let from = msg
            .address
            .and_then(|a| socket_addr(&a))
            .ok_or_else(|| std::io::Error::other("a datagram without a sender address"))?;
        let mut local = None;
        for c in msg.cmsgs()? {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    local = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        Ok((msg.bytes, from, local))
    })
    .await
}

/// Sends `data` to `to`, from the local address `from` when given (the one the client sent
/// to), else from the kernel's choice.
pub(super) async fn send(
    sock: &UdpSocket,
    data: &[u8],
    to: SocketAddr,
    from: Option<IpAddr>,
) -> std::io::Result<usize> {
    let Some(from) = from else {
        return sock.send_to(data, to).await;
    };
    let dest = SockaddrStorage::from(to);
    // An IPv4 client of a dual-stack socket is written to as a v4-mapped address; its source
    // is given as IP_PKTINFO, which Linux takes on an IPv6 socket for v4-mapped destinations.
    let v4 = match from {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(ip) => ip.to_ipv4_mapped(),
    };
    let info4 = v4.map(|ip| libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    });
    let info6 = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: match from {
                IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
                IpAddr::V6(ip) => ip.octets(),
            },
        },
        ipi6_ifindex: 0,
    };
    let cmsg = [match &info4 {
        Some(info) => ControlMessage::Ipv4PacketInfo(info),
        None => ControlMessage::Ipv6PacketInfo(&info6),
    }];
    sock.async_io(Interest::WRITABLE, || {
        let iov = [IoSlice::new(data)];
        sendmsg(
            sock.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            Some(&dest),
        )
        .map_err(std::io::Error::from)
    })
    .await
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}
