//! The command line: which subcommand, and its options checked and converted. Errors are one
//! line (without the `mptcp: ` prefix, which `main` adds) naming the offending argument.

use std::time::Duration;

use crate::units::{parse_delay, parse_list, parse_loss, parse_rate, parse_size};

/// `--help` text.
pub(crate) const USAGE: &str = "\
mptcp: a userspace Multipath TCP (RFC 8684) stack

Usage:
  mptcp sim [options]    one transfer between two stack endpoints in the simulator
  mptcp --help           this text

Options of `mptcp sim`:
  --paths N              paths between client and server, 1 to 8 (default 1)
  --rate R[,R...]        bottleneck rate per path: 100mbit, 1gbit, 500kbit, bit/s (default 100mbit)
  --delay D[,D...]       one-way delay per path: 10ms, 1.5ms, 2s, 250us (default 10ms)
  --loss P[,P...]        random loss per path and direction: 1% or 0.01 (default 0)
  --bytes N              bytes the client sends: 64M, 1G, 256K (powers of 1024), bytes (default 64M)
  --seed S               seed of the keys, the data and the link randomness (default 1)
  --json                 print one JSON object instead of the text report
A list with one value applies to every path; otherwise it needs one value per path.

Exit status: 0 transfer complete and intact, 1 transfer failed, 2 bad arguments.
See docs/cli.md.
";

/// The synopsis in one-line errors about the command itself.
const SYNOPSIS: &str = "usage: mptcp sim [options]; see mptcp --help";

/// The most paths `mptcp sim` sets up (the Linux kernel's default subflow limit is 8 too).
const MAX_PATHS: usize = 8;

/// What to do.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// Print [`USAGE`].
    Help,
    /// `mptcp sim`.
    Sim(SimArgs),
}

/// One path of `mptcp sim`; both directions get these settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathArgs {
    /// Bottleneck rate in bit/s.
    pub(crate) rate_bps: u64,
    /// One-way delay.
    pub(crate) delay: Duration,
    /// Loss probability.
    pub(crate) loss: f64,
}

/// `mptcp sim`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct SimArgs {
    /// One entry per path.
    pub(crate) paths: Vec<PathArgs>,
    /// Bytes the client sends.
    pub(crate) bytes: u64,
    /// Seed of everything random.
    pub(crate) seed: u64,
    /// JSON instead of text.
    pub(crate) json: bool,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None => Err(format!("missing command ({SYNOPSIS})")),
        Some("-h" | "--help") => Ok(Command::Help),
        Some("sim") => parse_sim(&args[1..]),
        Some(other) => Err(format!("unknown command {other:?} ({SYNOPSIS})")),
    }
}

/// `mptcp sim`'s option values as given, before conversion.
#[derive(Debug, Default)]
struct RawSim<'a> {
    paths: Option<&'a str>,
    rate: Option<&'a str>,
    delay: Option<&'a str>,
    loss: Option<&'a str>,
    bytes: Option<&'a str>,
    seed: Option<&'a str>,
    json: bool,
}

impl<'a> RawSim<'a> {
    /// Where the value of option `name` goes, if it is one that takes a value.
    fn slot(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "--paths" => &mut self.paths,
            "--rate" => &mut self.rate,
            "--delay" => &mut self.delay,
            "--loss" => &mut self.loss,
            "--bytes" => &mut self.bytes,
            "--seed" => &mut self.seed,
            _ => return None,
        })
    }
}

fn parse_sim(args: &[String]) -> Result<Command, String> {
    let mut raw = RawSim::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" if inline.is_some() => return Err("--json: takes no value".to_owned()),
            "--json" => raw.json = true,
            _ if !name.starts_with('-') => return Err(format!("sim: unexpected argument {arg:?}")),
            _ => {
                let slot = raw.slot(name).ok_or_else(|| format!("sim: unknown option {name:?}"))?;
                if slot.is_some() {
                    return Err(format!("{name}: given more than once"));
                }
                let value = inline.or_else(|| rest.next().map(String::as_str)).filter(|v| !v.is_empty());
                *slot = Some(value.ok_or_else(|| format!("{name}: missing value"))?);
            }
        }
    }
    sim_args(&raw).map(Command::Sim)
}

/// Converts and checks the values, filling in defaults.
fn sim_args(raw: &RawSim<'_>) -> Result<SimArgs, String> {
    let n = match raw.paths {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PATHS).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("--paths: expected a number from 1 to {MAX_PATHS}, got {s:?}"))?,
    };
    let rates = per_path("--rate", raw.rate.unwrap_or("100mbit"), n, parse_rate)?;
    let delays = per_path("--delay", raw.delay.unwrap_or("10ms"), n, parse_delay)?;
    let losses = per_path("--loss", raw.loss.unwrap_or("0"), n, parse_loss)?;
    let bytes = parse_size(raw.bytes.unwrap_or("64M")).map_err(|e| format!("--bytes: {e}"))?;
    let seed = match raw.seed {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("--seed: expected a whole number from 0 to {}, got {s:?}", u64::MAX))?,
    };
    let paths = (0..n).map(|i| PathArgs { rate_bps: rates[i], delay: delays[i], loss: losses[i] }).collect();
    Ok(SimArgs { paths, bytes, seed, json: raw.json })
}

/// A list for option `name` stretched to `n` paths: one value for all, or exactly `n`.
fn per_path<T: Clone>(
    name: &str,
    s: &str,
    n: usize,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let values = parse_list(s, item).map_err(|e| format!("{name}: {e}"))?;
    match values.len() {
        1 => Ok(vec![values[0].clone(); n]),
        len if len == n => Ok(values),
        len => Err(format!("{name}: {len} values for {n} path(s); give one value for all paths or one per path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    fn sim(line: &str) -> SimArgs {
        match parse_str(line) {
            Ok(Command::Sim(s)) => s,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let s = sim("sim");
        let path = PathArgs { rate_bps: 100_000_000, delay: Duration::from_millis(10), loss: 0.0 };
        assert_eq!(s, SimArgs { paths: vec![path], bytes: 64 << 20, seed: 1, json: false });
    }

    #[test]
    fn per_path_lists() {
        let s = sim("sim --paths 2 --rate 100mbit,10mbit --delay=5ms --loss 1%,0 --bytes 1G --seed 7 --json");
        assert_eq!(s.paths.len(), 2);
        assert_eq!((s.paths[0].rate_bps, s.paths[1].rate_bps), (100_000_000, 10_000_000));
        assert_eq!((s.paths[0].delay, s.paths[1].delay), (Duration::from_millis(5), Duration::from_millis(5)));
        assert_eq!((s.paths[0].loss, s.paths[1].loss), (0.01, 0.0));
        assert_eq!((s.bytes, s.seed, s.json), (1 << 30, 7, true));
        // The order of options does not matter: --paths may come after the lists.
        assert_eq!(sim("sim --rate 1mbit,2mbit --paths 2").paths.len(), 2);
    }

    #[test]
    fn help() {
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(parse_str("-h"), Ok(Command::Help));
        assert_eq!(parse_str("sim --rate fast --help"), Ok(Command::Help));
    }

    #[test]
    fn errors() {
        let err = |line: &str| parse_str(line).expect_err(line);
        assert_eq!(err("sim --rate fast"), r#"--rate: expected a rate like 100mbit, got "fast""#);
        assert_eq!(
            err("sim --paths 2 --rate 1mbit,2mbit,3mbit"),
            "--rate: 3 values for 2 path(s); give one value for all paths or one per path"
        );
        assert_eq!(err("sim --delay 5ms,,5ms"), r#"--delay: empty item in list "5ms,,5ms""#);
        assert_eq!(err("sim --delay 10xs"), r#"--delay: expected a delay like 10ms, got "10xs""#);
        assert_eq!(err("sim --delay -1ms"), r#"--delay: expected a delay like 10ms, got "-1ms""#);
        assert!(err("sim --loss 150%").starts_with("--loss: "));
        assert_eq!(err("sim --paths 0"), r#"--paths: expected a number from 1 to 8, got "0""#);
        assert!(err("sim --paths 9").starts_with("--paths: "));
        assert!(err("sim --paths +2").starts_with("--paths: "));
        assert!(err("sim --seed -1").starts_with("--seed: "));
        assert_eq!(err("sim --rate"), "--rate: missing value");
        assert_eq!(parse(&["sim".to_owned(), "--rate=".to_owned()]), Err("--rate: missing value".to_owned()));
        assert_eq!(err("sim --rate 1mbit --rate 2mbit"), "--rate: given more than once");
        assert_eq!(err("sim --frobnicate 3"), r#"sim: unknown option "--frobnicate""#);
        assert_eq!(err("sim extra"), r#"sim: unexpected argument "extra""#);
        assert_eq!(err("sim --json=yes"), "--json: takes no value");
        assert_eq!(err("bench"), r#"unknown command "bench" (usage: mptcp sim [options]; see mptcp --help)"#);
        assert_eq!(err(""), "missing command (usage: mptcp sim [options]; see mptcp --help)");
    }
}
