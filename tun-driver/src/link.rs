//! A pure model of one direction of one network path.
//!
//! A [`Link`] is handed packets with [`Link::send`] and decides, at that moment, each packet's
//! whole fate: dropped (and why, [`DropCause`]) or delivered at an instant, perhaps twice. It keeps
//! no packets and reads no clock; the caller (the simulator's event queue, or later the TUN link
//! emulator's timer) holds the packet until its delivery instant. Randomness comes from a
//! generator passed to every call, so the same generator state gives the same fates.
//!
//! # What happens to a packet
//!
//! The stages run in this order; a packet dropped at one stage sees none of the later ones.
//!
//! 1. **Blackhole.** While [`LinkConfig::blackhole`] is set, every packet offered is dropped
//!    ([`DropCause::Blackhole`]). The blackhole acts on entry: packets accepted earlier are still
//!    delivered at their instants.
//! 2. **Drop-tail queue** (only with a finite [`LinkConfig::rate_bps`]). The queue holds the
//!    packets not yet fully serialized, the one on the wire included. A packet is dropped
//!    ([`DropCause::QueueFull`]) when the queue is not empty and its bytes plus the packet's would
//!    exceed [`LinkConfig::queue_limit_bytes`]; an empty queue accepts any packet, so a limit of
//!    zero means "no waiting room".
//! 3. **Serialization.** FIFO at `rate_bps`: a packet starts when the previous one has finished
//!    (a busy-until clock) or now, whichever is later, and takes `bytes * 8 / rate_bps` seconds.
//!    The clock is exact (nanoseconds plus a fraction), so back-to-back packets accumulate no
//!    rounding; only the instant the last bit leaves is rounded up to the next microsecond. An
//!    infinite rate serializes instantly.
//! 4. **Loss.** The packet has used its share of the rate (it was lost on the wire). It is lost
//!    with probability [`LinkConfig::loss`] ([`DropCause::Loss`]), and then, if
//!    [`LinkConfig::loss_burst`] is set, by the Gilbert-Elliott chain ([`DropCause::BurstLoss`]).
//! 5. **Propagation.** Arrival = end of serialization + [`LinkConfig::delay`] + a jitter drawn
//!    uniformly from `0..=jitter` (whole microseconds). `delay` is thus the minimum one-way delay
//!    and `delay + jitter / 2` the mean before queueing.
//! 6. **Order.** Jitter never reorders: an arrival earlier than the previous in-order arrival is
//!    held back to it, so deliveries stay FIFO (the effective jitter is therefore not exactly
//!    uniform). Only with probability [`LinkConfig::reorder`] is a packet picked for reordering:
//!    it gets [`LinkConfig::reorder_delay`] on top of its arrival, is exempt from the FIFO rule and
//!    does not hold back later packets, so packets sent up to about `reorder_delay` after it
//!    overtake it.
//! 7. **Duplication.** With probability [`LinkConfig::duplicate`] a copy is delivered at the same
//!    instant, right after the original (as if a router behind the bottleneck copied it: the copy
//!    uses no rate and no queue space).
//!
//! Probabilities outside `0..=1` are clamped (NaN counts as 0). A random number is drawn only for
//! a stage that is reached and whose probability is strictly between 0 and 1 (or whose jitter is
//! not zero), so a perfect link consumes no randomness at all.
//!
//! # Counters
//!
//! [`LinkStats`] counts packets and bytes offered, delivered (each original once: every offered
//! packet is either delivered or dropped by exactly one cause), dropped per cause, duplicated and
//! picked for reordering. "Delivered" means accepted for delivery: the link does not know when
//! its caller actually hands the packet over.
//!
//! # Changing the configuration
//!
//! [`Link::set_config`] and [`Link::set_blackhole`] take effect for packets offered afterwards;
//! packets already accepted keep their instants. The serialization clock, the FIFO floor and the
//! Gilbert-Elliott state carry over (the state resets to good when `loss_burst` is removed).

use core::time::Duration;
use std::collections::VecDeque;

use mptcp_stack::time::Instant;
use rand::Rng;

/// The default drop-tail limit: 256 KiB, about the bandwidth-delay product of 20 Mbit/s × 100 ms.
pub const DEFAULT_QUEUE_LIMIT_BYTES: usize = 256 * 1024;

/// The default extra delay of a packet picked for reordering.
pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(10);

/// A two-state (Gilbert-Elliott) Markov loss model for bursty loss.
///
/// The chain starts in the good state. For each packet that reaches the loss stage, the packet is
/// lost with the current state's loss probability, then the chain moves: good → bad with
/// `p_enter_bad`, bad → good with `p_leave_bad`. Bursts in the bad state last `1 / p_leave_bad`
/// packets on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability, per packet, of moving from the good to the bad state.
    pub p_enter_bad: f64,
    /// Probability, per packet, of moving from the bad to the good state.
    pub p_leave_bad: f64,
    /// Loss probability in the good state.
    pub loss_in_good: f64,
    /// Loss probability in the bad state.
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// The simple Gilbert model: nothing is lost in the good state, everything in the bad one.
    pub fn gilbert(p_enter_bad: f64, p_leave_bad: f64) -> GilbertElliott {
        GilbertElliott { p_enter_bad, p_leave_bad, loss_in_good: 0.0, loss_in_bad: 1.0 }
    }

    /// The long-run fraction of packets this chain loses (from its stationary distribution).
    pub fn mean_loss(&self) -> f64 {
        let (enter, leave) = (clamp_probability(self.p_enter_bad), clamp_probability(self.p_leave_bad));
        if enter + leave == 0.0 {
            return clamp_probability(self.loss_in_good);
        }
        let bad = enter / (enter + leave);
        (1.0 - bad) * clamp_probability(self.loss_in_good) + bad * clamp_probability(self.loss_in_bad)
    }
}

/// The impairments of one direction of one path. [`Default`] is a perfect link: infinite rate,
/// no delay, no loss, a [`DEFAULT_QUEUE_LIMIT_BYTES`] queue (unused at infinite rate).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck rate in bits per second; `None` is infinite. `Some(0)` is treated as `None`.
    pub rate_bps: Option<u64>,
    /// Minimum one-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet (never reorders by itself).
    pub jitter: Duration,
    /// Independent random loss probability per packet.
    pub loss: f64,
    /// Optional bursty loss, applied after `loss`.
    pub loss_burst: Option<GilbertElliott>,
    /// Probability that a packet gets `reorder_delay` extra and may be overtaken.
    pub reorder: f64,
    /// The extra delay of a packet picked for reordering.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Drop-tail limit of the serialization queue, in bytes.
    pub queue_limit_bytes: usize,
    /// Drop every packet offered while set.
    pub blackhole: bool,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            rate_bps: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            loss_burst: None,
            reorder: 0.0,
            reorder_delay: DEFAULT_REORDER_DELAY,
            duplicate: 0.0,
            queue_limit_bytes: DEFAULT_QUEUE_LIMIT_BYTES,
            blackhole: false,
        }
    }
}

impl LinkConfig {
    /// A link with the given rate and one-way delay and no other impairment.
    pub fn new(rate_bps: Option<u64>, delay: Duration) -> LinkConfig {
        LinkConfig { rate_bps, delay, ..LinkConfig::default() }
    }
}

/// Why a link dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// The link was blackholed when the packet was offered.
    Blackhole,
    /// The drop-tail queue was full.
    QueueFull,
    /// Independent random loss ([`LinkConfig::loss`]).
    Loss,
    /// Gilbert-Elliott bursty loss ([`LinkConfig::loss_burst`]).
    BurstLoss,
}

/// A number of packets and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes in those packets.
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

impl core::ops::Add for Count {
    type Output = Count;
    fn add(self, other: Count) -> Count {
        Count { packets: self.packets + other.packets, bytes: self.bytes + other.bytes }
    }
}

/// A link's counters since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    /// Everything handed to [`Link::send`].
    pub offered: Count,
    /// Accepted for delivery, each original once (duplicates are in `duplicated`).
    pub delivered: Count,
    /// Dropped by [`DropCause::Blackhole`].
    pub dropped_blackhole: Count,
    /// Dropped by [`DropCause::QueueFull`].
    pub dropped_queue_full: Count,
    /// Dropped by [`DropCause::Loss`].
    pub dropped_loss: Count,
    /// Dropped by [`DropCause::BurstLoss`].
    pub dropped_burst_loss: Count,
    /// Delivered a second time.
    pub duplicated: Count,
    /// Picked for reordering (delivered late, may be overtaken).
    pub reordered: Count,
}

impl LinkStats {
    /// The drops of one cause.
    pub fn dropped_by(&self, cause: DropCause) -> Count {
        match cause {
            DropCause::Blackhole => self.dropped_blackhole,
            DropCause::QueueFull => self.dropped_queue_full,
            DropCause::Loss => self.dropped_loss,
            DropCause::BurstLoss => self.dropped_burst_loss,
        }
    }

    /// All drops. `offered == delivered + dropped()` always holds.
    pub fn dropped(&self) -> Count {
        self.dropped_blackhole + self.dropped_queue_full + self.dropped_loss + self.dropped_burst_loss
    }

    fn dropped_mut(&mut self, cause: DropCause) -> &mut Count {
        match cause {
            DropCause::Blackhole => &mut self.dropped_blackhole,
            DropCause::QueueFull => &mut self.dropped_queue_full,
            DropCause::Loss => &mut self.dropped_loss,
            DropCause::BurstLoss => &mut self.dropped_burst_loss,
        }
    }
}

/// A packet the link will deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The packet, unchanged.
    pub packet: Vec<u8>,
    /// When it arrives at the far end.
    pub at: Instant,
    /// When its duplicate arrives (always `at`, right after the original), if it is duplicated.
    pub duplicate_at: Option<Instant>,
    /// Whether it was picked for reordering.
    pub reordered: bool,
}

/// The fate of one packet, decided by [`Link::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it (the caller holds it until then).
    Deliver(Delivery),
    /// Drop it.
    Drop {
        /// The packet, handed back.
        packet: Vec<u8>,
        /// Why.
        cause: DropCause,
    },
}

/// One direction of one path; see the [module documentation](self) for the model.
#[derive(Debug, Clone)]
pub struct Link {
    config: LinkConfig,
    /// When the serializer is free again.
    busy_until: BusyUntil,
    /// Packets not fully serialized: (end of serialization in ns, bytes).
    backlog: VecDeque<(u64, usize)>,
    backlog_bytes: usize,
    /// The latest in-order arrival; later in-order packets never arrive before it.
    fifo_floor: Instant,
    burst_bad: bool,
    stats: LinkStats,
}

impl Link {
    /// A link with `config`, idle, at the epoch.
    pub fn new(config: LinkConfig) -> Link {
        Link {
            config,
            busy_until: BusyUntil::default(),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            fifo_floor: Instant::ZERO,
            burst_bad: false,
            stats: LinkStats::default(),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the configuration for packets offered from now on.
    pub fn set_config(&mut self, config: LinkConfig) {
        if config.loss_burst.is_none() {
            self.burst_bad = false;
        }
        self.config = config;
    }

    /// Turns the blackhole on or off for packets offered from now on.
    pub fn set_blackhole(&mut self, on: bool) {
        self.config.blackhole = on;
    }

    /// The counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Bytes waiting for or in serialization at `now` (always 0 at infinite rate).
    pub fn queued_bytes(&self, now: Instant) -> usize {
        let now_ns = nanos(now);
        self.backlog.iter().filter(|&&(done, _)| done > now_ns).map(|&(_, len)| len).sum()
    }

    /// Decides the fate of `packet`, offered at `now`, drawing randomness from `rng`.
    ///
    /// `now` must not go backwards between calls (an earlier `now` is treated as the latest seen
    /// by the serializer, which is always FIFO).
    pub fn send<R: Rng + ?Sized>(&mut self, now: Instant, packet: Vec<u8>, rng: &mut R) -> Verdict {
        let len = packet.len();
        self.stats.offered.add(len);
        match self.decide(now, len, rng) {
            Ok((at, reordered, duplicate)) => {
                self.stats.delivered.add(len);
                if reordered {
                    self.stats.reordered.add(len);
                }
                if duplicate {
                    self.stats.duplicated.add(len);
                }
                Verdict::Deliver(Delivery { packet, at, duplicate_at: duplicate.then_some(at), reordered })
            }
            Err(cause) => {
                self.stats.dropped_mut(cause).add(len);
                Verdict::Drop { packet, cause }
            }
        }
    }

    /// Runs the stages of the module documentation: `Ok((arrival, reordered, duplicated))`.
    fn decide<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        len: usize,
        rng: &mut R,
    ) -> Result<(Instant, bool, bool), DropCause> {
        if self.config.blackhole {
            return Err(DropCause::Blackhole);
        }
        let sent = self.serialize(now, len)?;
        if chance(rng, self.config.loss) {
            return Err(DropCause::Loss);
        }
        if self.burst_lost(rng) {
            return Err(DropCause::BurstLoss);
        }
        let mut at = sent + self.config.delay;
        let jitter = micros(self.config.jitter);
        if jitter > 0 {
            at += Duration::from_micros(uniform_inclusive(rng, jitter));
        }
        let reordered = chance(rng, self.config.reorder);
        if reordered {
            at += self.config.reorder_delay;
        } else {
            at = at.max(self.fifo_floor);
            self.fifo_floor = at;
        }
        let duplicate = chance(rng, self.config.duplicate);
        Ok((at, reordered, duplicate))
    }

    /// Queue admission and serialization: the instant the last bit leaves.
    fn serialize(&mut self, now: Instant, len: usize) -> Result<Instant, DropCause> {
        let Some(rate) = self.config.rate_bps.filter(|&r| r > 0) else {
            return Ok(now);
        };
        let now_ns = nanos(now);
        while let Some(&(done, bytes)) = self.backlog.front() {
            if done > now_ns {
                break;
            }
            self.backlog.pop_front();
            self.backlog_bytes -= bytes;
        }
        if self.backlog_bytes > 0 && self.backlog_bytes.saturating_add(len) > self.config.queue_limit_bytes {
            return Err(DropCause::QueueFull);
        }
        let done = self.busy_until.serialize(now_ns, len, rate);
        self.backlog.push_back((done, len));
        self.backlog_bytes += len;
        Ok(Instant::from_micros(done.div_ceil(1000)))
    }

    /// Draws the Gilbert-Elliott loss for this packet, then moves the chain.
    fn burst_lost<R: Rng + ?Sized>(&mut self, rng: &mut R) -> bool {
        let Some(ge) = self.config.loss_burst else {
            return false;
        };
        let lost = chance(rng, if self.burst_bad { ge.loss_in_bad } else { ge.loss_in_good });
        self.burst_bad = if self.burst_bad { !chance(rng, ge.p_leave_bad) } else { chance(rng, ge.p_enter_bad) };
        lost
    }
}

/// The serializer's busy-until clock, exact: `ns + frac / rate` nanoseconds since the epoch,
/// so that back-to-back packets accumulate no rounding error.
#[derive(Debug, Clone, Copy, Default)]
struct BusyUntil {
    ns: u64,
    /// Fraction of a nanosecond, in units of `1 / rate` ns (`frac < rate`).
    frac: u64,
    /// The rate `frac` is expressed in.
    rate: u64,
}

impl BusyUntil {
    /// Serializes `len` bytes at `rate` from `max(self, now_ns)`; returns the end, rounded up to
    /// the nanosecond.
    fn serialize(&mut self, now_ns: u64, len: usize, rate: u64) -> u64 {
        if self.rate != rate {
            // The fraction was in units of the old rate: round it up to a whole nanosecond.
            self.ns = self.ns.saturating_add(u64::from(self.frac > 0));
            self.frac = 0;
            self.rate = rate;
        }
        if now_ns > self.ns || (now_ns == self.ns && self.frac == 0) {
            self.ns = now_ns;
            self.frac = 0;
        }
        let bits_ns = len as u128 * 8 * 1_000_000_000;
        let (whole, part) = (bits_ns / u128::from(rate), (bits_ns % u128::from(rate)) as u64);
        self.ns = self.ns.saturating_add(u64::try_from(whole).unwrap_or(u64::MAX));
        let frac = u128::from(self.frac) + u128::from(part);
        if frac >= u128::from(rate) {
            self.frac = (frac - u128::from(rate)) as u64;
            self.ns = self.ns.saturating_add(1);
        } else {
            self.frac = frac as u64;
        }
        self.ns.saturating_add(u64::from(self.frac > 0))
    }
}

fn clamp_probability(p: f64) -> f64 {
    if p > 0.0 { p.min(1.0) } else { 0.0 }
}

/// True with probability `p`; draws nothing for `p <= 0`, NaN or `p >= 1`.
fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    let p = clamp_probability(p);
    if p == 0.0 {
        false
    } else if p == 1.0 {
        true
    } else {
        unit(rng) < p
    }
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `u64`.
fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `0..=max` (Lemire's multiply-high; bias below 2^-64 × max).
fn uniform_inclusive<R: Rng + ?Sized>(rng: &mut R, max: u64) -> u64 {
    let span = u128::from(max) + 1;
    ((u128::from(rng.next_u64()) * span) >> 64) as u64
}

fn nanos(t: Instant) -> u64 {
    t.as_micros().saturating_mul(1000)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
