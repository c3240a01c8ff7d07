//! The link emulator measured from outside: two namespaces joined only by a TUN-to-TUN bridge
//! through the emulator (`mptcp_tun_driver::emulator::bridge`), UDP probes from one to the other,
//! and the delay, rate and loss they see compared with what was asked (within 5%). As root; each
//! test prints `skipped: <why>` and passes otherwise. Each test has its own namespaces, deleted
//! when it ends (also on failure).

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallClock};

use mptcp_tests::netns::skip_reason;
use mptcp_tun_driver::device::TunDevice;
use mptcp_tun_driver::emulator::bridge::{Bridge, BridgePair, BridgeStats};
use mptcp_tun_driver::emulator::{Dir, Emulator, Schedule};
use mptcp_tun_driver::event_loop::StopHandle;
use mptcp_tun_driver::link::{LinkConfig, LinkStats};
use mptcp_tun_driver::netns::{Netns, unique_name};
use mptcp_tun_driver::path_io::Clock;

const SENDER: &str = "10.80.0.1";
const RECEIVER: &str = "10.80.0.2";
const PORT: u16 = 9000;
/// IPv4 + UDP headers: what the link counts beyond the payload.
const HEADERS: usize = 28;

/// Two namespaces, one TUN device in each, bridged through an emulator whose forward link is
/// `forward`; UDP sockets at both ends.
struct Setup {
    _a: Netns,
    _b: Netns,
    bridge: JoinHandle<(std::io::Result<()>, BridgeStats, Option<LinkStats>)>,
    stop: StopHandle,
    tx: UdpSocket,
    rx: UdpSocket,
}

impl Setup {
    fn new(forward: LinkConfig) -> Setup {
        let base = unique_name("mptcp-emu");
        let (a, b) = (Netns::new(&format!("{base}-a")).unwrap(), Netns::new(&format!("{base}-b")).unwrap());
        for (ns, addr) in [(&a, SENDER), (&b, RECEIVER)] {
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1").unwrap();
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0").unwrap();
            ns.ip("tuntap add dev emu0 mode tun").unwrap();
            ns.ip(&format!("addr add {addr}/24 dev emu0")).unwrap();
            ns.ip("link set emu0 txqueuelen 4000 up").unwrap();
        }
        let open = |ns: &Netns| ns.run(|| TunDevice::open("emu0")).unwrap().unwrap();
        let pair = BridgePair { a: open(&a), b: open(&b) };
        let clock = Clock::new();
        let emulator = Emulator::new(vec![[Some(forward), None]], Schedule::default(), 1, clock.now());
        let mut bridge = Bridge::new(vec![pair], emulator, clock).unwrap();
        let stop = bridge.stop_handle();
        let bridge = std::thread::spawn(move || {
            let r = bridge.run();
            (r, bridge.stats(), bridge.link_stats(0, Dir::Forward).copied())
        });
        let rx = b.run(|| UdpSocket::bind((RECEIVER, PORT))).unwrap().unwrap();
        let tx = a.run(|| UdpSocket::bind((SENDER, 0))).unwrap().unwrap();
        tx.connect(SocketAddr::new(RECEIVER.parse().unwrap(), PORT)).unwrap();
        Setup { _a: a, _b: b, bridge, stop, tx, rx }
    }

    /// Stops the bridge; its counters and the forward link's.
    fn finish(self) -> (BridgeStats, LinkStats) {
        self.stop.stop();
        let (r, stats, link) = self.bridge.join().expect("the bridge thread panicked");
        r.expect("the bridge failed");
        (stats, link.expect("the forward link is emulated"))
    }
}

/// Sends `count` datagrams of `size` bytes at `pps` per second (in bursts each millisecond), each
/// starting with its send time in nanoseconds since `base`.
fn send_paced(tx: &UdpSocket, count: usize, size: usize, pps: f64, base: WallClock) {
    let mut buf = vec![0u8; size];
    for i in 0..count {
        let due = Duration::from_secs_f64(i as f64 / pps);
        if let Some(wait) = due.checked_sub(base.elapsed()) {
            // Pacing the probe, not waiting for anything.
            std::thread::sleep(wait);
        }
        buf[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
        tx.send(&buf).unwrap();
    }
}

/// What arrived: (arrival, one-way delay, size) for each datagram, until `idle` passes without one
/// after `expected` came or the sender's `count` were sent.
fn receive(rx: &UdpSocket, expected: usize, idle: Duration, base: WallClock) -> Vec<(Duration, Duration, usize)> {
    rx.set_read_timeout(Some(idle)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < expected {
        let Ok(n) = rx.recv(&mut buf) else { break };
        let now = base.elapsed();
        let sent = Duration::from_nanos(u64::from_be_bytes(buf[..8].try_into().unwrap()));
        got.push((now, now.saturating_sub(sent), n));
    }
    got
}

fn within(measured: f64, asked: f64, what: &str) {
    let error = (measured - asked).abs() / asked;
    eprintln!("{what}: asked {asked:.4}, measured {measured:.4} ({:+.2}%)", (measured - asked) / asked * 100.0);
    assert!(error <= 0.05, "{what}: measured {measured} is not within 5% of {asked}");
}

#[test]
fn delay_within_5_percent() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let delay = Duration::from_millis(20);
    let s = Setup::new(LinkConfig::new(None, delay));
    let base = WallClock::now();
    let count = 300;
    let rx = s.rx.try_clone().unwrap();
    let receiver = std::thread::spawn(move || receive(&rx, count, Duration::from_secs(2), base));
    send_paced(&s.tx, count, 100, 1000.0, base);
    let got = receiver.join().unwrap();
    // A loaded machine may drop a probe in a kernel queue outside the emulator.
    assert!(got.len() as f64 >= 0.99 * count as f64, "the probes arrive: {} of {count}", got.len());
    let min = got.iter().map(|g| g.1).min().unwrap();
    assert!(min >= delay, "no probe arrives before the delay: {min:?}");
    let mean = got.iter().map(|g| g.1.as_secs_f64()).sum::<f64>() / got.len() as f64;
    within(mean * 1e3, delay.as_secs_f64() * 1e3, "one-way delay (ms)");
    let (stats, link) = s.finish();
    assert_eq!(link.offered.packets, stats.packets_out, "no delay-only link drops");
}

#[test]
fn rate_within_5_percent() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let rate = 20_000_000;
    let s = Setup::new(LinkConfig::new(Some(rate), Duration::from_millis(5)));
    let (size, seconds) = (1200, 1.5);
    // Offer 1.5 times the rate, so that the link's queue never runs dry.
    let pps = 1.5 * rate as f64 / 8.0 / (size + HEADERS) as f64;
    let count = (pps * seconds) as usize;
    let base = WallClock::now();
    let rx = s.rx.try_clone().unwrap();
    let receiver = std::thread::spawn(move || receive(&rx, count, Duration::from_millis(500), base));
    send_paced(&s.tx, count, size, pps, base);
    let got = receiver.join().unwrap();
    let (stats, link) = s.finish();
    assert!(link.dropped_queue_full.packets > 0, "the link was saturated");
    assert!(got.len() as f64 >= 0.99 * stats.packets_out as f64, "what the bridge wrote arrived");
    // Bits after the first arrival over the time to the last.
    let bits: usize = got[1..].iter().map(|g| (g.2 + HEADERS) * 8).sum();
    let span = (got[got.len() - 1].0 - got[0].0).as_secs_f64();
    within(bits as f64 / span / 1e6, rate as f64 / 1e6, "rate (Mbit/s)");
}

#[test]
fn loss_within_5_percent() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let loss = 0.1;
    let s = Setup::new(LinkConfig { loss, ..LinkConfig::default() });
    let count = 20_000;
    let base = WallClock::now();
    let rx = s.rx.try_clone().unwrap();
    let receiver = std::thread::spawn(move || receive(&rx, count, Duration::from_millis(500), base));
    send_paced(&s.tx, count, 64, 20_000.0, base);
    let got = receiver.join().unwrap();
    let (stats, link) = s.finish();
    // The kernel may drop a probe before the bridge (a full socket or device queue on a loaded
    // machine): the loss measured is the link's, over what it was offered.
    let offered = link.offered.packets;
    assert!(offered as f64 >= 0.99 * count as f64, "the probes reached the bridge: {offered} of {count}");
    assert_eq!(got.len() as u64, link.delivered.packets, "every probe the link delivered arrived");
    assert_eq!(stats.packets_out, link.delivered.packets);
    within(1.0 - got.len() as f64 / offered as f64, loss, "loss");
}
