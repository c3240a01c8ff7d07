//! Quantities on the command line and in the human report: rates, delays, loss probabilities
//! and sizes, parsed from and formatted to text. `docs/cli.md` describes the syntax.
//!
//! Every number may have a decimal point (`1.5ms`) but no sign, exponent or other notation.
//! Parse errors are messages without the option's name, which the caller adds.

use std::time::Duration;

/// The largest value a parsed quantity may reach in its base unit (bit/s, µs, bytes): far
/// beyond any sensible setting, far below where virtual-time arithmetic could overflow.
const MAX_BASE_UNITS: f64 = 1e15;

/// A rate: `100mbit`, `1.5gbit`, `500kbit`, `64000bit` or plain bits per second; in bit/s.
pub(crate) fn parse_rate(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return Err(expected("a rate like 100mbit", s)),
    };
    match scaled(num, scale) {
        Some(0) => Err(format!("a rate must be above 0, got {s:?}")),
        Some(bps) => Ok(bps),
        None => Err(expected("a rate like 100mbit", s)),
    }
}

/// A one-way delay: `10ms`, `1.5ms`, `2s`, `250us` (or `µs`), or `0`; rounded to 1 µs.
pub(crate) fn parse_delay(s: &str) -> Result<Duration, String> {
    let (num, unit) = split_unit(s);
    let scale = match unit {
        "s" => 1e6,
        "ms" => 1e3,
        "us" | "µs" => 1.0,
        "" if num.bytes().all(|b| b == b'0' || b == b'.') => 1.0,
        _ => return Err(expected("a delay like 10ms", s)),
    };
    scaled(num, scale).map(Duration::from_micros).ok_or_else(|| expected("a delay like 10ms", s))
}

/// A loss probability: a percentage `1%` or a fraction `0.01`, from 0 to 1.
pub(crate) fn parse_loss(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(num) => (num, 100.0),
        None => (s, 1.0),
    };
    decimal(num)
        .map(|v| v / scale)
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| expected("a loss from 0% to 100% (or 0 to 1)", s))
}

/// A size in bytes: plain (or `B`), or with `K`, `M` or `G` meaning powers of 1024 (`KB`,
/// `KiB` and so on are the same; case does not matter).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(expected("a size like 64M", s)),
    };
    match scaled(num, scale as f64) {
        Some(0) => Err(format!("a size must be at least 1 byte, got {s:?}")),
        Some(bytes) => Ok(bytes),
        None => Err(expected("a size like 64M", s)),
    }
}

/// A comma-separated list of values, each read by `item`; no item may be empty.
pub(crate) fn parse_list<T>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',').map(|x| if x.is_empty() { Err(format!("empty item in list {s:?}")) } else { item(x) }).collect()
}

/// `100 Mbit/s`, `1.5 Gbit/s`, `64 kbit/s`, `300 bit/s`.
pub(crate) fn format_rate(bps: u64) -> String {
    let v = bps as f64;
    match bps {
        1_000_000_000.. => format!("{} Gbit/s", trimmed(v / 1e9)),
        1_000_000.. => format!("{} Mbit/s", trimmed(v / 1e6)),
        1_000.. => format!("{} kbit/s", trimmed(v / 1e3)),
        _ => format!("{bps} bit/s"),
    }
}

/// `2 s`, `10 ms`, `1.5 ms`, `250 us`.
pub(crate) fn format_delay(d: Duration) -> String {
    let us = d.as_micros() as f64;
    if us >= 1e6 {
        format!("{} s", trimmed(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", trimmed(us / 1e3))
    } else {
        format!("{} us", trimmed(us))
    }
}

/// `0%`, `1%`, `0.25%`.
pub(crate) fn format_loss(p: f64) -> String {
    format!("{}%", trimmed(p * 100.0))
}

/// `64 MiB`, `256 KiB`, `1.5 GiB`, `1000 bytes`.
pub(crate) fn format_size(bytes: u64) -> String {
    let v = bytes as f64;
    match bytes {
        0x4000_0000.. => format!("{} GiB", trimmed(v / f64::from(1u32 << 30))),
        0x10_0000.. => format!("{} MiB", trimmed(v / f64::from(1u32 << 20))),
        0x400.. => format!("{} KiB", trimmed(v / f64::from(1u32 << 10))),
        _ => format!("{bytes} bytes"),
    }
}

/// Up to three decimals, without trailing zeros.
fn trimmed(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn expected(what: &str, got: &str) -> String {
    format!("expected {what}, got {got:?}")
}

/// Splits `1.5ms` into `("1.5", "ms")`: the number is the leading digits and dots.
fn split_unit(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    s.split_at(end)
}

/// `digits[.digits]`, nothing else.
fn decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if digits(int) && digits(frac) { s.parse().ok() } else { None }
}

/// The decimal `num` times `scale`, rounded to an integer no larger than [`MAX_BASE_UNITS`].
fn scaled(num: &str, scale: f64) -> Option<u64> {
    let v = (decimal(num)? * scale).round();
    (v <= MAX_BASE_UNITS).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100mbit"), Ok(100_000_000));
        assert_eq!(parse_rate("1gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("1.5Gbit"), Ok(1_500_000_000));
        assert_eq!(parse_rate("500kbit"), Ok(500_000));
        assert_eq!(parse_rate("64000"), Ok(64_000));
        assert_eq!(parse_rate("64000bit"), Ok(64_000));
        for bad in
            ["fast", "", "mbit", "10 mbit", "10mb", "-1mbit", "1e6", "1..5mbit", ".5mbit", "5.mbit", "0", "0mbit"]
        {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_rate("fast"), Err(r#"expected a rate like 100mbit, got "fast""#.to_owned()));
        assert_eq!(parse_rate("0"), Err(r#"a rate must be above 0, got "0""#.to_owned()));
    }

    #[test]
    fn delays() {
        assert_eq!(parse_delay("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_delay("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_delay("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_delay("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_delay("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_delay("0"), Ok(Duration::ZERO));
        assert_eq!(parse_delay("0ms"), Ok(Duration::ZERO));
        for bad in ["10xs", "-1ms", "10", "ms", "", "10MS", "1.2.3ms", "10 ms", "99999999999s"] {
            assert!(parse_delay(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_delay("10xs"), Err(r#"expected a delay like 10ms, got "10xs""#.to_owned()));
    }

    #[test]
    fn losses() {
        assert_eq!(parse_loss("1%"), Ok(0.01));
        assert_eq!(parse_loss("0.5%"), Ok(0.005));
        assert_eq!(parse_loss("100%"), Ok(1.0));
        assert_eq!(parse_loss("0.01"), Ok(0.01));
        assert_eq!(parse_loss("0"), Ok(0.0));
        assert_eq!(parse_loss("1"), Ok(1.0));
        for bad in ["150%", "1.5", "-1%", "%", "", "1%%", "one", "5 %", "nan", "inf"] {
            assert!(parse_loss(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_loss("150%"), Err(r#"expected a loss from 0% to 100% (or 0 to 1), got "150%""#.to_owned()));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("256K"), Ok(256 << 10));
        assert_eq!(parse_size("256k"), Ok(256 << 10));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4KB"), Ok(4096));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["0", "0M", "64X", "M", "", "-5", "64 M", "1T", "64MM", "64MBB", "64iB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("10ms", parse_delay), Ok(vec![Duration::from_millis(10)]));
        assert_eq!(parse_list("1%,0.02", parse_loss), Ok(vec![0.01, 0.02]));
        assert_eq!(parse_list("100mbit,,5mbit", parse_rate), Err(r#"empty item in list "100mbit,,5mbit""#.to_owned()));
        assert!(parse_list("10ms,", parse_delay).is_err());
        assert!(parse_list(",10ms", parse_delay).is_err());
        assert!(parse_list("", parse_delay).is_err());
        assert_eq!(parse_list("10ms,10xs", parse_delay), Err(r#"expected a delay like 10ms, got "10xs""#.to_owned()));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rate(100_000_000), "100 Mbit/s");
        assert_eq!(format_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(format_rate(500_000), "500 kbit/s");
        assert_eq!(format_rate(300), "300 bit/s");
        assert_eq!(format_delay(Duration::from_millis(10)), "10 ms");
        assert_eq!(format_delay(Duration::from_micros(1500)), "1.5 ms");
        assert_eq!(format_delay(Duration::from_secs(2)), "2 s");
        assert_eq!(format_delay(Duration::from_micros(250)), "250 us");
        assert_eq!(format_loss(0.0), "0%");
        assert_eq!(format_loss(0.0025), "0.25%");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }
}
