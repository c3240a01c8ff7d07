//! Network namespaces for the tests that run against the Linux kernel: unique names (process id
//! and a counter), `ip` commands inside them, closures run on a thread that entered one, the
//! kernel's `MPTcpExt` counters of one, and removal on drop, also when a test panics.
//!
//! These tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN for `setns`), `/dev/net/tun`, the
//! `ip` command and a kernel with MPTCP; [`skip_reason`] says which is missing.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use mptcp_tun_driver::netns::{enter_netns, has_net_admin};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

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

/// Runs a command; an error carries its stderr.
pub fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program).args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace named `mptcp-<pid>-<n>-<tag>`, with its loopback up.
    pub fn new(tag: &str) -> io::Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("mptcp-{}-{n}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip("link set lo up")?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where `ip netns` keeps it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n NAME <args>` (arguments split on whitespace).
    pub fn ip(&self, args: &str) -> io::Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend(args.split_whitespace());
        run("ip", &all)
    }

    /// The MAC address of interface `dev` (`ip -o link show`).
    pub fn mac(&self, dev: &str) -> io::Result<String> {
        let out = Command::new("ip").args(["-n", &self.name, "-o", "link", "show", dev]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "link/ether")
            .and_then(|_| words.next())
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("no MAC address for {dev} in {}: {text}", self.name)))
    }

    /// Sets a sysctl inside it (`net.mptcp.enabled`, `net.ipv4.ip_forward`, ...).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        self.run(move || std::fs::write(&path, value))?
            .map_err(|e| io::Error::other(format!("sysctl {key}={value} in {}: {e}", self.name)))
    }

    /// Runs `f` on a new thread that entered this namespace; waits for it. A panic in `f`
    /// becomes an error.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                enter_netns(&path)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread in the namespace panicked")))
        })
    }

    /// Starts `f` on a new thread that entered this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<io::Result<T>> {
        let path = self.path();
        std::thread::spawn(move || {
            enter_netns(&path)?;
            Ok(f())
        })
    }

    /// The kernel's `MPTcpExt*` counters in this namespace (what `nstat -az | grep MPTcpExt`
    /// shows), without the prefix.
    pub fn mptcp_counters(&self) -> io::Result<BTreeMap<String, u64>> {
        let text = self.run(|| std::fs::read_to_string("/proc/thread-self/net/netstat"))??;
        Ok(parse_netstat(&text, "MPTcpExt"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes the devices in it once no thread or socket holds it.
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// The counters of group `group` in `/proc/net/netstat` text (pairs of lines: names, values).
pub fn parse_netstat(text: &str, group: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{group}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    let mut out = BTreeMap::new();
    if let [names, values] = lines[..] {
        for (n, v) in names.split_whitespace().skip(1).zip(values.split_whitespace().skip(1)) {
            out.insert(n.to_owned(), v.parse().unwrap_or(0));
        }
    }
    out
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
        let kernel = Netns::new("k")?;
        let stack = Netns::new("s")?;
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
        let (k_mac, s_mac) = (kernel.mac("k0")?, stack.mac("s0")?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_groups() {
        let text = "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX DSSNotMatching\nMPTcpExt: 3 0\n";
        let c = parse_netstat(text, "MPTcpExt");
        assert_eq!(c.get("MPCapableSYNRX"), Some(&3));
        assert_eq!(c.get("DSSNotMatching"), Some(&0));
        assert_eq!(c.len(), 2);
    }
}
