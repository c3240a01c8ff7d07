//! Known-answer tests of `mptcp_stack::crypto` against the kernel KUnit vectors and the values
//! captured live between two Linux 6.18 kernels.
//!
//! Every vector below is copied from the project notes (`protocol-v1-and-linux.md` §2.4 and §2.5);
//! the few values marked "trace" are read off the kernel traces in `data/kernel-traces/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_stack::crypto::{
    DssChecksum, KEY_MAX_RETRIES, Key, KeyError, Token, add_addr_hmac, dss_checksum, hmac_sha256, join_ack_hmac,
    join_synack_hmac, verify_add_addr_hmac, verify_join_ack_hmac, verify_join_synack_hmac,
};
use rand::SeedableRng;
use rand::rand_core::UnwrapErr;
use rand::rngs::{StdRng, SysRng};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// §2.4: kernel KUnit vectors (net/mptcp/crypto_test.c). Key and message are the raw ASCII bytes of
// the strings, not their hex decoding.
// ---------------------------------------------------------------------------------------------

/// `(key, message, HMAC-SHA256)`.
const KUNIT_HMAC: [(&[u8; 16], &[u8; 8], &str); 3] = [
    (b"0b0b0b0b0b0b0b0b", b"48692054", "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa"),
    (b"aaaaaaaaaaaaaaaa", b"dddddddd", "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9"),
    (b"0102030405060708", b"cdcdcdcd", "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"),
];

// ---------------------------------------------------------------------------------------------
// §2.5: live vectors.
// ---------------------------------------------------------------------------------------------

/// Connection 1: client key KA, server key KB.
const C1_KA: u64 = 0x95b1e4d64c4bcebb;
const C1_KB: u64 = 0x322fa3da2cbc55e3;
/// Connection 1 MP_JOIN: client (initiator) nonce RA, server (responder) nonce RB.
const C1_RA: u32 = 0x2416d936;
const C1_RB: u32 = 0xd6bd30b6;
/// `HMAC(KB||KA, RB||RA)[..8]`, sent by the server in the join SYN/ACK.
const C1_THMAC: u64 = 0xcb1ded7df475315a;
/// `HMAC(KA||KB, RA||RB)[..20]`, sent by the client in the join third ACK.
const C1_HMAC: &str = "9245475256ea62191441d6ff5293aa74a26ffd82";

/// Connection 2: server key KS, client key KC.
const C2_KS: u64 = 0x5b233dde085bf029;
const C2_KC: u64 = 0xd8ec21ad77fdb8cf;
/// Connection 2 MP_JOIN: client (initiator) nonce RC, server (responder) nonce RS.
const C2_RC: u32 = 0xf12074c4;
const C2_RS: u32 = 0x200a7641;
const C2_THMAC: u64 = 0x42f84055a05eb789;
const C2_HMAC: &str = "0d9f4be565d249865be5d2fe3707bc13ef7eb15b";

/// Connection 3: server key KS, client key KC (the server's MP_FASTCLOSE carried KC).
const C3_KS: u64 = 0x170aa52cf7424d38;
const C3_KC: u64 = 0xf34601671aedf925;

/// `(key, token, IDSN if the notes give it)`.
const KEY_VECTORS: [(&str, u64, u32, Option<u64>); 4] = [
    ("connection 1 KA", C1_KA, 0x5877db89, Some(7477780926776662711)),
    ("connection 1 KB", C1_KB, 0x47981a26, Some(17909968769687314565)),
    ("connection 2 KS", C2_KS, 0x1c093da9, None),
    ("connection 3 KS", C3_KS, 0xee76718c, None),
];

/// An ADD_ADDR HMAC vector: the server (`sender`) announces to the client (`receiver`).
struct AddAddrVector {
    name: &'static str,
    sender: u64,
    receiver: u64,
    id: u8,
    addr: IpAddr,
    port: Option<u16>,
    /// Rightmost 64 bits of `HMAC(sender||receiver, id || addr || port-or-0000)`.
    hmac: u64,
}

const ADD_ADDR_VECTORS: [AddAddrVector; 3] = [
    AddAddrVector {
        name: "id=1 10.0.2.2, no port",
        sender: C2_KS,
        receiver: C2_KC,
        id: 1,
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)),
        port: None,
        hmac: 0x5d0bee196da93f17,
    },
    AddAddrVector {
        name: "id=7 10.0.2.2 port 10100",
        sender: C3_KS,
        receiver: C3_KC,
        id: 7,
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)),
        port: Some(10100),
        hmac: 0xe44e7eb808f7c519,
    },
    AddAddrVector {
        name: "id=8 dead:beef:2::2",
        sender: C3_KS,
        receiver: C3_KC,
        id: 8,
        addr: IpAddr::V6(Ipv6Addr::new(0xdead, 0xbeef, 2, 0, 0, 0, 0, 2)),
        port: None,
        hmac: 0x1c284e4b11eaa4c3,
    },
];

/// The checksum connection (`sniff_csum.txt`): client key, and the server key (trace: SYN/ACK).
const CSUM_CLIENT_KEY: u64 = 0x8a25c23999ee4c1e;
const CSUM_SERVER_KEY: u64 = 0x9f88ee318da64936;
/// The server's first DSN, as the notes give it.
const CSUM_SERVER_FIRST_DSN: u64 = 5831101389874018154;

/// A DSS checksum vector; `dsn: None` stands for the MPC+data mapping, DSN = IDSN(client) + 1.
struct ChecksumVector {
    name: &'static str,
    dsn: Option<u64>,
    ssn: u32,
    dll: u16,
    payload: &'static [u8],
    checksum: u16,
}

const CHECKSUM_VECTORS: [ChecksumVector; 5] = [
    ChecksumVector { name: "MPC+data", dsn: None, ssn: 1, dll: 15, payload: b"ping-0123456789", checksum: 0x00e6 },
    ChecksumVector {
        name: "server data",
        dsn: Some(5831101389874018154),
        ssn: 1,
        dll: 20,
        payload: b"pong:ping-0123456789",
        checksum: 0x7c1b,
    },
    ChecksumVector {
        name: "client second chunk",
        dsn: Some(808232009770493144),
        ssn: 16,
        dll: 13,
        payload: b"second-chunk!",
        checksum: 0xac22,
    },
    ChecksumVector {
        name: "server DATA_FIN",
        dsn: Some(5831101389874018174),
        ssn: 0,
        dll: 1,
        payload: b"",
        checksum: 0x6b08,
    },
    ChecksumVector {
        name: "client DATA_FIN",
        dsn: Some(808232009770493157),
        ssn: 0,
        dll: 1,
        payload: b"",
        checksum: 0x16af,
    },
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn unhex20(s: &str) -> [u8; 20] {
    unhex(s).try_into().expect("20 bytes of hex")
}

fn key(v: u64) -> Key {
    Key::from_wire(v).expect("test keys are non-zero")
}

/// `k1 || k2`, each big-endian: the HMAC key of every MPTCP MAC.
fn key_pair(k1: u64, k2: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&k1.to_be_bytes());
    k[8..].copy_from_slice(&k2.to_be_bytes());
    k
}

/// Token and IDSN recomputed with `sha2` directly (RFC 8684 §3.1, §3.2).
fn token_and_idsn_by_hand(key: u64) -> (u32, u64) {
    let h = Sha256::digest(key.to_be_bytes());
    (u32::from_be_bytes(h[..4].try_into().unwrap()), u64::from_be_bytes(h[24..].try_into().unwrap()))
}

// ---------------------------------------------------------------------------------------------
// §2.4
// ---------------------------------------------------------------------------------------------

#[test]
fn hmac_sha256_matches_kernel_kunit_vectors_with_ascii_key_and_message() {
    for (i, (k, msg, expected)) in KUNIT_HMAC.iter().enumerate() {
        assert_eq!(
            hmac_sha256(k, &msg[..]).to_vec(),
            unhex(expected),
            "KUnit row {} (key {:?}, msg {:?})",
            i + 1,
            String::from_utf8_lossy(&k[..]),
            String::from_utf8_lossy(&msg[..]),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §2.5: keys
// ---------------------------------------------------------------------------------------------

#[test]
fn token_and_idsn_of_live_keys_match_captured_values() {
    for (name, k, token, idsn) in KEY_VECTORS {
        let key = key(k);
        assert_eq!(key.to_wire(), k, "{name}: to_wire");
        assert_eq!(key.token(), Token(token), "{name}: token");
        if let Some(idsn) = idsn {
            assert_eq!(key.idsn(), idsn, "{name}: IDSN");
        }
        assert_eq!(token_and_idsn_by_hand(k), (key.token().0, key.idsn()), "{name}: sha2 recomputation");
    }
}

/// The first data byte a host sends has DSN = IDSN + 1; the kernel traces show it, or the peer's
/// DATA_ACK right after it, for the keys whose IDSN the notes do not spell out.
#[test]
fn idsn_plus_one_is_the_first_dsn_in_the_traces() {
    // Notes: first client DSN of connection 1 is ...712, first server DSN is ...566.
    assert_eq!(key(C1_KA).idsn() + 1, 7477780926776662712);
    assert_eq!(key(C1_KB).idsn() + 1, 17909968769687314566);
    // Notes: server first DSN of the checksum connection; trace sniff_csum.txt SYN/ACK key.
    assert_eq!(key(CSUM_SERVER_KEY).idsn() + 1, CSUM_SERVER_FIRST_DSN);
    // Trace sniff_csum.txt: after the 15-byte MPC+data the server acks DATA_ACK 808232009770493144.
    assert_eq!(key(CSUM_CLIENT_KEY).idsn() + 1 + 15, 808232009770493144);
    // Trace sniff_misc.txt (connection 3): 5-byte MPC+data, then DATA_ACK 533316661276548101; the
    // client acks the server's (unused) sequence space with dack32=2485909468.
    assert_eq!(key(C3_KC).idsn() + 1 + 5, 533316661276548101);
    assert_eq!((key(C3_KS).idsn() + 1) as u32, 2485909468);
    // Trace sniff_signal.txt (connection 2): client first dsn=3112486170235067990, and its
    // dack32=3690463925 acks the server's IDSN + 1.
    assert_eq!(key(C2_KC).idsn() + 1, 3112486170235067990);
    assert_eq!((key(C2_KS).idsn() + 1) as u32, 3690463925);
}

#[test]
fn zero_is_not_a_key() {
    assert!(Key::from_wire(0).is_none());
}

// ---------------------------------------------------------------------------------------------
// §2.5: MP_JOIN
// ---------------------------------------------------------------------------------------------

/// One subflow join: the initiator (client) and responder (server) keys and nonces.
struct JoinVector {
    name: &'static str,
    initiator_key: u64,
    responder_key: u64,
    initiator_nonce: u32,
    responder_nonce: u32,
    thmac: u64,
    hmac: &'static str,
}

const JOIN_VECTORS: [JoinVector; 2] = [
    JoinVector {
        name: "connection 1",
        initiator_key: C1_KA,
        responder_key: C1_KB,
        initiator_nonce: C1_RA,
        responder_nonce: C1_RB,
        thmac: C1_THMAC,
        hmac: C1_HMAC,
    },
    JoinVector {
        name: "connection 2",
        initiator_key: C2_KC,
        responder_key: C2_KS,
        initiator_nonce: C2_RC,
        responder_nonce: C2_RS,
        thmac: C2_THMAC,
        hmac: C2_HMAC,
    },
];

#[test]
fn join_synack_truncated_hmac_generates_and_verifies_live_vectors() {
    for v in &JOIN_VECTORS {
        let (ki, kr) = (key(v.initiator_key), key(v.responder_key));
        let (ri, rr) = (v.initiator_nonce, v.responder_nonce);
        let name = v.name;

        // The responder sends HMAC(Kr||Ki, Rr||Ri), leftmost 64 bits.
        assert_eq!(join_synack_hmac(kr, ki, rr, ri), v.thmac, "{name}: generate");
        let mut msg = rr.to_be_bytes().to_vec();
        msg.extend_from_slice(&ri.to_be_bytes());
        let full = hmac_sha256(&key_pair(v.responder_key, v.initiator_key), &msg);
        assert_eq!(full[..8], v.thmac.to_be_bytes(), "{name}: formula of the notes");

        // The initiator checks it: its peer is the responder.
        assert!(verify_join_synack_hmac(kr, ki, rr, ri, v.thmac), "{name}: verify");
        for bit in 0..64 {
            let flipped = v.thmac ^ (1 << bit);
            assert!(!verify_join_synack_hmac(kr, ki, rr, ri, flipped), "{name}: bit {bit} flipped still verifies");
        }
        assert!(!verify_join_synack_hmac(ki, kr, rr, ri, v.thmac), "{name}: keys swapped still verifies");
        assert!(!verify_join_synack_hmac(kr, ki, ri, rr, v.thmac), "{name}: nonces swapped still verifies");
    }
}

#[test]
fn join_third_ack_hmac_generates_and_verifies_live_vectors() {
    for v in &JOIN_VECTORS {
        let (ki, kr) = (key(v.initiator_key), key(v.responder_key));
        let (ri, rr) = (v.initiator_nonce, v.responder_nonce);
        let name = v.name;
        let expected = unhex20(v.hmac);

        // The initiator sends HMAC(Ki||Kr, Ri||Rr), leftmost 160 bits.
        assert_eq!(join_ack_hmac(ki, kr, ri, rr), expected, "{name}: generate");
        let mut msg = ri.to_be_bytes().to_vec();
        msg.extend_from_slice(&rr.to_be_bytes());
        let full = hmac_sha256(&key_pair(v.initiator_key, v.responder_key), &msg);
        assert_eq!(full[..20], expected, "{name}: formula of the notes");

        // The responder checks it: its peer is the initiator.
        assert!(verify_join_ack_hmac(ki, kr, ri, rr, &expected), "{name}: verify");
        for bit in 0..160 {
            let mut flipped = expected;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!verify_join_ack_hmac(ki, kr, ri, rr, &flipped), "{name}: bit {bit} flipped still verifies");
        }
        assert!(!verify_join_ack_hmac(kr, ki, ri, rr, &expected), "{name}: keys swapped still verifies");
        assert!(!verify_join_ack_hmac(ki, kr, rr, ri, &expected), "{name}: nonces swapped still verifies");
    }
}

// ---------------------------------------------------------------------------------------------
// §2.5: ADD_ADDR
// ---------------------------------------------------------------------------------------------

#[test]
fn add_addr_hmac_generates_and_verifies_live_vectors() {
    for v in &ADD_ADDR_VECTORS {
        let (ks, kr) = (key(v.sender), key(v.receiver));
        let name = v.name;

        assert_eq!(add_addr_hmac(ks, kr, v.id, v.addr, v.port), v.hmac, "{name}: generate");
        // Formula of the notes: rightmost 64 bits, port bytes zero when absent.
        let mut msg = vec![v.id];
        match v.addr {
            IpAddr::V4(a) => msg.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => msg.extend_from_slice(&a.octets()),
        }
        msg.extend_from_slice(&v.port.unwrap_or(0).to_be_bytes());
        let full = hmac_sha256(&key_pair(v.sender, v.receiver), &msg);
        assert_eq!(full[24..], v.hmac.to_be_bytes(), "{name}: formula of the notes");

        assert!(verify_add_addr_hmac(ks, kr, v.id, v.addr, v.port, v.hmac), "{name}: verify");
        for bit in 0..64 {
            let flipped = v.hmac ^ (1 << bit);
            assert!(!verify_add_addr_hmac(ks, kr, v.id, v.addr, v.port, flipped), "{name}: bit {bit} flipped verifies");
        }
    }
}

#[test]
fn add_addr_hmac_rejects_tampered_announcements() {
    for v in &ADD_ADDR_VECTORS {
        let (ks, kr) = (key(v.sender), key(v.receiver));
        let name = v.name;
        let other_addr = match v.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(a.to_bits() ^ 1)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(a.to_bits() ^ 1)),
        };
        let other_port = match v.port {
            Some(p) => [None, Some(p + 1)],
            None => [Some(10100), Some(1)],
        };
        assert!(!verify_add_addr_hmac(kr, ks, v.id, v.addr, v.port, v.hmac), "{name}: keys swapped");
        assert!(!verify_add_addr_hmac(ks, kr, v.id ^ 1, v.addr, v.port, v.hmac), "{name}: other id");
        assert!(!verify_add_addr_hmac(ks, kr, v.id, other_addr, v.port, v.hmac), "{name}: other address");
        for port in other_port {
            assert!(!verify_add_addr_hmac(ks, kr, v.id, v.addr, port, v.hmac), "{name}: port {port:?}");
        }
        if let IpAddr::V4(a) = v.addr {
            let mapped = IpAddr::V6(a.to_ipv6_mapped());
            assert!(!verify_add_addr_hmac(ks, kr, v.id, mapped, v.port, v.hmac), "{name}: v4-mapped v6 address");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §2.5: DSS checksum
// ---------------------------------------------------------------------------------------------

fn checksum_dsn(v: &ChecksumVector) -> u64 {
    v.dsn.unwrap_or_else(|| key(CSUM_CLIENT_KEY).idsn() + 1)
}

#[test]
fn dss_checksum_matches_live_vectors() {
    for v in &CHECKSUM_VECTORS {
        assert_eq!(usize::from(v.dll), v.payload.len() + usize::from(v.payload.is_empty()), "{}: dll", v.name);
        let got = dss_checksum(checksum_dsn(v), v.ssn, v.dll, v.payload);
        assert_eq!(got, v.checksum, "{}: got {got:#06x}, want {:#06x}", v.name, v.checksum);
    }
}

#[test]
fn dss_checksum_fed_in_two_pieces_matches_live_vectors_at_every_split() {
    for v in &CHECKSUM_VECTORS {
        for split in 0..=v.payload.len() {
            let mut c = DssChecksum::new(checksum_dsn(v), v.ssn, v.dll);
            c.add(&v.payload[..split]);
            c.add(&v.payload[split..]);
            assert_eq!(c.finish(), v.checksum, "{}: split at {split}", v.name);
        }
    }
}

#[test]
fn dss_checksum_changes_when_any_input_changes() {
    let v = &CHECKSUM_VECTORS[1];
    let dsn = checksum_dsn(v);
    assert_ne!(dss_checksum(dsn + 1, v.ssn, v.dll, v.payload), v.checksum, "dsn");
    assert_ne!(dss_checksum(dsn ^ (1 << 40), v.ssn, v.dll, v.payload), v.checksum, "dsn high bits");
    assert_ne!(dss_checksum(dsn, v.ssn + 1, v.dll, v.payload), v.checksum, "ssn");
    assert_ne!(dss_checksum(dsn, v.ssn, v.dll + 1, v.payload), v.checksum, "dll");
    let mut payload = v.payload.to_vec();
    payload[3] ^= 0x01;
    assert_ne!(dss_checksum(dsn, v.ssn, v.dll, &payload), v.checksum, "payload");
}

// ---------------------------------------------------------------------------------------------
// Key generation
// ---------------------------------------------------------------------------------------------

fn assert_token_and_idsn_recompute(k: Key) {
    let (token, idsn) = token_and_idsn_by_hand(k.to_wire());
    assert_eq!(k.token(), Token(token), "token of {:#018x}", k.to_wire());
    assert_eq!(k.idsn(), idsn, "IDSN of {:#018x}", k.to_wire());
}

#[test]
fn generate_from_os_rng_gives_nonzero_key_with_matching_token_and_idsn() {
    let mut rng = UnwrapErr(SysRng);
    let mut keys = Vec::new();
    for _ in 0..8 {
        let k = Key::generate(&mut rng, |_| false).expect("nothing is taken");
        assert_ne!(k.to_wire(), 0);
        assert_eq!(Key::from_wire(k.to_wire()), Some(k));
        assert_token_and_idsn_recompute(k);
        keys.push(k.to_wire());
    }
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 8, "eight OS-random 64-bit keys are distinct");
}

#[test]
fn generate_redraws_when_the_token_is_taken() {
    let mut rng = UnwrapErr(SysRng);
    let mut seen = Vec::new();
    let k = Key::generate(&mut rng, |t| {
        seen.push(t);
        seen.len() == 1 // the first draw's token is "taken"
    })
    .expect("second draw is free");
    assert_eq!(seen.len(), 2);
    assert_eq!(k.token(), seen[1]);
    assert_token_and_idsn_recompute(k);
}

#[test]
fn generate_gives_up_after_max_retries_when_every_token_is_taken() {
    let mut rng = UnwrapErr(SysRng);
    let mut calls = 0;
    let r = Key::generate(&mut rng, |_| {
        calls += 1;
        true
    });
    assert_eq!(r, Err(KeyError::TokenSpaceExhausted));
    assert_eq!(calls, KEY_MAX_RETRIES + 1);
}

#[test]
fn generate_from_seeded_std_rng_is_deterministic() {
    let draw = |seed: u64| -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..4).map(|_| Key::generate(&mut rng, |_| false).unwrap().to_wire()).collect()
    };
    let a = draw(8684);
    assert_eq!(a, draw(8684), "same seed, same keys");
    assert_ne!(a, draw(8685), "another seed, other keys");
    for k in a {
        assert_token_and_idsn_recompute(key(k));
    }
}
