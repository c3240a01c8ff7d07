//! MPTCP v1 cryptography: keys, tokens, IDSNs, the MP_JOIN and ADD_ADDR HMACs and the DSS checksum.
//!
//! Everything here is a pure function of its inputs. Randomness comes from an injected
//! [`CryptoRng`]: the driver hands in the OS CSPRNG, tests hand in a seeded generator.
//! Every check of a received MAC compares in constant time (RFC 8684 §5).

use core::fmt;
use core::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use smoltcp::wire::checksum;

type HmacSha256 = Hmac<Sha256>;

/// How many times [`Key::generate`] re-draws a key whose token is already taken
/// (the kernel's `MPTCP_TOKEN_MAX_RETRIES`).
pub const KEY_MAX_RETRIES: usize = 4;

/// A 64-bit MPTCP connection key (RFC 8684 §3.1), exchanged big-endian in MP_CAPABLE.
///
/// `Debug` never prints the value: keys must not reach logs (RFC 8684 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The 32-bit token that names a connection in MP_JOIN (RFC 8684 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u32);

/// Why no key could be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Every draw produced a token the caller reported as taken.
    TokenSpaceExhausted,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no unused MPTCP token after retries")
    }
}

impl core::error::Error for KeyError {}

impl Key {
    /// A key received from the peer. Zero is not a valid key (RFC 8684 §3.1: the kernel
    /// never sends it), so `None` is returned for it.
    pub fn from_wire(value: u64) -> Option<Key> {
        (value != 0).then_some(Key(value))
    }

    /// The key as sent on the wire.
    pub fn to_wire(self) -> u64 {
        self.0
    }

    /// Draws a fresh non-zero key from `rng`. `token_taken` is the endpoint's hook: when it
    /// reports the new key's token as already used by a live connection the key is re-drawn,
    /// up to [`KEY_MAX_RETRIES`] times (RFC 8684 §3.1, token uniqueness).
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        mut token_taken: impl FnMut(Token) -> bool,
    ) -> Result<Key, KeyError> {
        for _ in 0..=KEY_MAX_RETRIES {
            let Some(key) = Key::from_wire(rng.next_u64()) else {
                continue;
            };
            if !token_taken(key.token()) {
                return Ok(key);
            }
        }
        Err(KeyError::TokenSpaceExhausted)
    }

    fn digest(self) -> [u8; 32] {
        Sha256::digest(self.0.to_be_bytes()).into()
    }

    /// Token = most significant 32 bits of SHA-256(key) (RFC 8684 §3.2).
    pub fn token(self) -> Token {
        let h = self.digest();
        Token(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    }

    /// Initial data sequence number = least significant 64 bits of SHA-256(key)
    /// (RFC 8684 §3.1). The first data byte has DSN `idsn + 1`.
    pub fn idsn(self) -> u64 {
        let h = self.digest();
        u64::from_be_bytes(h[24..32].try_into().expect("8-byte slice"))
    }
}

/// HMAC-SHA256 keyed with `key_a || key_b` (each 8 bytes big-endian).
fn keyed_mac(key_a: Key, key_b: Key) -> HmacSha256 {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&key_a.0.to_be_bytes());
    k[8..].copy_from_slice(&key_b.0.to_be_bytes());
    HmacSha256::new_from_slice(&k).expect("HMAC takes any key length")
}

/// The MP_JOIN MAC a host sends: HMAC(own key || peer key, own nonce || peer nonce)
/// (RFC 8684 §3.2).
fn join_mac(own_key: Key, peer_key: Key, own_nonce: u32, peer_nonce: u32) -> HmacSha256 {
    let mut mac = keyed_mac(own_key, peer_key);
    mac.update(&own_nonce.to_be_bytes());
    mac.update(&peer_nonce.to_be_bytes());
    mac
}

/// Raw HMAC-SHA256 with a 16-byte key, as the kernel's `mptcp_crypto_hmac_sha()` computes it
/// (exposed for the KUnit vectors; protocol code uses the typed functions below).
pub fn hmac_sha256(key: &[u8; 16], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The truncated HMAC the join responder puts in its SYN/ACK: leftmost 64 bits
/// (RFC 8684 §3.2).
pub fn join_synack_hmac(own_key: Key, peer_key: Key, own_nonce: u32, peer_nonce: u32) -> u64 {
    let full = join_mac(own_key, peer_key, own_nonce, peer_nonce).finalize().into_bytes();
    u64::from_be_bytes(full[..8].try_into().expect("8-byte slice"))
}

/// Checks, in constant time, the SYN/ACK HMAC received from the join responder.
pub fn verify_join_synack_hmac(peer_key: Key, own_key: Key, peer_nonce: u32, own_nonce: u32, received: u64) -> bool {
    join_mac(peer_key, own_key, peer_nonce, own_nonce).verify_truncated_left(&received.to_be_bytes()).is_ok()
}

/// The HMAC the join initiator puts in its third ACK: leftmost 160 bits (RFC 8684 §3.2).
pub fn join_ack_hmac(own_key: Key, peer_key: Key, own_nonce: u32, peer_nonce: u32) -> [u8; 20] {
    let full = join_mac(own_key, peer_key, own_nonce, peer_nonce).finalize().into_bytes();
    full[..20].try_into().expect("20-byte slice")
}

/// Checks, in constant time, the third-ACK HMAC received from the join initiator.
pub fn verify_join_ack_hmac(peer_key: Key, own_key: Key, peer_nonce: u32, own_nonce: u32, received: &[u8; 20]) -> bool {
    join_mac(peer_key, own_key, peer_nonce, own_nonce).verify_truncated_left(received).is_ok()
}

/// HMAC(sender key || receiver key, address id || address || port), port bytes zero when
/// absent (RFC 8684 §3.4.1).
fn add_addr_mac(sender_key: Key, receiver_key: Key, addr_id: u8, addr: IpAddr, port: Option<u16>) -> HmacSha256 {
    let mut mac = keyed_mac(sender_key, receiver_key);
    mac.update(&[addr_id]);
    match addr {
        IpAddr::V4(a) => mac.update(&a.octets()),
        IpAddr::V6(a) => mac.update(&a.octets()),
    }
    mac.update(&port.unwrap_or(0).to_be_bytes());
    mac
}

/// The ADD_ADDR truncated HMAC: rightmost 64 bits (RFC 8684 §3.4.1).
pub fn add_addr_hmac(sender_key: Key, receiver_key: Key, addr_id: u8, addr: IpAddr, port: Option<u16>) -> u64 {
    let full = add_addr_mac(sender_key, receiver_key, addr_id, addr, port).finalize().into_bytes();
    u64::from_be_bytes(full[24..].try_into().expect("8-byte slice"))
}

/// Checks, in constant time, an ADD_ADDR HMAC received from the peer (`sender_key` is the
/// peer's key, `receiver_key` ours).
pub fn verify_add_addr_hmac(
    sender_key: Key,
    receiver_key: Key,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
    received: u64,
) -> bool {
    add_addr_mac(sender_key, receiver_key, addr_id, addr, port).verify_truncated_right(&received.to_be_bytes()).is_ok()
}

/// The DSS checksum of one mapping (RFC 8684 §3.3.1): the Internet checksum over the
/// pseudo-header `DSN (64) | SSN (32) | data-level length (16) | zero (16)` and the whole
/// mapping's payload. A mapping may span several segments, so payload is fed in pieces.
#[derive(Debug, Clone)]
pub struct DssChecksum {
    sum: u64,
    odd: bool,
}

impl DssChecksum {
    /// Starts a checksum for the mapping `(dsn, ssn, data_len)`.
    pub fn new(dsn: u64, ssn: u32, data_len: u16) -> DssChecksum {
        let mut pseudo = [0u8; 16];
        pseudo[..8].copy_from_slice(&dsn.to_be_bytes());
        pseudo[8..12].copy_from_slice(&ssn.to_be_bytes());
        pseudo[12..14].copy_from_slice(&data_len.to_be_bytes());
        let mut c = DssChecksum { sum: 0, odd: false };
        c.add(&pseudo);
        c
    }

    /// Adds the next piece of the mapping's payload, in order.
    pub fn add(&mut self, mut data: &[u8]) {
        if self.odd && !data.is_empty() {
            // Finish the 16-bit word begun by the previous piece: its low byte.
            self.sum += u64::from(data[0]);
            data = &data[1..];
            self.odd = false;
        }
        // smoltcp's vectorised RFC 1071 sum; its u32 accumulator is safe up to 64 KiB per call.
        for chunk in data.chunks(0x1_0000) {
            self.sum += u64::from(checksum::data(chunk));
            // An odd-length chunk ends with a high byte; the next byte is its low half.
            self.odd = chunk.len() % 2 == 1;
        }
    }

    /// The checksum as carried in the DSS option (complemented, host order).
    pub fn finish(&self) -> u16 {
        let mut s = self.sum;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
}

/// The DSS checksum of a mapping whose payload is one contiguous slice.
pub fn dss_checksum(dsn: u64, ssn: u32, data_len: u16, payload: &[u8]) -> u16 {
    let mut c = DssChecksum::new(dsn, ssn, data_len);
    c.add(payload);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_key_is_rejected_and_redrawn() {
        assert_eq!(Key::from_wire(0), None);
        struct Seq(Vec<u64>);
        impl rand::TryRng for Seq {
            type Error = core::convert::Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok(self.0.remove(0) as u32)
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                Ok(self.0.remove(0))
            }
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
                unimplemented!()
            }
        }
        impl rand::TryCryptoRng for Seq {}
        let mut rng = Seq(vec![0, 7, 9]);
        let first_token = Key(7).token();
        let key = Key::generate(&mut rng, |t| t == first_token).unwrap();
        assert_eq!(key.to_wire(), 9, "zero skipped, colliding token re-drawn");
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", Key(0x1234)), "Key(<redacted>)");
    }

    #[test]
    fn checksum_pieces_match_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let whole = dss_checksum(1, 2, 1001, &data);
        for split in [0, 1, 2, 3, 500, 1000, 1001] {
            let mut c = DssChecksum::new(1, 2, 1001);
            c.add(&data[..split]);
            c.add(&data[split..]);
            assert_eq!(c.finish(), whole, "split at {split}");
        }
    }
}
