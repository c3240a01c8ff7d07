//! The link emulator's options, shared by `bench`, `client` and `server`: per path `--delay`,
//! `--jitter`, `--loss` (random or `gilbert:P/R`), `--reorder`, and changes during the run
//! (`--schedule FILE`, `--at CHANGES`). They become one [`LinkConfig`] per path (both directions
//! alike) and a [`Schedule`]; [`Emulation::emulator`] builds the emulator of one side.

use mptcp_tun_driver::emulator::{Dir, Emulator, Schedule};
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::stack::time::Instant;

use crate::args::per_path;
use crate::schedule::{LossValue, parse_loss_value, parse_schedule};
use crate::units::{parse_delay, parse_loss};

/// Seed of the emulated links' randomness (fixed: runs with the same traffic see the same fates).
const SEED: u64 = 1;

/// The emulator options as given, before conversion.
#[derive(Debug, Default)]
pub(crate) struct RawEmulation<'a> {
    delay: Option<&'a str>,
    jitter: Option<&'a str>,
    loss: Option<&'a str>,
    reorder: Option<&'a str>,
    schedule: Option<&'a str>,
    at: Option<&'a str>,
}

impl<'a> RawEmulation<'a> {
    /// Where the value of option `name` goes, if it is an emulator option.
    pub(crate) fn slot(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "--delay" => &mut self.delay,
            "--jitter" => &mut self.jitter,
            "--loss" => &mut self.loss,
            "--reorder" => &mut self.reorder,
            "--schedule" => &mut self.schedule,
            "--at" => &mut self.at,
            _ => return None,
        })
    }

    /// Whether any emulator option was given.
    pub(crate) fn given(&self) -> bool {
        [self.delay, self.jitter, self.loss, self.reorder, self.schedule, self.at].iter().any(Option::is_some)
    }

    /// The emulation of `n` paths with `rates` (bit/s, `None`: unlimited), reading the schedule
    /// file; `None` when `emulate` is false.
    pub(crate) fn finish(&self, n: usize, rates: &[Option<u64>], emulate: bool) -> Result<Option<Emulation>, String> {
        if !emulate {
            return Ok(None);
        }
        let delays = per_path("--delay", self.delay.unwrap_or("0"), n, parse_delay)?;
        let jitters = per_path("--jitter", self.jitter.unwrap_or("0"), n, parse_delay)?;
        let losses = per_path("--loss", self.loss.unwrap_or("0"), n, parse_loss_value)?;
        let reorders = per_path("--reorder", self.reorder.unwrap_or("0"), n, parse_loss)?;
        let mut schedule = Schedule::default();
        if let Some(path) = self.schedule {
            let text = std::fs::read_to_string(path).map_err(|e| format!("--schedule: cannot read {path}: {e}"))?;
            schedule = parse_schedule(&text).map_err(|e| format!("--schedule {path}: {e}"))?;
        }
        if let Some(at) = self.at {
            schedule = schedule.merged(parse_schedule(at).map_err(|e| format!("--at: {e}"))?);
        }
        if let Some(p) = schedule.max_path().filter(|&p| p >= n) {
            return Err(format!("--schedule/--at: path {p} does not exist ({n} path(s), numbered from 0)"));
        }
        let links = (0..n)
            .map(|i| {
                let (loss, loss_burst) = match losses[i] {
                    LossValue::Random(p) => (p, None),
                    LossValue::Bursty(ge) => (0.0, Some(ge)),
                };
                LinkConfig {
                    rate_bps: rates.get(i).copied().flatten(),
                    delay: delays[i],
                    jitter: jitters[i],
                    loss,
                    loss_burst,
                    reorder: reorders[i],
                    ..LinkConfig::default()
                }
            })
            .collect();
        Ok(Some(Emulation { links, schedule }))
    }
}

/// What to emulate: one link configuration per path (the same in both directions) and the
/// changes during the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Emulation {
    pub(crate) links: Vec<LinkConfig>,
    pub(crate) schedule: Schedule,
}

impl Emulation {
    /// An emulator of directions `dirs` of every path (the others pass through), its schedule
    /// counted from `start`.
    pub(crate) fn emulator(&self, dirs: &[Dir], start: Instant) -> Emulator {
        let paths = self.links.iter().map(|c| Dir::BOTH.map(|d| dirs.contains(&d).then(|| c.clone()))).collect();
        Emulator::new(paths, self.schedule.clone(), SEED, start)
    }

    /// One line per path, for reports.
    pub(crate) fn describe(&self, path: usize) -> String {
        use crate::units::{format_delay, format_loss, format_rate};
        let Some(c) = self.links.get(path) else { return String::new() };
        let mut parts = vec![c.rate_bps.map_or_else(|| "unlimited".to_owned(), format_rate)];
        parts.push(format!("delay {}", format_delay(c.delay)));
        if !c.jitter.is_zero() {
            parts.push(format!("jitter {}", format_delay(c.jitter)));
        }
        if let Some(ge) = c.loss_burst {
            parts.push(format!(
                "loss gilbert {}/{} (mean {})",
                format_loss(ge.p_enter_bad),
                format_loss(ge.p_leave_bad),
                format_loss(ge.mean_loss())
            ));
        } else if c.loss > 0.0 {
            parts.push(format!("loss {}", format_loss(c.loss)));
        }
        if c.reorder > 0.0 {
            parts.push(format!("reorder {}", format_loss(c.reorder)));
        }
        format!("{} each way (emulated)", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn raw<'a>(pairs: &[(&str, &'a str)]) -> RawEmulation<'a> {
        let mut r = RawEmulation::default();
        for (name, value) in pairs {
            *r.slot(name).unwrap() = Some(value);
        }
        r
    }

    #[test]
    fn per_path_links() {
        let r = raw(&[
            ("--delay", "10ms,50ms"),
            ("--loss", "1%,gilbert:1%/25%"),
            ("--jitter", "1ms"),
            ("--at", "5s 1 cut; 8s 1 restore"),
        ]);
        assert!(r.given());
        let e = r.finish(2, &[Some(100_000_000), None], true).unwrap().unwrap();
        assert_eq!((e.links[0].delay, e.links[1].delay), (Duration::from_millis(10), Duration::from_millis(50)));
        assert_eq!((e.links[0].loss, e.links[0].rate_bps, e.links[1].rate_bps), (0.01, Some(100_000_000), None));
        assert!(e.links[1].loss_burst.is_some() && e.links[1].jitter == Duration::from_millis(1));
        assert_eq!(e.schedule.changes().len(), 2);
        let emu = e.emulator(&[Dir::Forward], Instant::ZERO);
        assert!(emu.emulates(1, Dir::Forward) && !emu.emulates(1, Dir::Reverse));
        assert!(e.describe(1).contains("gilbert"));
        assert_eq!(RawEmulation::default().finish(2, &[None, None], false), Ok(None));
    }

    #[test]
    fn errors() {
        let err = |pairs: &[(&str, &str)]| raw(pairs).finish(2, &[None, None], true).unwrap_err();
        assert_eq!(err(&[("--at", "1s 2 cut")]), "--schedule/--at: path 2 does not exist (2 path(s), numbered from 0)");
        assert_eq!(
            err(&[("--at", "1s 1")]),
            r#"--at: line 1: expected TIME PATH SETTING [VALUE] (like `5s 1 cut`), got "1s 1""#
        );
        assert!(
            err(&[("--schedule", "/nonexistent/schedule")])
                .starts_with("--schedule: cannot read /nonexistent/schedule: ")
        );
        assert!(err(&[("--delay", "1ms,2ms,3ms")]).starts_with("--delay: 3 values for 2 path(s)"));
        assert!(err(&[("--reorder", "2")]).starts_with("--reorder: "));
    }
}
