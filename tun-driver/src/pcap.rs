//! Packet captures in the classic pcap format (`tcpdump`, Wireshark, tshark read it): one file
//! per path, link type [`LINKTYPE_RAW`] (each record is a bare IPv4 or IPv6 packet, as a TUN
//! device carries them), microsecond timestamps.
//!
//! [`Capture`] holds the writers of all paths: the TUN event loop records every packet it reads
//! from or writes to a path's device, the simulator every packet as it enters a path (before the
//! link decides its fate, as a capture at the sender's interface would). [`read`] parses a file
//! back, for tests and tools.

use core::time::Duration;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use mptcp_stack::time::Instant;

/// Link type for raw IP packets (the version nibble tells IPv4 from IPv6).
pub const LINKTYPE_RAW: u32 = 101;
/// The pcap magic number for microsecond timestamps.
const MAGIC: u32 = 0xa1b2_c3d4;
/// The largest record kept whole (tcpdump's default snapshot length).
const SNAPLEN: u32 = 262_144;

/// One pcap file being written.
#[derive(Debug)]
pub struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    /// Creates `path` and writes the global header.
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
        header.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet seen at `at` (microseconds since 1970: [`wall_clock`], or virtual time).
    pub fn write(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let t = Duration::from_micros(at.as_micros());
        let kept = packet.len().min(SNAPLEN as usize);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&(t.as_secs() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&t.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&(kept as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&packet[..kept])
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The captures of all paths, by path index. A write error stops the capture (the transfer goes
/// on) and is reported by [`finish`](Capture::finish).
#[derive(Debug)]
pub struct Capture {
    writers: Vec<PcapWriter>,
    error: Option<io::Error>,
}

impl Capture {
    /// One writer per path, in path order.
    pub fn new(writers: Vec<PcapWriter>) -> Capture {
        Capture { writers, error: None }
    }

    /// Records `packet` on path `path` at `at` (a path without a writer is not captured).
    pub fn record(&mut self, path: usize, at: Instant, packet: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Some(w) = self.writers.get_mut(path)
            && let Err(e) = w.write(at, packet)
        {
            self.error = Some(e);
        }
    }

    /// Flushes every file; the first error of the whole capture, if any.
    pub fn finish(mut self) -> io::Result<()> {
        for w in &mut self.writers {
            let flushed = w.flush();
            if self.error.is_none() {
                self.error = flushed.err();
            }
        }
        self.error.map_or(Ok(()), Err)
    }
}

/// The time of day as an [`Instant`] since 1970, for captures of real devices.
pub fn wall_clock() -> Instant {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// One record of a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// Its timestamp, in microseconds since 1970.
    pub micros: u64,
    /// The packet's length on the wire.
    pub orig_len: u32,
    /// The bytes kept.
    pub data: Vec<u8>,
}

/// Parses a whole little-endian, microsecond pcap file: its link type and records. Errors are
/// one line.
pub fn read(bytes: &[u8]) -> Result<(u32, Vec<PcapRecord>), String> {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    if bytes.len() < 24 {
        return Err(format!("{} bytes: shorter than the 24-byte pcap header", bytes.len()));
    }
    if u32_at(bytes, 0) != MAGIC {
        return Err(format!("magic {:#010x} is not {MAGIC:#010x}", u32_at(bytes, 0)));
    }
    let version = (u16::from_le_bytes([bytes[4], bytes[5]]), u16::from_le_bytes([bytes[6], bytes[7]]));
    if version != (2, 4) {
        return Err(format!("version {}.{} is not 2.4", version.0, version.1));
    }
    let (snaplen, linktype) = (u32_at(bytes, 16), u32_at(bytes, 20));
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let header = bytes.get(at..at + 16).ok_or_else(|| format!("record at byte {at}: truncated header"))?;
        let (secs, micros) = (u32_at(header, 0), u32_at(header, 4));
        let (incl, orig_len) = (u32_at(header, 8) as usize, u32_at(header, 12));
        if micros >= 1_000_000 || incl > snaplen as usize || incl > orig_len as usize {
            return Err(format!("record at byte {at}: bad header (usec {micros}, caplen {incl}, len {orig_len})"));
        }
        let data = bytes.get(at + 16..at + 16 + incl).ok_or_else(|| format!("record at byte {at}: truncated data"))?;
        records.push(PcapRecord {
            micros: u64::from(secs) * 1_000_000 + u64::from(micros),
            orig_len,
            data: data.to_vec(),
        });
        at += 16 + incl;
    }
    Ok((linktype, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("mptcp-pcap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (p0, p1) = (dir.join("path0.pcap"), dir.join("path1.pcap"));
        let mut cap = Capture::new(vec![PcapWriter::create(&p0).unwrap(), PcapWriter::create(&p1).unwrap()]);
        let t0 = 1_700_000_001_500_000;
        cap.record(0, Instant::from_micros(t0), &[0x45, 1, 2, 3]);
        cap.record(1, Instant::from_micros(7), &[0x60; 40]);
        cap.record(0, Instant::from_micros(t0 + 500_001), &[0x45; 20]);
        cap.record(5, Instant::ZERO, &[0x45]); // no such path: not captured
        cap.finish().unwrap();
        let (linktype, r0) = read(&std::fs::read(&p0).unwrap()).unwrap();
        assert_eq!(linktype, LINKTYPE_RAW);
        assert_eq!(r0.len(), 2);
        assert_eq!(r0[0], PcapRecord { micros: t0, orig_len: 4, data: vec![0x45, 1, 2, 3] });
        assert_eq!(r0[1].micros, t0 + 500_001);
        let now = wall_clock().as_micros();
        assert!(now > t0, "the wall clock is after 2023");
        let (_, r1) = read(&std::fs::read(&p1).unwrap()).unwrap();
        assert_eq!((r1.len(), r1[0].data.len()), (1, 40));
        let bytes = std::fs::read(&p0).unwrap();
        assert!(read(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated data"));
        assert!(read(&bytes[..10]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
