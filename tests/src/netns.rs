//! The topology of the tests that run against the Linux kernel, built from the driver's
//! namespaces (`mptcp_tun_driver::netns`: unique names, `ip` commands, closures run inside,
//! removal on drop, also when a test panics), and the kernel's `MPTcpExt` counters.
//!
//! These tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN for `setns`), `/dev/net/tun`, the
//! `ip` command and a kernel with MPTCP; [`skip_reason`] says which is missing.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// Two namespaces joined by one or more paths: `kernel` (K), where the kernel's MPTCP sockets
/// live, and `stack` (S), which holds a TUN device of the userspace stack per path and forwards
/// between them and K. Path `i`:
///
/// ```text
///  K: k<i> 10.71.i.1 ──veth── s<i> 10.71.i.2 :S (forwarding) : mtun<i> 10.72.i.1 ──TUN── stack 10.72.i.2
///     fd00:71:i::1               fd00:71:i::2                   fd00:72:i::1              fd00:72:i::2
/// ```
///
/// (path 0 is `fd00:71::1` ... `fd00:72::2`). K routes each stack prefix via its own path, and
/// what it sends from its address on path `i` over path `i` whatever the destination (one
/// routing table per path chosen by source address, as `mptcp bench`'s topology does in
/// `socket-api/src/bin/mptcp/topology.rs` and the kernel selftests do with per-device routes:
/// a kernel subflow from an endpoint with `dev k<i>` is bound to that device). S routes by
/// destination. So a subflow between the kernel's address on path `i` and the stack's address on
/// path `j` crosses veth `i` and TUN `j`, the same way in both directions; taking `s<i>` down
/// cuts exactly the subflows of the kernel's address `i`.
///
/// The TUN devices are persistent (`ip tuntap add`) with `txqueuelen` 2000, so the kernel's
/// bursts towards the stack are not dropped at the device.
#[derive(Debug)]
pub struct Topology {
    /// The kernel peer's namespace.
    pub kernel: Netns,
    /// The stack's namespace.
    pub stack: Netns,
    /// The kernel peer's address on path 0.
    pub kernel_addr: IpAddr,
    /// The stack's address on path 0.
    pub stack_addr: IpAddr,
    /// Number of paths.
    pub paths: usize,
    /// IPv6 addresses for the peers.
    pub v6: bool,
}

/// The TUN device of the stack on path 0 of a [`Topology`].
pub const TUN: &str = "mtun0";

/// `txqueuelen` of the TUN devices (the default 500 drops the kernel's bursts, `docs/tun.md`).
const TUN_TXQUEUELEN: u32 = 2000;

/// First routing table of the per-path tables in K.
const TABLE_BASE: usize = 100;

/// Address `host` of network `net` on path `path`: `10.<net>.<path>.<host>` or
/// `fd00:<net>:<path>::<host>`.
fn addr(net: u8, path: usize, host: u8, v6: bool) -> IpAddr {
    if v6 {
        // The decimal digits of `net` and `path` read as hex, so that IPv4 10.71.1.x is fd00:71:1::x.
        let hex = |n: u16| (n / 10) * 16 + n % 10;
        IpAddr::V6(Ipv6Addr::new(0xfd00, hex(u16::from(net)), hex(path as u16), 0, 0, 0, 0, u16::from(host)))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, net, path as u8, host))
    }
}

impl Topology {
    /// Builds it with one path, with IPv6 addresses for the peers if `v6`.
    pub fn new(v6: bool) -> io::Result<Topology> {
        Topology::with_paths(v6, 1)
    }

    /// Builds it with `paths` paths (1 to 8), IPv6 addresses for the peers if `v6`.
    pub fn with_paths(v6: bool, paths: usize) -> io::Result<Topology> {
        assert!((1..=8).contains(&paths), "1 to 8 paths");
        let kernel = Netns::new(&unique_name("mptcp-test-k"))?;
        let stack = Netns::new(&unique_name("mptcp-test-s"))?;
        // No duplicate address detection, also on the link-local addresses the devices get:
        // while it runs (a second or two) IPv6 neighbour discovery holds the first packets back.
        // No reverse-path filter: a crossed subflow (kernel address i, stack address j) enters K
        // on path i from an address K routes via path j.
        for ns in [&kernel, &stack] {
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
            ns.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
        }
        let topo =
            Topology { kernel, stack, kernel_addr: addr(71, 0, 1, v6), stack_addr: addr(72, 0, 2, v6), paths, v6 };
        for i in 0..paths {
            topo.add_path(i)?;
        }
        topo.stack.sysctl("net.ipv4.ip_forward", "1")?;
        topo.stack.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        // A kernel client whose MP_CAPABLE SYNs time out must not disable MPTCP for an hour.
        topo.kernel.sysctl("net.mptcp.blackhole_timeout", "0")?;
        Ok(topo)
    }

    fn add_path(&self, i: usize) -> io::Result<()> {
        let (kernel, stack) = (&self.kernel, &self.stack);
        let (k, s, tun) = (Topology::kernel_dev(i), Topology::stack_dev(i), Topology::tun(i));
        stack.ip(&format!("link add {s} type veth peer name {k} netns {}", kernel.name()))?;
        stack.ip(&format!("tuntap add dev {tun} mode tun"))?;
        let (k4, s4, t4) = (addr(71, i, 1, false), addr(71, i, 2, false), addr(72, i, 1, false));
        let (k6, s6, t6) = (addr(71, i, 1, true), addr(71, i, 2, true), addr(72, i, 1, true));
        for cmd in [
            format!("addr add {s4}/24 dev {s}"),
            format!("addr add {s6}/64 dev {s} nodad"),
            format!("link set {s} up"),
            format!("addr add {t4}/24 dev {tun}"),
            format!("addr add {t6}/64 dev {tun} nodad"),
            format!("link set {tun} txqueuelen {TUN_TXQUEUELEN} up"),
        ] {
            stack.ip(&cmd)?;
        }
        let table = TABLE_BASE + i;
        for cmd in [
            format!("addr add {k4}/24 dev {k}"),
            format!("addr add {k6}/64 dev {k} nodad"),
            format!("link set {k} up"),
            format!("route add {}/24 via {s4} dev {k}", addr(72, i, 0, false)),
            format!("route add {}/64 via {s6} dev {k}", addr(72, i, 0, true)),
            format!("route add default via {s4} dev {k} table {table}"),
            format!("route add default via {s6} dev {k} table {table}"),
            format!("rule add from {k4} table {table}"),
            format!("-6 rule add from {k6} table {table}"),
        ] {
            kernel.ip(&cmd)?;
        }
        // Static IPv6 neighbours across the veth: neighbour discovery on fresh links held the
        // first packets back for about a second.
        let (k_mac, s_mac) = (mac(kernel, &k)?, mac(stack, &s)?);
        kernel.ip(&format!("neigh replace {s6} lladdr {s_mac} dev {k} nud permanent"))?;
        stack.ip(&format!("neigh replace {k6} lladdr {k_mac} dev {s} nud permanent"))?;
        Ok(())
    }

    /// The kernel's address on path `i`.
    pub fn kernel_addr_on(&self, i: usize) -> IpAddr {
        addr(71, i, 1, self.v6)
    }

    /// The stack's address on path `i`.
    pub fn stack_addr_on(&self, i: usize) -> IpAddr {
        addr(72, i, 2, self.v6)
    }

    /// The stack's TUN device on path `i` (in S).
    pub fn tun(i: usize) -> String {
        format!("mtun{i}")
    }

    /// The kernel's end of the veth of path `i` (in K).
    pub fn kernel_dev(i: usize) -> String {
        format!("k{i}")
    }

    /// S's end of the veth of path `i` (in S).
    pub fn stack_dev(i: usize) -> String {
        format!("s{i}")
    }
}

/// Runs `program args...` inside `ns` (`ip netns exec`) and returns its standard output; an
/// error carries its stderr.
pub fn output_in(ns: &str, program: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(["netns", "exec", ns, program]).args(args).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(io::Error::other(format!("`{program} {}` in {ns} failed: {}", args.join(" "), stderr.trim())))
    }
}
