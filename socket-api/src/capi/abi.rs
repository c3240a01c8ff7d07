//! The C structures and constants of `socket-api/include/mptcp_socket.h`, laid out as the C
//! compiler lays them out (checked at compile time here, and by `_Static_assert`s in the header).
//!
//! The code reads and writes them as bytes at these offsets ([`Bytes`]), so that a buffer of any
//! length and alignment the application hands in is handled without unsafe casts.

#![allow(non_camel_case_types)]

use std::mem::{offset_of, size_of};

use libc::{c_char, c_int, c_uint, sockaddr, sockaddr_in, sockaddr_in6};

/// `MPTCP_GET_SUB_IDS`: the subflows (`struct mptcp_sub_ids`).
pub const MPTCP_GET_SUB_IDS: c_int = 66;
/// `MPTCP_CLOSE_SUB_ID`: closes one subflow (`struct mptcp_close_sub_id`).
pub const MPTCP_CLOSE_SUB_ID: c_int = 67;
/// `MPTCP_GET_SUB_TUPLE`: one subflow's endpoints (`struct mptcp_sub_tuple`).
pub const MPTCP_GET_SUB_TUPLE: c_int = 68;
/// `MPTCP_OPEN_SUB_TUPLE`: opens a subflow (`struct mptcp_sub_tuple`).
pub const MPTCP_OPEN_SUB_TUPLE: c_int = 69;
/// `MPTCP_SUB_GETSOCKOPT`: getsockopt on one subflow.
pub const MPTCP_SUB_GETSOCKOPT: c_int = 71;
/// `MPTCP_SUB_SETSOCKOPT`: setsockopt on one subflow.
pub const MPTCP_SUB_SETSOCKOPT: c_int = 72;
/// `MPTCP_SUB_LOW_PRIO`: inner option, backup priority of one subflow (int 0/1).
pub const MPTCP_SUB_LOW_PRIO: c_int = 73;
/// Linux's `TCP_IS_MPTCP` (get): 1 while the connection speaks MPTCP.
pub const TCP_IS_MPTCP: c_int = 43;

/// `how` of `struct mptcp_close_sub_id`: RST at once.
pub const MPTCP_CLOSE_RST: c_int = 0;
/// `how` of `struct mptcp_close_sub_id`: FIN after what is in flight.
pub const MPTCP_CLOSE_FIN: c_int = 1;

/// `struct mptcp_sub_status`: the id, then the flag bits in the next byte.
#[repr(C, align(2))]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_sub_status {
    /// Subflow id.
    pub id: u8,
    /// `SUB_SLAVE_SK` | `SUB_FULLY_ESTABLISHED` | ...
    pub flags: u8,
}

/// `slave_sk`: opened by MP_JOIN.
pub const SUB_SLAVE_SK: u8 = 1 << 0;
/// `fully_established`: may carry data.
pub const SUB_FULLY_ESTABLISHED: u8 = 1 << 1;
/// `attached`: established and not closing.
pub const SUB_ATTACHED: u8 = 1 << 2;
/// `low_prio`: backup.
pub const SUB_LOW_PRIO: u8 = 1 << 3;
/// `pre_established`: handshake under way.
pub const SUB_PRE_ESTABLISHED: u8 = 1 << 4;

/// `struct mptcp_sub_ids`: the count, then one [`mptcp_sub_status`] per subflow.
#[repr(C)]
#[derive(Debug)]
pub struct mptcp_sub_ids {
    /// Number of entries.
    pub sub_count: u8,
    /// The entries (a flexible array member).
    pub sub_status: [mptcp_sub_status; 0],
}

/// `struct mptcp_sub_tuple`: id, prio, then two addresses.
#[repr(C)]
#[derive(Debug)]
pub struct mptcp_sub_tuple {
    /// Subflow id.
    pub id: u8,
    /// 1: backup.
    pub prio: u8,
    /// Local then remote address (a flexible array member).
    pub addrs: [sockaddr_in; 0],
}

/// `struct mptcp_close_sub_id`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_close_sub_id {
    /// Subflow id.
    pub id: u8,
    /// [`MPTCP_CLOSE_RST`] or [`MPTCP_CLOSE_FIN`].
    pub how: c_int,
}

/// `struct mptcp_sub_getsockopt`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_sub_getsockopt {
    /// Subflow id.
    pub id: u8,
    /// Inner level.
    pub level: c_int,
    /// Inner option.
    pub optname: c_int,
    /// Inner buffer.
    pub optval: *mut c_char,
    /// Inner buffer length, in and out.
    pub optlen: *mut c_uint,
}

/// `struct mptcp_sub_setsockopt`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_sub_setsockopt {
    /// Subflow id.
    pub id: u8,
    /// Inner level.
    pub level: c_int,
    /// Inner option.
    pub optname: c_int,
    /// Inner value.
    pub optval: *mut c_char,
    /// Its length.
    pub optlen: c_uint,
}

/// The address of `struct mptcp_event`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union mptcp_event_addr {
    /// Generic view.
    pub sa: sockaddr,
    /// IPv4.
    pub v4: sockaddr_in,
    /// IPv6.
    pub v6: sockaddr_in6,
}

impl std::fmt::Debug for mptcp_event_addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mptcp_event_addr { .. }")
    }
}

/// `struct mptcp_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_event {
    /// Microseconds since the stack started.
    pub at_us: u64,
    /// `MPTCP_EVENT_*`.
    pub r#type: u32,
    /// The subflow of a subflow event.
    pub subflow_id: u32,
    /// Why (subflow end, close, fallback).
    pub reason: i32,
    /// Established: 1 MPTCP; priority: 1 backup.
    pub value: u8,
    /// Address id of an address event.
    pub addr_id: u8,
    /// Zero.
    pub reserved: u16,
    /// Announced address.
    pub addr: mptcp_event_addr,
}

/// `struct mptcp_stack_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mptcp_stack_config {
    /// `"DEV=IP[,backup] ..."`.
    pub paths: *const c_char,
    /// Path manager name or null.
    pub path_manager: *const c_char,
    /// Scheduler name or null.
    pub scheduler: *const c_char,
    /// Congestion control name or null.
    pub congestion_control: *const c_char,
}

/// Event types.
pub const MPTCP_EVENT_ESTABLISHED: u32 = 1;
/// Fell back to TCP.
pub const MPTCP_EVENT_FELL_BACK: u32 = 2;
/// A subflow completed its handshake.
pub const MPTCP_EVENT_SUBFLOW_ESTABLISHED: u32 = 3;
/// A subflow ended.
pub const MPTCP_EVENT_SUBFLOW_CLOSED: u32 = 4;
/// The peer announced an address.
pub const MPTCP_EVENT_ADDRESS_ANNOUNCED: u32 = 5;
/// The peer withdrew an address.
pub const MPTCP_EVENT_ADDRESS_REMOVED: u32 = 6;
/// A subflow's priority changed.
pub const MPTCP_EVENT_PRIORITY_CHANGED: u32 = 7;
/// The connection ended.
pub const MPTCP_EVENT_CLOSED: u32 = 8;

/// Offsets and sizes the byte-level code uses.
pub(crate) const SUB_IDS_HEADER: usize = offset_of!(mptcp_sub_ids, sub_status);
pub(crate) const SUB_STATUS_LEN: usize = size_of::<mptcp_sub_status>();
pub(crate) const TUPLE_PRIO: usize = offset_of!(mptcp_sub_tuple, prio);
pub(crate) const TUPLE_ADDRS: usize = offset_of!(mptcp_sub_tuple, addrs);
pub(crate) const CLOSE_HOW: usize = offset_of!(mptcp_close_sub_id, how);
pub(crate) const CLOSE_LEN: usize = size_of::<mptcp_close_sub_id>();

const _: () = {
    assert!(size_of::<mptcp_sub_status>() == 2);
    assert!(size_of::<mptcp_sub_ids>() == 2 && SUB_IDS_HEADER == 2);
    assert!(size_of::<mptcp_sub_tuple>() == 4 && TUPLE_PRIO == 1 && TUPLE_ADDRS == 4);
    assert!(TUPLE_ADDRS + 2 * size_of::<sockaddr_in>() == 36);
    assert!(TUPLE_ADDRS + 2 * size_of::<sockaddr_in6>() == 60);
    assert!(CLOSE_LEN == 8 && CLOSE_HOW == 4);
    assert!(offset_of!(mptcp_sub_getsockopt, level) == 4 && offset_of!(mptcp_sub_getsockopt, optname) == 8);
    assert!(offset_of!(mptcp_sub_setsockopt, level) == 4 && offset_of!(mptcp_sub_setsockopt, optname) == 8);
    let p = size_of::<*const u8>();
    assert!(offset_of!(mptcp_sub_getsockopt, optval) == if p == 8 { 16 } else { 12 });
    assert!(offset_of!(mptcp_sub_getsockopt, optlen) == if p == 8 { 24 } else { 16 });
    assert!(size_of::<mptcp_sub_getsockopt>() == if p == 8 { 32 } else { 20 });
    assert!(offset_of!(mptcp_sub_setsockopt, optval) == if p == 8 { 16 } else { 12 });
    assert!(offset_of!(mptcp_sub_setsockopt, optlen) == if p == 8 { 24 } else { 16 });
    assert!(size_of::<mptcp_sub_setsockopt>() == if p == 8 { 32 } else { 20 });
    assert!(offset_of!(mptcp_event, r#type) == 8 && offset_of!(mptcp_event, reason) == 16);
    assert!(offset_of!(mptcp_event, value) == 20 && offset_of!(mptcp_event, addr) == 24);
    assert!(size_of::<mptcp_event>() == 56);
};

/// Native-endian reads and writes at offsets of a byte buffer; `None` past its end.
pub(crate) trait Bytes {
    /// The `N` bytes at `at`.
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]>;
    /// Writes `data` at `at`; false if it does not fit.
    fn put(&mut self, at: usize, data: &[u8]) -> bool;

    fn u16_at(&self, at: usize) -> Option<u16> {
        self.array(at).map(u16::from_ne_bytes)
    }
    fn i32_at(&self, at: usize) -> Option<i32> {
        self.array(at).map(i32::from_ne_bytes)
    }
}

impl Bytes for [u8] {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn put(&mut self, at: usize, data: &[u8]) -> bool {
        let Some(end) = at.checked_add(data.len()) else { return false };
        match self.get_mut(at..end) {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}
