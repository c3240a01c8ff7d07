//! The TCP option block: MSS, window scale, SACK-permitted, SACK blocks, timestamps and the
//! MPTCP options, parsed together and emitted within the 40-byte option space.
//!
//! # What fits when not everything does
//!
//! [`TcpOptions::emit`] places items in this priority order and drops whatever no longer fits,
//! reporting it in [`Emitted::dropped`] so the caller can send it on a later segment:
//!
//! 1. SYN options: MSS, timestamps (sharing a word with SACK-permitted), SACK-permitted, window
//!    scale. Together with MP_CAPABLE or MP_JOIN they always fit (at most 36 bytes).
//! 2. Timestamps: once negotiated they go on every segment (RFC 7323 §3.2); the kernel also
//!    reserves them before any MPTCP option.
//! 3. MP_CAPABLE, MP_JOIN: handshake options cannot wait.
//! 4. MP_FASTCLOSE, MP_TCPRST, MP_FAIL: they accompany a reset or a checksum failure.
//! 5. DSS: the mapping must ride with its data, and the DATA_ACK keeps the peer sending.
//! 6. ADD_ADDR, REMOVE_ADDR, MP_PRIO: signalling that can be sent on the next segment (the
//!    kernel sends ADD_ADDR on a pure ACK of its own).
//! 7. SACK blocks last, as in the kernel's `tcp_established_options()`: as many blocks as the
//!    remaining space holds, fewer rather than displacing MPTCP signalling.
//!
//! Each option is padded with NOPs to a 32-bit boundary the way the kernel writes it.

use super::mptcp::{
    AddAddrRepr, CapableRepr, DssRepr, FailRepr, FastCloseRepr, JoinRepr, MptcpOption, MptcpRepr, PrioRepr,
    RemoveAddrRepr, Subtype, TcpRstRepr,
};
use super::{Error, OptionContext, Result};

/// The TCP option space: 60-byte maximum header less the 20-byte fixed header.
pub const MAX_OPTION_SPACE: usize = 40;

const KIND_EOL: u8 = 0;
const KIND_NOP: u8 = 1;
const KIND_MSS: u8 = 2;
const KIND_WS: u8 = 3;
const KIND_SACK_PERMITTED: u8 = 4;
const KIND_SACK: u8 = 5;
const KIND_TIMESTAMP: u8 = 8;

/// Most SACK blocks a segment can carry (4 without timestamps, RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The RFC 7323 timestamp option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// TSval.
    pub tsval: u32,
    /// TSecr.
    pub tsecr: u32,
}

/// Up to four SACK blocks `(left, right)` (RFC 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackBlocks {
    blocks: [(u32, u32); MAX_SACK_BLOCKS],
    count: u8,
}

impl SackBlocks {
    /// The first four of `blocks`.
    pub fn from_slice(blocks: &[(u32, u32)]) -> SackBlocks {
        let mut s = SackBlocks::default();
        for b in blocks.iter().take(MAX_SACK_BLOCKS) {
            s.blocks[usize::from(s.count)] = *b;
            s.count += 1;
        }
        s
    }

    /// The blocks, most important (most recent) first.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.count)]
    }

    /// No blocks.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The MPTCP options of one segment, one slot per subtype (a repeated subtype replaces the
/// earlier one, as in the kernel's parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MptcpOptions {
    /// MP_CAPABLE.
    pub capable: Option<CapableRepr>,
    /// MP_JOIN.
    pub join: Option<JoinRepr>,
    /// MP_FASTCLOSE.
    pub fastclose: Option<FastCloseRepr>,
    /// MP_TCPRST.
    pub tcp_rst: Option<TcpRstRepr>,
    /// MP_FAIL.
    pub fail: Option<FailRepr>,
    /// DSS.
    pub dss: Option<DssRepr>,
    /// ADD_ADDR.
    pub add_addr: Option<AddAddrRepr>,
    /// REMOVE_ADDR.
    pub remove_addr: Option<RemoveAddrRepr>,
    /// MP_PRIO.
    pub prio: Option<PrioRepr>,
}

impl MptcpOptions {
    /// Puts `repr` in its slot; returns whether the slot was already taken.
    pub fn insert(&mut self, repr: MptcpRepr) -> bool {
        fn put<T>(slot: &mut Option<T>, v: T) -> bool {
            slot.replace(v).is_some()
        }
        match repr {
            MptcpRepr::Capable(r) => put(&mut self.capable, r),
            MptcpRepr::Join(r) => put(&mut self.join, r),
            MptcpRepr::FastClose(r) => put(&mut self.fastclose, r),
            MptcpRepr::TcpRst(r) => put(&mut self.tcp_rst, r),
            MptcpRepr::Fail(r) => put(&mut self.fail, r),
            MptcpRepr::Dss(r) => put(&mut self.dss, r),
            MptcpRepr::AddAddr(r) => put(&mut self.add_addr, r),
            MptcpRepr::RemoveAddr(r) => put(&mut self.remove_addr, r),
            MptcpRepr::Prio(r) => put(&mut self.prio, r),
        }
    }

    /// Parses one MPTCP option (kind, length, …) into its slot. DSS, on every segment, goes
    /// straight there; the rest through [`MptcpRepr`].
    fn parse_option(&mut self, bytes: &[u8], ctx: OptionContext) -> Result<()> {
        let opt = MptcpOption::new_checked(bytes)?;
        if opt.subtype() == Subtype::Dss as u8 {
            self.dss = Some(DssRepr::parse(opt.body(), ctx)?);
        } else {
            self.insert(MptcpRepr::parse(&opt, ctx)?);
        }
        Ok(())
    }

    /// Calls `f` with each option present, in emission priority order (as [`iter`](Self::iter)
    /// yields them, without building the list first: this runs for every segment sent).
    fn for_each(&self, mut f: impl FnMut(MptcpRepr)) {
        macro_rules! each {
            ($($slot:ident => $variant:ident),*) => {
                $(if let Some(r) = self.$slot {
                    f(MptcpRepr::$variant(r));
                })*
            };
        }
        each!(
            capable => Capable,
            join => Join,
            fastclose => FastClose,
            tcp_rst => TcpRst,
            fail => Fail,
            dss => Dss,
            add_addr => AddAddr,
            remove_addr => RemoveAddr,
            prio => Prio
        );
    }

    /// The options present, in emission priority order.
    pub fn iter(&self) -> impl Iterator<Item = MptcpRepr> + '_ {
        [
            self.capable.map(MptcpRepr::Capable),
            self.join.map(MptcpRepr::Join),
            self.fastclose.map(MptcpRepr::FastClose),
            self.tcp_rst.map(MptcpRepr::TcpRst),
            self.fail.map(MptcpRepr::Fail),
            self.dss.map(MptcpRepr::Dss),
            self.add_addr.map(MptcpRepr::AddAddr),
            self.remove_addr.map(MptcpRepr::RemoveAddr),
            self.prio.map(MptcpRepr::Prio),
        ]
        .into_iter()
        .flatten()
    }

    /// No MPTCP option at all.
    pub fn is_empty(&self) -> bool {
        *self == MptcpOptions::default()
    }
}

/// Every option of one TCP segment that this stack understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift as received (SYN only); RFC 7323 §2.3 clamps above 14 on use.
    pub window_scale: Option<u8>,
    /// SACK-permitted (SYN only).
    pub sack_permitted: bool,
    /// Timestamps.
    pub timestamp: Option<Timestamp>,
    /// SACK blocks (not on SYN).
    pub sack: SackBlocks,
    /// MPTCP options.
    pub mptcp: MptcpOptions,
}

/// Known options that were skipped because they were malformed for this segment; the rest of
/// the block still counts. The caller turns these into counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ignored {
    /// How many options were skipped.
    pub count: u8,
    /// Why the last MPTCP option among them was skipped, if one was.
    pub last_mptcp_error: Option<Error>,
}

/// One item of the option block, as reported in [`Emitted::dropped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionItem {
    /// MSS.
    Mss,
    /// Window scale.
    WindowScale,
    /// SACK-permitted.
    SackPermitted,
    /// Timestamps.
    Timestamp,
    /// An MPTCP option of this subtype.
    Mptcp(Subtype),
    /// SACK blocks beyond those that fitted.
    SackBlocks,
}

impl OptionItem {
    fn bit(self) -> u16 {
        match self {
            OptionItem::Mss => 1 << 0,
            OptionItem::WindowScale => 1 << 1,
            OptionItem::SackPermitted => 1 << 2,
            OptionItem::Timestamp => 1 << 3,
            OptionItem::SackBlocks => 1 << 4,
            OptionItem::Mptcp(s) => 1 << (5 + s as u16),
        }
    }
}

/// A set of [`OptionItem`]s (no allocation: it is built for every segment sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemSet(u16);

impl ItemSet {
    /// Adds `item`.
    pub fn insert(&mut self, item: OptionItem) {
        self.0 |= item.bit();
    }

    /// Is `item` in the set?
    pub fn contains(&self, item: OptionItem) -> bool {
        self.0 & item.bit() != 0
    }

    /// The empty set?
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// What [`TcpOptions::emit`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Emitted {
    /// Bytes written, a multiple of 4.
    pub len: usize,
    /// Items that did not fit.
    pub dropped: ItemSet,
    /// How many SACK blocks were written.
    pub sack_blocks: usize,
}

/// Rounds up to the next 32-bit boundary.
const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn ignore(ignored: &mut Ignored) {
    ignored.count = ignored.count.saturating_add(1);
}

impl TcpOptions {
    /// Parses an option block (the bytes between the fixed TCP header and the payload).
    ///
    /// A block whose structure is broken (a length byte below 2 or past the end) is an error.
    /// A well-formed but invalid option (wrong length, not allowed on this segment) is skipped
    /// and counted in [`Ignored`], as the kernel's `tcp_parse_options()` skips it.
    pub fn parse(bytes: &[u8], ctx: OptionContext) -> Result<(TcpOptions, Ignored)> {
        let mut opts = TcpOptions::default();
        let ignored = opts.parse_into(bytes, ctx)?;
        Ok((opts, ignored))
    }

    /// [`parse`](Self::parse) into `self`, which must be empty: it spares moving the block
    /// around, as parsing it is part of every segment received.
    pub(crate) fn parse_into(&mut self, bytes: &[u8], ctx: OptionContext) -> Result<Ignored> {
        let mut ignored = Ignored::default();
        let mut rest = bytes;
        while let Some(&kind) = rest.first() {
            match kind {
                KIND_EOL => break,
                KIND_NOP => {
                    rest = &rest[1..];
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.get(1).ok_or(Error::OptionOverrun)?);
            if len < 2 || len > rest.len() {
                return Err(Error::OptionOverrun);
            }
            let (option, tail) = rest.split_at(len);
            rest = tail;
            let data = &option[2..];
            match kind {
                KIND_MSS if len == 4 && ctx.syn => self.mss = Some(u16::from_be_bytes([data[0], data[1]])),
                KIND_WS if len == 3 && ctx.syn => self.window_scale = Some(data[0]),
                KIND_SACK_PERMITTED if len == 2 && ctx.syn => self.sack_permitted = true,
                KIND_SACK if !ctx.syn && data.len() % 8 == 0 && (1..=MAX_SACK_BLOCKS).contains(&(data.len() / 8)) => {
                    let mut blocks = [(0, 0); MAX_SACK_BLOCKS];
                    for (b, chunk) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                        let w = |i: usize| u32::from_be_bytes(chunk[i..i + 4].try_into().expect("four bytes"));
                        *b = (w(0), w(4));
                    }
                    self.sack = SackBlocks::from_slice(&blocks[..data.len() / 8]);
                }
                KIND_TIMESTAMP if len == 10 => {
                    let w = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().expect("four bytes"));
                    self.timestamp = Some(Timestamp { tsval: w(0), tsecr: w(4) });
                }
                super::mptcp::KIND => match self.mptcp.parse_option(option, ctx) {
                    Ok(()) => {}
                    Err(e) => {
                        ignore(&mut ignored);
                        ignored.last_mptcp_error = Some(e);
                    }
                },
                KIND_MSS | KIND_WS | KIND_SACK_PERMITTED | KIND_SACK | KIND_TIMESTAMP => ignore(&mut ignored),
                // Options this stack does not implement (MD5, TFO, AO, …) are skipped silently.
                _ => {}
            }
        }
        Ok(ignored)
    }

    /// Emits the block into `buf` (at most [`MAX_OPTION_SPACE`] bytes are used), in the
    /// priority order of the module documentation, dropping what does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Emitted {
        let budget = buf.len().min(MAX_OPTION_SPACE);
        let mut w = Writer { buf: &mut buf[..budget], at: 0, out: Emitted::default() };
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            w.item(OptionItem::Mss, 4, |b| b.copy_from_slice(&[KIND_MSS, 4, hi, lo]));
        }
        let mut sack_permitted_sent = false;
        if let Some(ts) = self.timestamp {
            // SACK-permitted shares the timestamp's word instead of two NOPs, as Linux does.
            let with_sack_permitted = self.sack_permitted;
            sack_permitted_sent = w.item(OptionItem::Timestamp, 12, |b| {
                let head = if with_sack_permitted { [KIND_SACK_PERMITTED, 2] } else { [KIND_NOP, KIND_NOP] };
                b[..2].copy_from_slice(&head);
                b[2..4].copy_from_slice(&[KIND_TIMESTAMP, 10]);
                b[4..8].copy_from_slice(&ts.tsval.to_be_bytes());
                b[8..].copy_from_slice(&ts.tsecr.to_be_bytes());
            }) && with_sack_permitted;
        }
        if self.sack_permitted && !sack_permitted_sent {
            w.item(OptionItem::SackPermitted, 4, |b| b.copy_from_slice(&[KIND_NOP, KIND_NOP, KIND_SACK_PERMITTED, 2]));
        }
        if let Some(ws) = self.window_scale {
            w.item(OptionItem::WindowScale, 4, |b| b.copy_from_slice(&[KIND_NOP, KIND_WS, 3, ws]));
        }
        self.mptcp.for_each(|repr| {
            let len = repr.buffer_len();
            w.item(OptionItem::Mptcp(repr.subtype()), align4(len), |b| {
                repr.emit(b).expect("item() sized the buffer");
                b[len..].fill(KIND_NOP);
            });
        });
        let blocks = self.sack.as_slice();
        if !blocks.is_empty() {
            let room = (budget - w.at).saturating_sub(4) / 8;
            let n = blocks.len().min(room);
            if n > 0 {
                w.item(OptionItem::SackBlocks, 4 + 8 * n, |b| {
                    b[..3].copy_from_slice(&[KIND_NOP, KIND_NOP, KIND_SACK]);
                    b[3] = (2 + 8 * n) as u8;
                    for (chunk, (l, r)) in b[4..].chunks_exact_mut(8).zip(blocks) {
                        chunk[..4].copy_from_slice(&l.to_be_bytes());
                        chunk[4..].copy_from_slice(&r.to_be_bytes());
                    }
                });
            }
            w.out.sack_blocks = n;
            if n < blocks.len() {
                w.out.dropped.insert(OptionItem::SackBlocks);
            }
        }
        w.out.len = w.at;
        w.out
    }
}

/// Places items one after another while they fit.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
    out: Emitted,
}

impl Writer<'_> {
    /// Writes an item of `size` bytes with `f` if it fits, else records it as dropped.
    fn item(&mut self, item: OptionItem, size: usize, f: impl FnOnce(&mut [u8])) -> bool {
        if self.at + size > self.buf.len() {
            self.out.dropped.insert(item);
            return false;
        }
        f(&mut self.buf[self.at..self.at + size]);
        self.at += size;
        true
    }
}
