//! The topology of the tests that run against the Linux kernel, built from the driver's
//! namespaces (`mptcp_tun_driver::netns`: unique names, `ip` commands, closures run inside,
//! removal on drop, also when a test panics), and the kernel's `MPTcpExt` counters.
//!
//! These tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN for `setns`), `/dev/net/tun`, the
//! `ip` command and a kernel with MPTCP; [`skip_reason`] says which is missing.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::process::Command;

pub use mptcp_tun_driver::netns::Netns;
use mptcp_tun_driver::netns::{has_net_admin, unique_name};

/// Why the kernel tests cannot run here, or `None` if they can.
pub fn skip_reason() -> Option<String> {
    if has_net_admin() != Some(true) {
        return Some("not running as root (CAP_NET_ADMIN is needed for namespaces and TUN devices)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        return Some("the kernel has no MPTCP (/proc/sys/net/mptcp/enabled is missing)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("the `ip` command (iproute2) is missing".into()),
    }
}

/// The MAC address of interface `dev` in `ns` (`ip -o link show`).
fn mac(ns: &Netns, dev: &str) -> io::Result<String> {
    let out = Command::new("ip").args(["-n", ns.name(), "-o", "link", "show", dev]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "link/ether")
        .and_then(|_| words.next())
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("no MAC address for {dev} in {}: {text}", ns.name())))
}

/// The kernel's `MPTcpExt*` counters in `ns` (what `nstat -az | grep MPTcpExt` shows), without
/// the prefix.
pub fn mptcp_counters(ns: &Netns) -> io::Result<BTreeMap<String, u64>> {
    Ok(ns.netstat("MPTcpExt")?.into_iter().collect())
}

/// Two namespaces: `kernel` (K), where the kernel's MPTCP sockets live, and `stack` (S), which
/// holds the TUN device of the userspace stack and forwards between it and K:
///
/// ```text
///  K: k0 10.71.0.1 ──veth── s0 10.71.0.2 :S (forwarding) : mtun0 10.72.0.1 ──TUN── stack 10.72.0.2
///     fd00:71::1                fd00:71::2                 fd00:72::1                fd00:72::2
/// ```
///
/// K routes the stack's prefix via S; the TUN device is persistent (`ip tuntap add`) with
/// `txqueuelen` 2000, so the kernel's bursts towards the stack are not dropped at the device.
#[derive(Debug)]
pub struct Topology {
    /// The kernel peer's namespace.
    pub kernel: Netns,
    /// The stack's namespace.
    pub stack: Netns,
    /// The kernel peer's address.
    pub kernel_addr: IpAddr,
    /// The stack's address.
    pub stack_addr: IpAddr,
}

/// The TUN device of the stack in [`Topology`].
pub const TUN: &str = "mtun0";

impl Topology {
    /// Builds it, with IPv6 addresses for the peers if `v6`.
    pub fn new(v6: bool) -> io::Result<Topology> {
        let kernel = Netns::new(&unique_name("mptcp-test-k"))?;
        let stack = Netns::new(&unique_name("mptcp-test-s"))?;
        // No duplicate address detection, also on the link-local addresses the devices get:
        // while it runs (a second or two) IPv6 neighbour discovery holds the first packets back.
        for ns in [&kernel, &stack] {
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        }
        stack.ip(&format!("link add s0 type veth peer name k0 netns {}", kernel.name()))?;
        stack.ip(&format!("tuntap add dev {TUN} mode tun"))?;
        for cmd in [
            "addr add 10.71.0.2/24 dev s0",
            "addr add fd00:71::2/64 dev s0 nodad",
            "link set s0 up",
            "addr add 10.72.0.1/24 dev mtun0",
            "addr add fd00:72::1/64 dev mtun0 nodad",
            "link set mtun0 txqueuelen 2000 up",
        ] {
            stack.ip(cmd)?;
        }
        for cmd in [
            "addr add 10.71.0.1/24 dev k0",
            "addr add fd00:71::1/64 dev k0 nodad",
            "link set k0 up",
            "route add 10.72.0.0/24 via 10.71.0.2",
            "route add fd00:72::/64 via fd00:71::2",
        ] {
            kernel.ip(cmd)?;
        }
        // Static IPv6 neighbours across the veth: neighbour discovery on fresh links held the
        // first packets back for about a second.
        let (k_mac, s_mac) = (mac(&kernel, "k0")?, mac(&stack, "s0")?);
        kernel.ip(&format!("neigh replace fd00:71::2 lladdr {s_mac} dev k0 nud permanent"))?;
        stack.ip(&format!("neigh replace fd00:71::1 lladdr {k_mac} dev s0 nud permanent"))?;
        stack.sysctl("net.ipv4.ip_forward", "1")?;
        stack.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        stack.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        stack.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
        // A kernel client whose MP_CAPABLE SYNs time out must not disable MPTCP for an hour.
        kernel.sysctl("net.mptcp.blackhole_timeout", "0")?;
        let (kernel_addr, stack_addr) = if v6 {
            ("fd00:71::1".parse().expect("valid"), "fd00:72::2".parse().expect("valid"))
        } else {
            ("10.71.0.1".parse().expect("valid"), "10.72.0.2".parse().expect("valid"))
        };
        Ok(Topology { kernel, stack, kernel_addr, stack_addr })
    }
}
