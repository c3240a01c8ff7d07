//! Heap memory of an idle established connection, measured with a counting global allocator.
//!
//! Usage: idle_memory [N (default 100)]
//!
//! A client endpoint opens N connections to a server endpoint over the in-memory wire of the
//! engine benchmark; once all are established and every timer has settled (1 s of virtual time
//! with nothing to send), the live heap bytes are compared with those of the same two
//! endpoints before the first connect, and divided by N. Every allocation is charged to the
//! side (client or server endpoint) that was running when it happened, so the two ends are
//! reported separately; the endpoints' own tables (by 4-tuple, by token) are included,
//! amortised over N. Measured three ways:
//!
//! - `fresh`: established, no data ever sent;
//! - `after 64 KiB`: then each client sent 64 KiB, the server read it all, and the wire
//!   settled again (what stays allocated after use: buffer capacity that is kept);
//! - the same for plain TCP (`mptcp: false`), and for smoltcp sockets, which allocate their
//!   ring buffers up front (4 MiB each way, as in the benchmark's baseline; measured with
//!   fewer connections, since each costs 8 MiB).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use mptcp_benches::engine::{APP_CHUNK, SmolConfig, app_pattern, ours_config};
use mptcp_stack::connection::ConnEvent;
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use mptcp_stack::time::Instant;
use rand::SeedableRng;
use rand::rngs::StdRng;

const HARNESS: usize = 0;
const CLIENT: usize = 1;
const SERVER: usize = 2;

/// Live heap bytes and allocations per side.
static LIVE_BYTES: [AtomicIsize; 3] = [AtomicIsize::new(0), AtomicIsize::new(0), AtomicIsize::new(0)];
static LIVE_ALLOCS: [AtomicIsize; 3] = [AtomicIsize::new(0), AtomicIsize::new(0), AtomicIsize::new(0)];
static SIDE: AtomicUsize = AtomicUsize::new(HARNESS);
/// Live allocations by exact size (the last slot: larger), for the breakdown.
const HIST_SLOTS: usize = 16 * 1024 + 1;
static HIST: [AtomicIsize; HIST_SLOTS] = [const { AtomicIsize::new(0) }; HIST_SLOTS];

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize, 1);
            hist(layout.size(), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize, 1);
            hist(layout.size(), 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize), -1);
        hist(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize, 0);
            hist(layout.size(), -1);
            hist(new_size, 1);
        }
        p
    }
}

fn count(bytes: isize, allocs: isize) {
    let side = SIDE.load(Ordering::Relaxed);
    LIVE_BYTES[side].fetch_add(bytes, Ordering::Relaxed);
    LIVE_ALLOCS[side].fetch_add(allocs, Ordering::Relaxed);
}

fn hist(size: usize, delta: isize) {
    HIST[size.min(HIST_SLOTS - 1)].fetch_add(delta, Ordering::Relaxed);
}

fn hist_snapshot() -> Vec<isize> {
    HIST.iter().map(|a| a.load(Ordering::Relaxed)).collect()
}

/// The live allocations added between two histogram snapshots, largest share first, per
/// connection pair.
fn breakdown(before: &[isize], after: &[isize], n: usize) {
    let mut rows: Vec<(usize, f64)> = before
        .iter()
        .zip(after)
        .enumerate()
        .map(|(size, (b, a))| (size, (a - b) as f64 / n as f64))
        .filter(|&(_, k)| k.abs() >= 0.05)
        .collect();
    rows.sort_by(|x, y| (y.0 as f64 * y.1).total_cmp(&(x.0 as f64 * x.1)));
    for (size, k) in rows.iter().take(10) {
        let size = if *size == HIST_SLOTS - 1 { ">16 KiB".to_string() } else { format!("{size} B") };
        println!("  {k:.2} × {size}");
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with its allocations charged to `side`.
fn on<R>(side: usize, f: impl FnOnce() -> R) -> R {
    let prev = SIDE.swap(side, Ordering::Relaxed);
    let r = f();
    SIDE.store(prev, Ordering::Relaxed);
    r
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    bytes: [isize; 3],
    allocs: [isize; 3],
}

fn snapshot() -> Snapshot {
    Snapshot {
        bytes: LIVE_BYTES.each_ref().map(|a| a.load(Ordering::Relaxed)),
        allocs: LIVE_ALLOCS.each_ref().map(|a| a.load(Ordering::Relaxed)),
    }
}

/// Per connection, between two snapshots: (client bytes, server bytes, client allocs, server allocs).
fn per_conn(before: Snapshot, after: Snapshot, n: usize) -> [f64; 4] {
    let d = |x: [isize; 3], y: [isize; 3], i: usize| (y[i] - x[i]) as f64 / n as f64;
    [
        d(before.bytes, after.bytes, CLIENT),
        d(before.bytes, after.bytes, SERVER),
        d(before.allocs, after.allocs, CLIENT),
        d(before.allocs, after.allocs, SERVER),
    ]
}

fn row(what: &str, n: usize, v: [f64; 4]) {
    println!("| {what} | {n} | {:.0} | {:.0} | {:.0} | {:.1} / {:.1} |", v[0], v[1], v[0] + v[1], v[2], v[3]);
}

const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5000);
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// Our two endpoints with the wire between them.
struct Ours {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
    packet: Vec<u8>,
    rbuf: Vec<u8>,
    clients: Vec<ConnectionHandle>,
    servers: Vec<ConnectionHandle>,
    up: usize,
}

impl Ours {
    fn new(config: EndpointConfig) -> Ours {
        let a = on(CLIENT, || Endpoint::new(config.clone(), Box::new(StdRng::seed_from_u64(1))));
        let b = on(SERVER, || {
            let mut b = Endpoint::new(config, Box::new(StdRng::seed_from_u64(2)));
            b.listen(SERVER_ADDR);
            b
        });
        Ours {
            a,
            b,
            now: Instant::ZERO,
            packet: vec![0; 65_536 + 128],
            rbuf: vec![0; APP_CHUNK],
            clients: Vec::with_capacity(10_000),
            servers: Vec::with_capacity(10_000),
            up: 0,
        }
    }

    /// Both directions until nothing moves, the applications taking their events; then the
    /// clock advances 1 ms (timers fire).
    fn round(&mut self) {
        loop {
            let mut moved = false;
            while let Some(n) = on(CLIENT, || self.a.poll_transmit(self.now, &mut self.packet)) {
                on(SERVER, || self.b.handle(self.now, &self.packet[..n]));
                moved = true;
            }
            while let Some(n) = on(SERVER, || self.b.poll_transmit(self.now, &mut self.packet)) {
                on(CLIENT, || self.a.handle(self.now, &self.packet[..n]));
                moved = true;
            }
            while let Some(e) = on(CLIENT, || self.a.poll_event()) {
                if let Event::Connection(_, ConnEvent::Established { .. }) = e {
                    self.up += 1;
                }
            }
            while let Some(e) = on(SERVER, || self.b.poll_event()) {
                match e {
                    Event::Incoming(_) => {
                        let h = on(SERVER, || self.b.accept()).expect("queued");
                        self.servers.push(h);
                    }
                    Event::Connection(_, ConnEvent::Established { .. }) => self.up += 1,
                    _ => {}
                }
            }
            for &h in &self.servers {
                let rbuf = &mut self.rbuf;
                while let Some(Some(n)) = on(SERVER, || self.b.with_connection(h, |c| c.read(rbuf))) {
                    if n == 0 {
                        break;
                    }
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        self.now += Duration::from_millis(1);
        on(CLIENT, || self.a.handle_timeout(self.now));
        on(SERVER, || self.b.handle_timeout(self.now));
    }

    /// Opens `n` connections and waits until both ends of all of them are established, then
    /// lets the wire settle for 1 s.
    fn establish(&mut self, n: usize) {
        for _ in 0..n {
            let h = on(CLIENT, || self.a.connect(CLIENT_IP, SERVER_ADDR)).expect("connect");
            self.clients.push(h);
        }
        for _ in 0..1_000 {
            self.round();
            if self.up == 2 * n {
                break;
            }
        }
        assert_eq!(self.up, 2 * n, "not all connections established");
        self.settle();
    }

    fn settle(&mut self) {
        for _ in 0..1_000 {
            self.round();
        }
    }

    /// Every client sends `bytes`; the server reads them all; the wire settles.
    fn send_each(&mut self, bytes: usize) {
        let data = app_pattern();
        for &h in &self.clients {
            let n = on(CLIENT, || self.a.with_connection(h, |c| c.write(&data[..bytes]))).expect("open");
            assert_eq!(n, bytes);
        }
        self.settle();
        for &h in &self.servers {
            assert_eq!(self.b.connection(h).expect("open").stats().bytes_read, bytes as u64);
        }
    }
}

/// Returns the allocation histograms before, when established, and after the 64 KiB.
fn ours(n: usize, mptcp: bool) -> (Vec<isize>, Vec<isize>, Vec<isize>) {
    let name = if mptcp { "ours, MPTCP" } else { "ours, plain TCP (MPTCP off)" };
    let mut ours = Ours::new(ours_config(mptcp));
    let (before, hist_before) = (snapshot(), hist_snapshot());
    ours.establish(n);
    let fresh = snapshot();
    row(&format!("{name}, fresh"), n, per_conn(before, fresh, n));
    let hist_fresh = hist_snapshot();
    ours.send_each(APP_CHUNK);
    row(&format!("{name}, after 64 KiB"), n, per_conn(before, snapshot(), n));
    (hist_before, hist_fresh, hist_snapshot())
}

fn smoltcp(n: usize) {
    use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketSet};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

    let config = SmolConfig::FAIR;
    let mut dev = smoltcp::phy::Loopback::new(smoltcp::phy::Medium::Ip);
    let now = smoltcp::time::Instant::from_micros(0);
    // Both ends on one interface with two addresses over smoltcp's `Loopback` (as in its
    // loopback example): the interface's memory is not per connection, the sockets' is.
    let mut iface = on(HARNESS, || Interface::new(Config::new(HardwareAddress::Ip), &mut dev, now));
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24)).expect("room");
        a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 2), 24)).expect("room");
    });
    let mut sockets = SocketSet::new(Vec::with_capacity(4 * n));
    let socket = || {
        tcp::Socket::new(tcp::SocketBuffer::new(vec![0; config.buffer]), tcp::SocketBuffer::new(vec![0; config.buffer]))
    };
    let before = snapshot();
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for i in 0..n {
        let h = on(SERVER, || sockets.add(socket()));
        sockets.get_mut::<tcp::Socket>(h).listen(5000).expect("listen");
        servers.push(h);
        let h = on(CLIENT, || sockets.add(socket()));
        let cx = iface.context();
        sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (IpAddress::v4(10, 0, 0, 2), 5000), 49152 + i as u16)
            .expect("connect");
        clients.push(h);
    }
    let mut t = now;
    for _ in 0..10_000 {
        iface.poll(t, &mut dev, &mut sockets);
        while iface.poll_ingress_single(t, &mut dev, &mut sockets) != PollIngressSingleResult::None {}
        t += smoltcp::time::Duration::from_millis(1);
    }
    for h in servers.iter().chain(&clients) {
        assert_eq!(sockets.get::<tcp::Socket>(*h).state(), tcp::State::Established);
    }
    // The sockets themselves live in the socket set's slots, allocated before the snapshot.
    let slot = size_of::<smoltcp::iface::SocketStorage<'static>>() as f64;
    let [c, s, ca, sa] = per_conn(before, snapshot(), n);
    row(
        &format!("smoltcp 0.14, {} KiB buffers each way, fresh", config.buffer / 1024),
        n,
        [c + slot, s + slot, ca, sa],
    );
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(100, |s| s.parse().expect("N is a number"));
    println!("Heap bytes live per idle established connection (counting global allocator)\n");
    println!("| connection | N | client bytes | server bytes | pair bytes | live allocations client / server |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (h0, h1, h2) = ours(n, true);
    ours(n, false);
    smoltcp(n.min(10));
    println!(
        "\n(smoltcp rows include the socket's {} B slot in its socket set.)",
        size_of::<smoltcp::iface::SocketStorage<'static>>()
    );
    println!("\nOurs, MPTCP: live allocations per connection pair by size, largest share first");
    println!("established, fresh:");
    breakdown(&h0, &h1, n);
    println!("added by sending 64 KiB:");
    breakdown(&h1, &h2, n);
    println!(
        "\nsize_of: Endpoint {} B, Connection {} B, Subflow {} B, smoltcp tcp::Socket {} B",
        size_of::<Endpoint>(),
        size_of::<mptcp_stack::connection::Connection>(),
        size_of::<mptcp_stack::subflow::Subflow>(),
        size_of::<smoltcp::socket::tcp::Socket<'static>>()
    );
}
