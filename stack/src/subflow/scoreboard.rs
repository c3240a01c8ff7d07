//! Sender-side SACK scoreboard and loss-recovery bookkeeping (RFC 6675).
//!
//! Sequence numbers are the subflow's unwrapped u64 offsets. The RFC names octets
//! ("HighACK + 1", "HighData + 1"); here every bound is exclusive, TCP-style:
//! HighACK + 1 is SND.UNA, HighData + 1 is SND.NXT, and `high_rxt` is HighRxt + 1.
//!
//! The caller owns cwnd/ssthresh, the send buffer and timers. For every acceptable ACK it
//! calls [`Scoreboard::on_ack`]. When that reports `enter_recovery`, it calls
//! [`Scoreboard::enter_recovery`], retransmits the segment at SND.UNA and reports it with
//! [`Scoreboard::on_retransmit`] (RFC 6675 §5 step 4). Then, while cwnd minus
//! [`Scoreboard::pipe`] is at least one SMSS, it sends what [`Scoreboard::next_seg`] names and
//! reports retransmissions back (steps C.1-C.5). On RTO it calls [`Scoreboard::on_rto`].

use core::ops::Range;

use crate::range_set::RangeSet;

/// DupThresh (RFC 6675 §2).
pub const DUP_THRESH: u32 = 3;

/// What one ACK changed, and what the caller should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckInfo {
    /// Octets newly acknowledged cumulatively (the advance of SND.UNA).
    pub newly_acked: u64,
    /// Octets newly SACKed above the new SND.UNA.
    pub newly_sacked: u64,
    /// Octets this ACK reports delivered for the first time: `newly_acked` plus
    /// `newly_sacked` minus octets that were SACKed before and are now cumulatively acked
    /// (DeliveredData of RFC 6937 §3, for PRR).
    pub delivered: u64,
    /// The ACK is a "DupAck" per RFC 6675 §2: it SACKs previously unacknowledged, un-SACKed
    /// octets (even if it also advances SND.UNA).
    pub is_dup: bool,
    /// Loss detected outside recovery (RFC 6675 §5 steps 1-2, with the §5.1 guard): the
    /// caller should enter recovery now (step 4).
    pub enter_recovery: bool,
    /// The ACK covered RecoveryPoint, so loss recovery ended (RFC 6675 §5 step A).
    pub recovery_ended: bool,
    /// The receiver discarded data it had SACKed (RFC 2018 §8); all SACK information was
    /// dropped. Linux answers with an early RTO (after max(SRTT/2, 10 ms)).
    pub reneged: bool,
}

/// The answer of NextSeg() (RFC 6675 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextSeg {
    /// Rules 1 and 3: retransmit this unSACKed range (at most one SMSS), then call
    /// [`Scoreboard::on_retransmit`].
    Retransmit(Range<u64>),
    /// Rule 2: send up to one SMSS of new data at SND.NXT.
    NewData,
    /// Rule 4: the one rescue retransmission of this recovery episode. The range ends at the
    /// highest unSACKed octet, which the segment sent MUST include; then call
    /// [`Scoreboard::on_rescue`].
    Rescue(Range<u64>),
    /// Nothing to send.
    Nothing,
}

/// RFC 6675 scoreboard: SACKed ranges above SND.UNA plus HighACK, HighRxt, RescueRxt,
/// RecoveryPoint and DupAcks.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    /// SACKed octets, all at or above `high_ack`.
    sacked: RangeSet,
    /// HighACK + 1, i.e. SND.UNA as of the last ACK.
    high_ack: u64,
    /// HighRxt + 1: end of the highest range retransmitted in this recovery episode.
    /// At most `high_ack` outside recovery (RFC 6675 §5 step 3.1: HighRxt = HighACK).
    high_rxt: u64,
    /// RecoveryPoint + 1 (SND.NXT at recovery entry or at the last RTO); 0 before any.
    recovery_point: u64,
    in_recovery: bool,
    /// RescueRxt is defined. It is set to RecoveryPoint, which HighACK only passes when the
    /// episode ends, so "HighACK > RescueRxt" reduces to "no rescue yet this episode".
    rescue_sent: bool,
    /// DupAcks (RFC 6675 §2).
    dup_acks: u32,
}

impl Scoreboard {
    /// An empty scoreboard; SND.UNA starts at 0 (the SYN).
    pub fn new() -> Scoreboard {
        Scoreboard::default()
    }

    /// Processes an acceptable ACK: SND.UNA after it, SND.NXT (HighData + 1), the SACK blocks
    /// as sent by the peer, and the SMSS. An ACK below an earlier one acknowledges nothing.
    pub fn on_ack(&mut self, snd_una: u64, snd_nxt: u64, sack_blocks: &[Range<u64>], mss: u32) -> AckInfo {
        let una = snd_una.max(self.high_ack);
        let newly_acked = una - self.high_ack;
        let sacked_before = self.sacked.total_bytes();
        self.high_ack = una;
        // RFC 6675 §4 Update(): cumulatively ACKed octets leave the scoreboard.
        self.sacked.remove_below(una);
        let sacked_now_acked = sacked_before - self.sacked.total_bytes();
        // RFC 2018 §8 reneging: the cumulative ACK stops at or inside data the receiver had
        // SACKed, so it discarded that data. Keeping SACK information across an RTO is only
        // allowed with such a test (RFC 6675 §5.1); on reneging all of it goes.
        let reneged = self.sacked.contains(una);
        if reneged {
            self.sacked.clear();
        }
        let mut newly_sacked = 0;
        for block in sack_blocks {
            // A SACK block reports data received above the cumulative ACK (RFC 2018 §3), so
            // it lies in (SND.UNA, SND.NXT]. Anything reaching SND.UNA or below is a D-SACK
            // (RFC 2883 §4) or a reordered old ACK's; beyond SND.NXT it is bogus. Both are
            // ignored (no D-SACK support).
            if una < block.start && block.end <= snd_nxt {
                newly_sacked += self.sacked.insert(block.clone());
            }
        }
        // RFC 6675 §2 "DupAck".
        let is_dup = newly_sacked > 0;
        // RFC 6675 §5: a cumulative ACK resets DupAcks.
        if newly_acked > 0 {
            self.dup_acks = 0;
        }
        // RFC 6675 §5 step A: a cumulative ACK covering RecoveryPoint ends recovery; the
        // SACK information above HighACK is kept.
        let recovery_ended = self.in_recovery && una >= self.recovery_point;
        if recovery_ended {
            self.in_recovery = false;
            self.high_rxt = una;
        }
        // RFC 6675 §5: DupAcks counts only outside recovery; steps 1-2 decide on loss.
        let mut enter_recovery = false;
        if is_dup && !self.in_recovery {
            self.dup_acks += 1;
            enter_recovery = self.may_enter_recovery() && (self.dup_acks >= DUP_THRESH || self.is_lost(una, mss));
        }
        AckInfo {
            newly_acked,
            newly_sacked,
            delivered: newly_acked - sacked_now_acked + newly_sacked,
            is_dup,
            enter_recovery,
            recovery_ended,
            reneged,
        }
    }

    /// Whether a new recovery episode may start: none is running and, after an RTO, SND.UNA
    /// has reached the RecoveryPoint recorded then (RFC 6675 §5.1). [`on_ack`](Self::on_ack)
    /// checks this itself; it is for callers detecting loss otherwise (NewReno without SACK,
    /// RFC 6582 §3.2 step 2 has the same rule).
    pub fn may_enter_recovery(&self) -> bool {
        !self.in_recovery && self.high_ack >= self.recovery_point
    }

    /// Enters loss recovery (RFC 6675 §5 step 4.1: RecoveryPoint = HighData). The caller then
    /// retransmits the segment at SND.UNA (step 4.3) and reports it with
    /// [`on_retransmit`](Self::on_retransmit), which sets HighRxt to its end.
    pub fn enter_recovery(&mut self, snd_nxt: u64) {
        self.recovery_point = snd_nxt;
        self.in_recovery = true;
        self.high_rxt = self.high_ack;
        self.rescue_sent = false;
    }

    /// Whether loss recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// The retransmission timer expired. Recovery ends and RecoveryPoint becomes HighData, so
    /// no new recovery starts until SND.UNA reaches `snd_nxt` (RFC 6675 §5.1; RFC 6582 §3.2
    /// step 4 does the same for an RTO outside recovery). SACK information is kept: RFC 6675
    /// §5.1 allows that given a reneging test, which [`on_ack`](Self::on_ack) has. The segment
    /// at SND.UNA must still be retransmitted even if SACKed (RFC 2018 §5).
    pub fn on_rto(&mut self, snd_nxt: u64) {
        self.recovery_point = snd_nxt;
        self.in_recovery = false;
        self.high_rxt = self.high_ack;
    }

    /// IsLost(seq) (RFC 6675 §4) with DupThresh = 3: true if at least DupThresh discontiguous
    /// SACKed ranges, or more than (DupThresh - 1) * SMSS SACKed octets, lie above `seq`.
    /// Costs O(log n): at most DupThresh ranges are looked at.
    pub fn is_lost(&self, seq: u64, mss: u32) -> bool {
        let above = self.sacked.iter_within(seq.saturating_add(1)..u64::MAX);
        let mut bytes = 0;
        above.enumerate().any(|(n, r)| {
            bytes += r.end - r.start;
            lost_threshold_met(n + 1, bytes, mss)
        })
    }

    /// Whether every octet of `r` has been SACKed.
    pub fn is_sacked(&self, r: Range<u64>) -> bool {
        self.sacked.covers(r)
    }

    /// SetPipe() (RFC 6675 §4): octets estimated in flight, counted over ranges.
    pub fn pipe(&self, snd_una: u64, snd_nxt: u64, mss: u32) -> u64 {
        let nxt = snd_nxt.max(snd_una);
        let rxt_end = self.high_rxt.clamp(snd_una, nxt);
        if self.sacked.is_empty() {
            // Nothing SACKed, so nothing IsLost(): the whole flight, plus the retransmitted
            // octets again (the general case below, without its range lookups).
            return (nxt - snd_una) + (rxt_end - snd_una);
        }
        let unsacked = |r: Range<u64>| (r.end - r.start) - self.sacked.covered_bytes_in(r);
        // (a) unSACKed octets for which IsLost() is false.
        let not_lost = unsacked(self.lost_boundary(mss).clamp(snd_una, nxt)..nxt);
        // (b) unSACKed octets at or below HighRxt (counted again if also not lost).
        let retransmitted = unsacked(snd_una..rxt_end);
        not_lost + retransmitted
    }

    /// NextSeg() (RFC 6675 §4). `new_data_ok` is the caller's answer to rule 2: unsent data
    /// exists and the receive window allows sending it. Outside recovery only rule 2 applies
    /// (limited transmit, RFC 6675 §5 step 3). Does not change state: report what was sent
    /// with [`on_retransmit`](Self::on_retransmit) or [`on_rescue`](Self::on_rescue).
    pub fn next_seg(&self, snd_una: u64, snd_nxt: u64, mss: u32, new_data_ok: bool) -> NextSeg {
        if !self.in_recovery {
            return if new_data_ok { NextSeg::NewData } else { NextSeg::Nothing };
        }
        // Rule 1.a: S2 > HighRxt.
        let from = self.high_rxt.max(snd_una);
        // Rules 1.b and 1.c: an unSACKed octet is below the highest SACKed octet and IsLost()
        // exactly when it is below `lost_boundary` (at most the highest range's start).
        if let Some(seg) = self.first_hole(from..self.lost_boundary(mss), mss) {
            return NextSeg::Retransmit(seg);
        }
        if new_data_ok {
            return NextSeg::NewData;
        }
        // Rule 3: as rule 1 without 1.c.
        let below_highest_sack = self.sacked.last().map_or(from, |r| r.start);
        if let Some(seg) = self.first_hole(from..below_highest_sack, mss) {
            return NextSeg::Retransmit(seg);
        }
        // Rule 4: up to one SMSS including the highest outstanding unSACKed octet, once per
        // recovery episode.
        if !self.rescue_sent {
            let end = match self.sacked.last() {
                Some(r) if r.end >= snd_nxt => r.start,
                _ => snd_nxt,
            };
            let start = end.saturating_sub(u64::from(mss)).max(snd_una);
            if let Some(seg) = self.sacked.gaps_in(start..end).last() {
                return NextSeg::Rescue(seg);
            }
        }
        NextSeg::Nothing
    }

    /// Records a retransmission during recovery (the fast retransmit or rule 1/3): HighRxt
    /// moves to its end (RFC 6675 §5 steps 4.3 and C.2). Retransmissions outside recovery
    /// (e.g. after an RTO) are not tracked.
    pub fn on_retransmit(&mut self, r: Range<u64>) {
        if self.in_recovery {
            self.high_rxt = self.high_rxt.max(r.end);
        }
    }

    /// Records the rule 4 rescue retransmission: RescueRxt = RecoveryPoint and HighRxt is
    /// NOT updated (RFC 6675 §4 NextSeg rule 4). So Pipe() does not count it; add its length
    /// to the pipe estimate yourself when looping (RFC 6675 §5 step C.4).
    pub fn on_rescue(&mut self) {
        self.rescue_sent = true;
    }

    /// Total SACKed octets above SND.UNA.
    pub fn sacked_bytes(&self) -> u64 {
        self.sacked.total_bytes()
    }

    /// Every unSACKed octet below the returned bound is lost per IsLost() and none at or above
    /// it is: the start of the first SACKed range, counting down from the highest, at which
    /// the IsLost() thresholds are met (0 if they never are). Looks at most at DupThresh
    /// ranges.
    fn lost_boundary(&self, mss: u32) -> u64 {
        let mut bytes = 0;
        for (n, r) in self.sacked.iter_rev().enumerate() {
            bytes += r.end - r.start;
            if lost_threshold_met(n + 1, bytes, mss) {
                return r.start;
            }
        }
        0
    }

    /// Up to one SMSS from the start of the first unSACKed hole in `r`.
    fn first_hole(&self, r: Range<u64>, mss: u32) -> Option<Range<u64>> {
        let hole = self.sacked.gaps_in(r).next()?;
        Some(hole.start..hole.end.min(hole.start + u64::from(mss)))
    }
}

/// The IsLost() thresholds (RFC 6675 §4): `ranges` discontiguous SACKed ranges holding
/// `bytes` octets lie above the sequence number in question.
fn lost_threshold_met(ranges: usize, bytes: u64, mss: u32) -> bool {
    ranges >= DUP_THRESH as usize || bytes > u64::from(DUP_THRESH - 1) * u64::from(mss)
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-block SACK lists
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// Ten segments of 1000 octets sent: [0, 10000).
    const NXT: u64 = 10_000;

    fn ack(sb: &mut Scoreboard, una: u64, blocks: &[Range<u64>]) -> AckInfo {
        sb.on_ack(una, NXT, blocks, MSS)
    }

    fn pipe(sb: &Scoreboard, nxt: u64) -> u64 {
        sb.pipe(sb.high_ack, nxt, MSS)
    }

    fn next(sb: &Scoreboard, nxt: u64, new_data_ok: bool) -> NextSeg {
        sb.next_seg(sb.high_ack, nxt, MSS, new_data_ok)
    }

    /// Fast retransmit of the segment at SND.UNA (RFC 6675 §5 steps 4.1 and 4.3).
    fn fast_retransmit(sb: &mut Scoreboard, nxt: u64) {
        sb.enter_recovery(nxt);
        sb.on_retransmit(sb.high_ack..sb.high_ack + u64::from(MSS));
    }

    #[test]
    fn dupack_counting_enters_recovery_on_third() {
        // Segment 0 lost; segments 1, 2, 3 arrive and are SACKed one by one.
        let mut sb = Scoreboard::new();
        let a = ack(&mut sb, 0, &[1000..2000]);
        assert!(a.is_dup && !a.enter_recovery);
        assert_eq!((a.newly_sacked, a.newly_acked, a.delivered), (1000, 0, 1000));
        // 2000 SACKed octets above 0: not more than 2 * SMSS, one range.
        assert!(!ack(&mut sb, 0, &[1000..3000]).enter_recovery);
        assert!(!sb.is_lost(0, MSS));
        let a = ack(&mut sb, 0, &[1000..4000]);
        assert!(a.is_dup && a.enter_recovery);
        assert!(sb.is_lost(0, MSS));
        // The same SACK again is not a DupAck.
        assert!(!ack(&mut sb, 0, &[1000..4000]).is_dup);
    }

    #[test]
    fn islost_enters_recovery_before_three_dupacks() {
        // A single ACK (earlier ones lost) SACKing three discontiguous segments.
        let mut sb = Scoreboard::new();
        assert!(ack(&mut sb, 0, &[1000..2000, 3000..4000, 5000..6000]).enter_recovery);
        // 2001 contiguous octets SACKed above 0 are also enough.
        let mut sb = Scoreboard::new();
        assert!(!ack(&mut sb, 0, &[1000..3000]).enter_recovery);
        assert!(ack(&mut sb, 0, &[1000..3001]).enter_recovery);
    }

    #[test]
    fn three_small_dupacks_enter_recovery_without_islost() {
        // RFC 6675 §5 step 1 note: small segments leave IsLost() false.
        let mut sb = Scoreboard::new();
        assert!(!ack(&mut sb, 0, &[1000..1100]).enter_recovery);
        assert!(!ack(&mut sb, 0, &[1000..1200]).enter_recovery);
        assert!(!sb.is_lost(0, MSS));
        assert!(ack(&mut sb, 0, &[1000..1300]).enter_recovery);
    }

    #[test]
    fn cumulative_ack_resets_dupacks_and_reports_delivery() {
        let mut sb = Scoreboard::new();
        ack(&mut sb, 0, &[2000..3000]);
        ack(&mut sb, 0, &[2000..3000, 4000..5000]);
        // 0..2000 arrives: ACK 3000. 3000 newly acked, 1000 of them SACKed before; the ACK
        // adds no SACK information, so it is no DupAck.
        let a = ack(&mut sb, 3000, &[4000..5000]);
        assert_eq!((a.newly_acked, a.newly_sacked, a.delivered, a.is_dup), (3000, 0, 2000, false));
        assert_eq!(sb.sacked_bytes(), 1000);
        // DupAcks restarted from zero: two more DupAcks do not reach DupThresh.
        assert!(!ack(&mut sb, 3000, &[4000..5100]).enter_recovery);
        assert!(!ack(&mut sb, 3000, &[4000..5200]).enter_recovery);
        assert!(ack(&mut sb, 3000, &[4000..5300]).enter_recovery);
    }

    #[test]
    fn invalid_blocks_are_ignored() {
        let mut sb = Scoreboard::new();
        ack(&mut sb, 2000, &[]);
        // D-SACK below SND.UNA, one straddling it, one starting at it, one beyond SND.NXT,
        // an empty one.
        let a = ack(&mut sb, 2000, &[0..1000, 1500..2500, 2000..2500, 9000..11_000, 5000..5000]);
        assert_eq!((a.newly_sacked, a.is_dup, a.reneged), (0, false, false));
        assert_eq!(sb.sacked_bytes(), 0);
        // A block ending exactly at SND.NXT is fine.
        assert_eq!(ack(&mut sb, 2000, &[9000..10_000]).newly_sacked, 1000);
        assert!(sb.is_sacked(9000..10_000) && !sb.is_sacked(8999..10_000));
        // A D-SACK inside already SACKed data is no DupAck.
        assert!(!ack(&mut sb, 2000, &[9500..10_000, 9000..10_000]).is_dup);
    }

    #[test]
    fn reneging_drops_sack_information() {
        let mut sb = Scoreboard::new();
        ack(&mut sb, 1000, &[2000..4000, 6000..7000]);
        // The hole 1000..2000 is filled, yet the ACK stops at 2000: 2000..4000 was discarded.
        let a = ack(&mut sb, 2000, &[]);
        assert!(a.reneged);
        assert_eq!((a.newly_acked, a.delivered, sb.sacked_bytes()), (1000, 1000, 0));
        // ACKing into the middle of a SACKed range is reneging too.
        ack(&mut sb, 2000, &[3000..5000]);
        assert!(ack(&mut sb, 4000, &[]).reneged);
        // An ACK up to the end of a SACKed range is not.
        ack(&mut sb, 4000, &[5000..6000]);
        assert!(!ack(&mut sb, 6000, &[]).reneged);
    }

    /// Segments 1 and 5 lost, everything else arrived: SND.UNA = 1000, SACKed 2000..5000 and
    /// 6000..10000.
    fn two_losses() -> Scoreboard {
        let mut sb = Scoreboard::new();
        ack(&mut sb, 1000, &[]);
        assert!(ack(&mut sb, 1000, &[2000..5000, 6000..10_000]).enter_recovery);
        sb
    }

    #[test]
    fn recovery_with_two_losses() {
        let mut sb = two_losses();
        // The highest range holds 4000 > 2000 octets: both holes are lost, nothing is in flight.
        assert!(sb.is_lost(1000, MSS) && sb.is_lost(5000, MSS) && !sb.is_lost(9000, MSS));
        assert_eq!(pipe(&sb, NXT), 0);
        // Step 4.3: fast retransmit 1000..2000; pipe counts it (S1 <= HighRxt).
        fast_retransmit(&mut sb, NXT);
        assert!(sb.in_recovery() && !sb.may_enter_recovery());
        assert_eq!(pipe(&sb, NXT), 1000);
        // Rule 1: the next lost hole above HighRxt.
        assert_eq!(next(&sb, NXT, true), NextSeg::Retransmit(5000..6000));
        sb.on_retransmit(5000..6000);
        assert_eq!(pipe(&sb, NXT), 2000);
        // Rule 2 once no lost data remains.
        assert_eq!(next(&sb, NXT, true), NextSeg::NewData);
        // Without new data, rule 3 finds no hole above HighRxt below 6000, and rule 4 rescues
        // the highest unSACKed octets, 5000..6000, once. HighRxt does not move.
        assert_eq!(next(&sb, NXT, false), NextSeg::Rescue(5000..6000));
        sb.on_rescue();
        assert_eq!(next(&sb, NXT, false), NextSeg::Nothing);
        assert_eq!(pipe(&sb, NXT), 2000);
        // A partial ACK (covers the first retransmission) does not end recovery.
        let a = ack(&mut sb, 5000, &[6000..10_000]);
        assert!(!a.recovery_ended && sb.in_recovery());
        assert_eq!((a.newly_acked, a.delivered), (4000, 1000));
        assert_eq!(pipe(&sb, NXT), 1000);
        // The ACK of RecoveryPoint ends it; no retransmission rules apply afterwards.
        let a = ack(&mut sb, NXT, &[]);
        assert!(a.recovery_ended && !sb.in_recovery() && sb.may_enter_recovery());
        assert_eq!(pipe(&sb, NXT), 0);
        assert_eq!(next(&sb, NXT, false), NextSeg::Nothing);
    }

    #[test]
    fn retransmissions_are_one_smss_within_a_hole() {
        // Octets 1000..3500 lost (a 2500-octet hole), 3500..10000 SACKed.
        let mut sb = Scoreboard::new();
        ack(&mut sb, 1000, &[]);
        assert!(ack(&mut sb, 1000, &[3500..10_000]).enter_recovery);
        fast_retransmit(&mut sb, NXT);
        assert_eq!(next(&sb, NXT, false), NextSeg::Retransmit(2000..3000));
        sb.on_retransmit(2000..3000);
        assert_eq!(next(&sb, NXT, false), NextSeg::Retransmit(3000..3500));
        sb.on_retransmit(3000..3500);
        assert_eq!(pipe(&sb, NXT), 2500);
    }

    #[test]
    fn rule3_retransmits_holes_not_yet_lost() {
        // SACKed 1000..2000 and 3000..4000 of [0, 6000): two ranges, 2000 octets, so IsLost()
        // is false everywhere.
        let nxt = 6000;
        let mut sb = Scoreboard::new();
        sb.on_ack(0, nxt, &[1000..2000, 3000..4000], MSS);
        assert!(!sb.is_lost(0, MSS));
        // All 4000 unSACKed octets are in flight.
        assert_eq!(pipe(&sb, nxt), 4000);
        fast_retransmit(&mut sb, nxt);
        // The fast retransmission is counted twice (sent twice, neither known lost).
        assert_eq!(pipe(&sb, nxt), 5000);
        assert_eq!(next(&sb, nxt, true), NextSeg::NewData);
        assert_eq!(next(&sb, nxt, false), NextSeg::Retransmit(2000..3000));
        sb.on_retransmit(2000..3000);
        assert_eq!(pipe(&sb, nxt), 6000);
        // Rule 4: the rescue segment ends with the tail beyond the highest SACK.
        assert_eq!(next(&sb, nxt, false), NextSeg::Rescue(5000..6000));
    }

    #[test]
    fn rescue_without_any_sack_and_once_per_episode() {
        let mut sb = Scoreboard::new();
        fast_retransmit(&mut sb, NXT);
        assert_eq!(next(&sb, NXT, false), NextSeg::Rescue(9000..10_000));
        sb.on_rescue();
        assert_eq!(next(&sb, NXT, false), NextSeg::Nothing);
        // A new episode gets a new rescue.
        ack(&mut sb, NXT, &[]);
        let nxt = 15_000;
        fast_retransmit(&mut sb, nxt);
        assert_eq!(next(&sb, nxt, false), NextSeg::Rescue(14_000..15_000));
    }

    #[test]
    fn outside_recovery_only_new_data() {
        let mut sb = Scoreboard::new();
        ack(&mut sb, 0, &[1000..2000, 3000..4000, 5000..6000]);
        assert_eq!(next(&sb, NXT, true), NextSeg::NewData);
        assert_eq!(next(&sb, NXT, false), NextSeg::Nothing);
        // Step 3.1: HighRxt = HighACK, so retransmissions do not count in pipe.
        sb.on_retransmit(0..1000);
        // Three SACKed ranges lie above 0..1000 only: in flight are 2000..3000, 4000..5000
        // and 6000..10000.
        assert_eq!(pipe(&sb, NXT), 6000);
    }

    #[test]
    fn rto_keeps_sack_and_blocks_recovery_until_recovery_point() {
        let mut sb = two_losses();
        fast_retransmit(&mut sb, NXT);
        // More data was sent in recovery; then the timer fires.
        let nxt = 12_000;
        sb.on_rto(nxt);
        assert!(!sb.in_recovery() && !sb.may_enter_recovery());
        assert_eq!(sb.sacked_bytes(), 7000);
        // Lost: 1000..2000 and 5000..6000; in flight: 10000..12000.
        assert_eq!(pipe(&sb, nxt), 2000);
        // New SACK information and loss, but no new recovery (§5.1)...
        let a = sb.on_ack(5000, nxt, &[6000..10_000, 10_500..11_000], MSS);
        assert!(a.is_dup && !a.enter_recovery);
        // ...until SND.UNA reaches the RecoveryPoint set at the RTO.
        let nxt = 20_000;
        sb.on_ack(12_000, nxt, &[], MSS);
        assert!(sb.may_enter_recovery());
        assert!(sb.on_ack(12_000, nxt, &[13_000..16_000], MSS).enter_recovery);
    }

    /// xorshift64*: a small deterministic generator, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// Range-based IsLost(), SetPipe() and NextSeg() rule 1 agree with the RFC's per-octet
    /// definitions on random scoreboards.
    #[test]
    fn matches_per_octet_definitions() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..2000 {
            let mss = 1 + rng.below(8) as u32;
            let una = rng.below(10);
            let nxt = una + rng.below(60);
            let mut sb = Scoreboard::new();
            let blocks: Vec<_> = (0..rng.below(6))
                .map(|_| {
                    let s = una + rng.below(nxt - una + 1);
                    s..s + rng.below(nxt - s + 1)
                })
                .collect();
            sb.on_ack(una, nxt, &blocks, mss);
            sb.enter_recovery(nxt);
            sb.on_retransmit(una..una + rng.below(nxt - una + 1));

            // Literal IsLost(): count SACKed runs and octets strictly above seq.
            let lost = |seq: u64| {
                let above: Vec<u64> = (seq + 1..nxt).filter(|&x| sb.sacked.contains(x)).collect();
                let runs = above.iter().enumerate().filter(|&(i, &x)| i == 0 || above[i - 1] + 1 != x).count();
                runs >= 3 || above.len() as u64 > 2 * u64::from(mss)
            };
            let unsacked: Vec<u64> = (una..nxt).filter(|&x| !sb.sacked.contains(x)).collect();
            for seq in una..nxt {
                assert_eq!(sb.is_lost(seq, mss), lost(seq));
            }
            // SetPipe() per octet.
            let high_rxt = sb.high_rxt;
            let pipe: u64 = unsacked.iter().map(|&s| u64::from(!lost(s)) + u64::from(s < high_rxt)).sum();
            assert_eq!(sb.pipe(una, nxt, mss), pipe);
            // NextSeg() rule 1 per octet.
            let highest_sacked = (una..nxt).rev().find(|&x| sb.sacked.contains(x));
            let rule1 = |s: u64| s >= high_rxt && highest_sacked.is_some_and(|h| s < h) && lost(s);
            match (sb.next_seg(una, nxt, mss, true), unsacked.iter().copied().find(|&s| rule1(s))) {
                (NextSeg::Retransmit(r), Some(s2)) => {
                    assert_eq!(r.start, s2);
                    assert!(r.end - r.start <= u64::from(mss) && (r.start..r.end).all(|x| !sb.sacked.contains(x)));
                }
                (NextSeg::NewData, None) => {}
                (got, want) => panic!("next_seg {got:?}, rule 1 wants {want:?}"),
            }
        }
    }
}
