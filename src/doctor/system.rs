//! Facts about this host that `init` (pre-flight) and `doctor` both read: OS, CPUs, memory,
//! free disk, local addresses, which process holds a port, systemd, clock synchronisation and
//! file limits. Each returns what it can and says plainly when it cannot tell.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// `PRETTY_NAME` from `/etc/os-release`.
pub fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Total memory in bytes (`MemTotal` of `/proc/meminfo`).
pub fn memory_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Space on the filesystem holding `path` (or its nearest existing parent).
#[derive(Debug, Clone, Copy)]
pub struct Disk {
    pub total: u64,
    pub free: u64,
}

pub fn disk(path: &Path) -> Option<Disk> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    let frag = st.fragment_size() as u64;
    Some(Disk {
        total: st.blocks() as u64 * frag,
        free: st.blocks_available() as u64 * frag,
    })
}

/// The addresses of this host's interfaces.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(sa) = a.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                out.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Who holds a TCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// Held by a process we could name.
    Held {
        pid: u32,
        name: String,
    },
    /// In use by a process we cannot look into (it runs with privileges this user lacks, as
    /// the service does with its one capability), but whose owner the socket table names.
    HeldByUser {
        uid: u32,
        user: String,
    },
    /// In use, by a process we cannot see (not root, or another namespace).
    HeldUnknown(String),
    /// The address is not one of this host's.
    NotLocal,
}

impl PortState {
    /// FlowSync holds it: the `flowsync` program, or (seen without the right to name the
    /// process) a socket of the service account.
    pub fn is_flowsync(&self) -> bool {
        match self {
            PortState::Held { name, .. } => name == "flowsync",
            PortState::HeldByUser { user, .. } => user == crate::ownership::SERVICE_USER,
            _ => false,
        }
    }
}

/// Tries to bind the address (released at once); when that fails, looks for a listener on the
/// port in `/proc/net/tcp*` and names its process. A privileged port this user may not bind,
/// with no listener, counts as free (the unit grants CAP_NET_BIND_SERVICE).
pub fn port_state(addr: SocketAddr) -> PortState {
    let err = match std::net::TcpListener::bind(addr) {
        Ok(_) => return PortState::Free,
        Err(e) => e,
    };
    held_state(err, listening_inodes(addr.port()))
}

/// The same for a UDP port (the STUN/TURN listener): bound by nobody, by whom, or not local.
pub fn udp_port_state(addr: SocketAddr) -> PortState {
    let err = match std::net::UdpSocket::bind(addr) {
        Ok(_) => return PortState::Free,
        Err(e) => e,
    };
    held_state(
        err,
        socket_inodes(&["/proc/net/udp", "/proc/net/udp6"], None, addr.port()),
    )
}

fn held_state(err: std::io::Error, sockets: Vec<Socket>) -> PortState {
    if err.kind() == std::io::ErrorKind::AddrNotAvailable {
        return PortState::NotLocal;
    }
    if sockets.is_empty() {
        return if err.kind() == std::io::ErrorKind::AddrInUse {
            PortState::HeldUnknown(err.to_string())
        } else {
            PortState::Free
        };
    }
    let inodes: Vec<String> = sockets.iter().map(|s| s.inode.clone()).collect();
    match process_with_socket(&inodes) {
        Some((pid, name)) => PortState::Held { pid, name },
        None => {
            let uid = sockets[0].uid;
            match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
                Ok(Some(u)) => PortState::HeldByUser { uid, user: u.name },
                _ => PortState::HeldUnknown(err.to_string()),
            }
        }
    }
}

/// The pid and command name of the process listening on a TCP port, if visible.
pub fn listener_process(port: u16) -> Option<(u32, String)> {
    let inodes: Vec<String> = listening_inodes(port)
        .into_iter()
        .map(|s| s.inode)
        .collect();
    process_with_socket(&inodes)
}

fn listening_inodes(port: u16) -> Vec<Socket> {
    socket_inodes(&["/proc/net/tcp", "/proc/net/tcp6"], Some("0A"), port)
}

/// A socket from a `/proc/net` table: its inode (as `/proc/PID/fd` links name it) and owner.
struct Socket {
    inode: String,
    uid: u32,
}

/// Sockets in `/proc/net` tables on local `port`, in `state` when given (0A: LISTEN).
fn socket_inodes(tables: &[&str], state: Option<&str>, port: u16) -> Vec<Socket> {
    let mut inodes = Vec::new();
    for table in tables {
        let Ok(s) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in s.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, uid is field 7, inode 9.
            if f.len() > 9
                && state.is_none_or(|st| f[3] == st)
                && f[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
            {
                inodes.push(Socket {
                    inode: format!("socket:[{}]", f[9]),
                    uid: f[7].parse().unwrap_or(u32::MAX),
                });
            }
        }
    }
    inodes
}

fn process_with_socket(inodes: &[String]) -> Option<(u32, String)> {
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default();
                return Some((pid, name));
            }
        }
    }
    None
}

/// Whether systemd is the init system here (`/run/systemd/system` exists).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Runs a command and returns its trimmed stdout when it succeeds. Asynchronous and killed when
/// dropped, so a doctor check's deadline also ends a hung `timedatectl` or `systemctl`.
pub async fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Clock synchronisation as the system reports it: `Some(true/false)` from timedatectl or
/// chrony, `None` when nothing here can tell.
pub async fn clock_synchronised() -> Option<bool> {
    if systemd_running()
        && let Some(v) = output("timedatectl", &["show", "-p", "NTPSynchronized", "--value"]).await
    {
        return Some(v == "yes");
    }
    if let Some(v) = output("chronyc", &["-n", "tracking"]).await {
        return Some(!v.contains("Not synchronised"));
    }
    None
}

/// The soft and hard open-file limits of this process.
pub fn nofile_limits() -> Option<(u64, u64)> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()
}

/// `Max open files` of a running process, from `/proc/PID/limits` (soft limit).
pub fn process_nofile(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises this process's soft open-file limit to its hard limit (what `serve` does at start, as
/// Go and Node do), returning the new soft limit.
pub fn raise_nofile() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
        return Some(hard);
    }
    Some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_udp_port_is_held_by_this_process() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        match udp_port_state(addr) {
            PortState::Held { pid, .. } => assert_eq!(pid, std::process::id()),
            PortState::HeldUnknown(_) => {} // /proc not readable here
            other => panic!("a bound UDP port reported {other:?}"),
        }
        drop(s);
        assert!(matches!(udp_port_state(addr), PortState::Free));
    }

    #[test]
    fn a_bound_port_is_held_by_this_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        match port_state(addr) {
            PortState::Held { pid, .. } => assert_eq!(pid, std::process::id()),
            PortState::HeldUnknown(_) => {} // /proc not readable here
            other => panic!("a listening port reported {other:?}"),
        }
        drop(l);
        assert_eq!(port_state(addr), PortState::Free);
    }

    #[test]
    fn units() {
        assert!(disk(Path::new("/tmp/does/not/exist")).is_some_and(|d| d.total > 0));
        assert!(local_addresses().iter().any(|a| a.is_loopback()));
    }
}
