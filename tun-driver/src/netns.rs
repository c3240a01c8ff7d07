//! Network namespaces for running a driver (or a kernel peer) in one from a single thread:
//! entering one ([`enter_netns`]), whether this process may make them ([`has_net_admin`]), and
//! [`Netns`], a namespace with a name that cannot collide with other runs (process id, a counter
//! and a random suffix), `ip` and `tc` commands inside it, sysctls, closures run on a thread that
//! entered it, and removal on drop (also when the caller fails or panics). `mptcp bench` builds
//! its topology from these.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::TryRng;
use rand::rngs::SysRng;

pub use crate::sys::{enter_netns, has_net_admin};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs `program args...`; an error carries its stderr, one line.
pub fn run_command(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{program}`: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().next().unwrap_or("").trim().to_owned();
        let why = if why.is_empty() { format!("{}", out.status) } else { why };
        Err(io::Error::other(format!("`{program} {}` failed: {why}", args.join(" "))))
    }
}

/// A name `<prefix>-<pid>-<n><random>`: the process id and a counter keep the names of one
/// process apart, the random part those of a process that reuses the id of a crashed one whose
/// namespaces were left behind.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let random = SysRng.try_next_u32().unwrap_or_else(|_| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
    });
    format!("{prefix}-{}-{n}{:04x}", std::process::id(), random & 0xffff)
}

/// A network namespace (made with `ip netns add`) that is deleted when dropped. Deleting it
/// removes the devices in it (veths, TUN devices, their qdiscs) once no thread, socket or open
/// device still holds it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace named `name` (see [`unique_name`]), with its loopback up.
    pub fn new(name: &str) -> io::Result<Netns> {
        run_command("ip", &["netns", "add", name])?;
        let ns = Netns { name: name.to_owned() };
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
        run_command("ip", &all)
    }

    /// `tc <args>` inside it (arguments split on whitespace).
    pub fn tc(&self, args: &str) -> io::Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend(args.split_whitespace());
        run_command("tc", &all)
    }

    /// Sets a sysctl inside it (`net.ipv4.ip_forward`, `net.mptcp.enabled`, ...).
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

    /// The counters of group `group` (`TcpExt`, `MPTcpExt`) of `/proc/net/netstat` in this
    /// namespace (what `nstat -az` shows), without the prefix.
    pub fn netstat(&self, group: &str) -> io::Result<Vec<(String, u64)>> {
        let text = self.run(|| std::fs::read_to_string("/proc/thread-self/net/netstat"))??;
        Ok(parse_netstat(&text, group))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_command("ip", &["netns", "del", &self.name]);
    }
}

/// The counters of group `group` in `/proc/net/netstat` text (pairs of lines: names, values).
pub fn parse_netstat(text: &str, group: &str) -> Vec<(String, u64)> {
    let prefix = format!("{group}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    match lines[..] {
        [names, values] => names
            .split_whitespace()
            .skip(1)
            .zip(values.split_whitespace().skip(1))
            .map(|(n, v)| (n.to_owned(), v.parse().unwrap_or(0)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ() {
        let (a, b) = (unique_name("x"), unique_name("x"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("x-{}-", std::process::id())), "{a}");
    }

    #[test]
    fn netstat_groups() {
        let text = "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX DSSNotMatching\nMPTcpExt: 3 0\n";
        let c = parse_netstat(text, "MPTcpExt");
        assert_eq!(c, vec![("MPCapableSYNRX".to_owned(), 3), ("DSSNotMatching".to_owned(), 0)]);
        assert_eq!(parse_netstat(text, "IpExt"), vec![]);
    }
}
