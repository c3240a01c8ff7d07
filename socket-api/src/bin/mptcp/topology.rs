//! The network of `mptcp bench`: two namespaces, A (the clients) and B (the servers), joined by
//! N paths. Path `i` is a veth pair `a<i>` (in A) – `b<i>` (in B) with kernel forwarding on both
//! sides, and a TUN device `mtun<i>` in each namespace for our stack:
//!
//! ```text
//!  stack 10.71.i.2 ─TUN mtun<i> 10.71.i.1─ A ─a<i> 10.70.i.1 ══veth══ 10.70.i.2 b<i>─ B ─mtun<i> 10.72.i.1 TUN─ stack 10.72.i.2
//!                                           kernel MPTCP client                     kernel MPTCP server
//! ```
//!
//! A sends what comes from path `i`'s addresses (the stack's `10.71.i.2`, the kernel's
//! `10.70.i.1`) over path `i` whatever its destination (one routing table per path, chosen by
//! source address), so a subflow uses the path of its client-side address, as in the kernel's
//! MPTCP selftests. B routes replies by destination. A `--rate` puts a tbf qdisc on both ends of
//! the veth pair. Everything lives inside the two namespaces, which are deleted on drop.
//!
//! With the link emulator (`--delay`, `--loss`, ...), `a<i>` and `b<i>` are TUN devices with the
//! same names, addresses and routes instead of a veth pair, joined by the emulator's TUN-to-TUN
//! bridge ([`Topology::bridge_pairs`]; `docs/emulator.md`).

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use mptcp_tun_driver::device::TunDevice;
use mptcp_tun_driver::emulator::bridge::BridgePair;
use mptcp_tun_driver::netns::{Netns, unique_name};

/// The drop-tail queue of each tbf, in bytes: the simulator's default queue (`link.rs`).
const TBF_LIMIT: u64 = 256 * 1024;

/// `txqueuelen` of the TUN devices: at the default 500 the kernel drops packets towards the
/// stack when it sends in bursts (`docs/tun.md`).
const TUN_TXQUEUELEN: u32 = 2000;

/// First routing table of the per-path tables in A.
const TABLE_BASE: usize = 100;

/// The two namespaces and the paths between them.
#[derive(Debug)]
pub(crate) struct Topology {
    /// The clients' namespace.
    pub(crate) a: Netns,
    /// The servers' namespace.
    pub(crate) b: Netns,
    /// Number of paths.
    pub(crate) paths: usize,
}

fn addr(x: u8, path: usize, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, x, path as u8, host))
}

/// The stack client's address on path `i` (its TUN device in A).
pub(crate) fn stack_client(i: usize) -> IpAddr {
    addr(71, i, 2)
}

/// The stack server's address on path `i` (its TUN device in B).
pub(crate) fn stack_server(i: usize) -> IpAddr {
    addr(72, i, 2)
}

/// The kernel client's address on path `i` (veth `a<i>`).
pub(crate) fn kernel_client(i: usize) -> IpAddr {
    addr(70, i, 1)
}

/// The kernel server's address on path `i` (veth `b<i>`).
pub(crate) fn kernel_server(i: usize) -> IpAddr {
    addr(70, i, 2)
}

/// The TUN device of path `i` (the same name in both namespaces).
pub(crate) fn tun(i: usize) -> String {
    format!("mtun{i}")
}

/// The path an address of either client belongs to.
pub(crate) fn path_of(ip: IpAddr, paths: usize) -> Option<usize> {
    (0..paths)
        .find(|&i| ip == stack_client(i) || ip == kernel_client(i) || ip == stack_server(i) || ip == kernel_server(i))
}

/// The tbf burst for `rate_bps`: a millisecond's worth, at least 16 KiB.
fn tbf_burst(rate_bps: u64) -> u64 {
    (rate_bps / 8 / 1000).max(16 * 1024)
}

impl Topology {
    /// Builds the namespaces and paths; `rates[i]` shapes path `i` (bit/s, both directions).
    /// `interrupted` is checked between steps (a signal stops the build; what was made is
    /// removed when the partial topology drops).
    /// With `bridged`, each path's `a<i>`–`b<i>` is a pair of TUN devices for the emulator's
    /// bridge instead of a veth pair, and `rates` are left to the emulator.
    pub(crate) fn build(rates: &[Option<u64>], bridged: bool, interrupted: &dyn Fn() -> bool) -> io::Result<Topology> {
        let base = unique_name("mptcp-bench");
        let a = Netns::new(&format!("{base}-a"))?;
        let b = Netns::new(&format!("{base}-b"))?;
        let topo = Topology { a, b, paths: rates.len() };
        let check = || if interrupted() { Err(io::Error::from(io::ErrorKind::Interrupted)) } else { Ok(()) };
        for ns in [&topo.a, &topo.b] {
            ns.sysctl("net.ipv4.ip_forward", "1")?;
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
            ns.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
            // No IPv6 chatter (router solicitations, DAD) on the paths.
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        }
        // A kernel client whose MP_CAPABLE SYNs time out must not disable MPTCP for an hour.
        topo.a.sysctl("net.mptcp.blackhole_timeout", "0")?;
        check()?;
        let a = topo.a.name();
        for (i, rate) in rates.iter().enumerate() {
            let dev = tun(i);
            if bridged {
                topo.a.ip(&format!("tuntap add dev a{i} mode tun"))?;
                topo.b.ip(&format!("tuntap add dev b{i} mode tun"))?;
            } else {
                topo.b.ip(&format!("link add b{i} type veth peer name a{i} netns {a}"))?;
            }
            topo.a.ip(&format!("addr add {}/24 dev a{i}", kernel_client(i)))?;
            topo.a.ip(&format!("link set a{i} txqueuelen {TUN_TXQUEUELEN} up"))?;
            topo.b.ip(&format!("addr add {}/24 dev b{i}", kernel_server(i)))?;
            topo.b.ip(&format!("link set b{i} txqueuelen {TUN_TXQUEUELEN} up"))?;
            for (ns, x) in [(&topo.a, 71), (&topo.b, 72)] {
                ns.ip(&format!("tuntap add dev {dev} mode tun"))?;
                ns.ip(&format!("addr add {}/24 dev {dev}", addr(x, i, 1)))?;
                ns.ip(&format!("link set {dev} txqueuelen {TUN_TXQUEUELEN} up"))?;
            }
            let table = TABLE_BASE + i;
            topo.a.ip(&format!("route add {}/24 via {} dev a{i}", addr(72, i, 0), kernel_server(i)))?;
            topo.a.ip(&format!("route add default via {} dev a{i} table {table}", kernel_server(i)))?;
            topo.a.ip(&format!("rule add from {} table {table}", stack_client(i)))?;
            topo.a.ip(&format!("rule add from {} table {table}", kernel_client(i)))?;
            topo.b.ip(&format!("route add {}/24 via {} dev b{i}", addr(71, i, 0), kernel_client(i)))?;
            if let Some(bps) = rate.filter(|_| !bridged) {
                let burst = tbf_burst(bps);
                for (ns, veth) in [(&topo.a, format!("a{i}")), (&topo.b, format!("b{i}"))] {
                    ns.tc(&format!("qdisc add dev {veth} root tbf rate {bps}bit burst {burst} limit {TBF_LIMIT}"))?;
                }
            }
            check()?;
        }
        Ok(topo)
    }

    /// Attaches the bridged TUN devices of every path (`a<i>` in A, `b<i>` in B), for one run of
    /// the emulator's bridge.
    pub(crate) fn bridge_pairs(&self) -> io::Result<Vec<BridgePair>> {
        let open = |ns: &Netns, side: char| {
            let names: Vec<String> = (0..self.paths).map(|i| format!("{side}{i}")).collect();
            ns.run(move || names.iter().map(|n| TunDevice::open(n)).collect::<Result<Vec<_>, _>>())?
                .map_err(|e| io::Error::other(e.to_string()))
        };
        let (a, b) = (open(&self.a, 'a')?, open(&self.b, 'b')?);
        Ok(a.into_iter().zip(b).map(|(a, b)| BridgePair { a, b }).collect())
    }

    /// Sets up the kernel's in-kernel path manager so that its MPTCP uses every path: the
    /// client in A opens one extra subflow from each further path's address (`subflow`
    /// endpoints, notes §3.7) and both sides allow that many.
    pub(crate) fn kernel_path_manager(&self) -> io::Result<()> {
        let extra = self.paths - 1;
        for ns in [&self.a, &self.b] {
            ns.ip(&format!("mptcp limits set subflows {extra} add_addr_accepted 0"))?;
        }
        for i in 1..self.paths {
            self.a.ip(&format!("mptcp endpoint add {} dev a{i} subflow", kernel_client(i)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(stack_client(1).to_string(), "10.71.1.2");
        assert_eq!(stack_server(0).to_string(), "10.72.0.2");
        assert_eq!(kernel_client(2).to_string(), "10.70.2.1");
        assert_eq!(path_of(kernel_client(2), 3), Some(2));
        assert_eq!(path_of(kernel_client(2), 2), None);
        assert_eq!(tbf_burst(100_000_000), 16 * 1024);
        assert_eq!(tbf_burst(10_000_000_000), 1_250_000);
    }
}
