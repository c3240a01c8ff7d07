//! The observability options of `client`, `server`, `sim` and `bench`: `--sample-interval`,
//! `--timeseries FILE`, `--plot FILE`, `--pcap DIR` and `--events FILE` — parsing them, and
//! turning what a [`Transfer`] recorded into files (the recording itself is in
//! `mptcp_tun_driver::{timeseries, event_log, plot, pcap}`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use mptcp_tun_driver::event_log;
use mptcp_tun_driver::event_loop::EventLoop;
use mptcp_tun_driver::pcap::{Capture, PcapWriter};
use mptcp_tun_driver::plot;
use mptcp_tun_driver::timeseries::Format;
use mptcp_tun_driver::transfer::Transfer;

use crate::units::parse_delay;

/// The default `--sample-interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

/// What to record and where to write it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObserveArgs {
    /// How often the time series is sampled (virtual time in the simulator).
    pub(crate) sample_interval: Duration,
    /// `--timeseries`: CSV or JSON lines, by extension.
    pub(crate) timeseries: Option<PathBuf>,
    /// `--plot`: an SVG file.
    pub(crate) plot: Option<PathBuf>,
    /// `--pcap`: a directory for one pcap file per path.
    pub(crate) pcap: Option<PathBuf>,
    /// `--events`: JSON lines.
    pub(crate) events: Option<PathBuf>,
}

impl Default for ObserveArgs {
    fn default() -> ObserveArgs {
        ObserveArgs { sample_interval: DEFAULT_INTERVAL, timeseries: None, plot: None, pcap: None, events: None }
    }
}

/// The observability options as given, before conversion.
#[derive(Debug, Default)]
pub(crate) struct RawObserve<'a> {
    sample_interval: Option<&'a str>,
    timeseries: Option<&'a str>,
    plot: Option<&'a str>,
    pcap: Option<&'a str>,
    events: Option<&'a str>,
}

impl<'a> RawObserve<'a> {
    /// Where the value of option `name` goes, if it is an observability option.
    pub(crate) fn slot(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "--sample-interval" => &mut self.sample_interval,
            "--timeseries" => &mut self.timeseries,
            "--plot" => &mut self.plot,
            "--pcap" => &mut self.pcap,
            "--events" => &mut self.events,
            _ => return None,
        })
    }

    pub(crate) fn finish(&self) -> Result<ObserveArgs, String> {
        let sample_interval = match self.sample_interval {
            None => DEFAULT_INTERVAL,
            Some(s) => match parse_delay(s) {
                Ok(d) if d >= Duration::from_millis(1) => d,
                _ => {
                    return Err(format!(
                        "--sample-interval: expected a duration of at least 1ms like 100ms, got {s:?}"
                    ));
                }
            },
        };
        if let Some(f) = self.timeseries {
            Format::of(Path::new(f)).map_err(|e| format!("--timeseries: {e}, got {f:?}"))?;
        }
        Ok(ObserveArgs {
            sample_interval,
            timeseries: self.timeseries.map(PathBuf::from),
            plot: self.plot.map(PathBuf::from),
            pcap: self.pcap.map(PathBuf::from),
            events: self.events.map(PathBuf::from),
        })
    }
}

impl ObserveArgs {
    /// Makes `transfer` sample its subflows if a time series or plot is asked for.
    pub(crate) fn prepare(&self, transfer: &mut Transfer) {
        if self.timeseries.is_some() || self.plot.is_some() {
            transfer.record_timeseries(self.sample_interval);
        }
    }

    /// Sets up a TUN event loop: its transfer samples, its devices are captured
    /// (`DIR/<device>.pcap`).
    pub(crate) fn attach(&self, lp: &mut EventLoop) -> Result<(), String> {
        self.prepare(lp.transfer_mut());
        let names: Vec<String> = lp.paths().iter().map(|p| p.device.name().to_owned()).collect();
        if let Some(c) = self.capture(&names)? {
            lp.set_capture(c);
        }
        Ok(())
    }

    /// With `--pcap DIR`: the directory (made if missing) and a pcap file in it for each path,
    /// `DIR/<name>.pcap`.
    pub(crate) fn capture(&self, names: &[String]) -> Result<Option<Capture>, String> {
        let Some(dir) = &self.pcap else { return Ok(None) };
        std::fs::create_dir_all(dir).map_err(|e| format!("--pcap {}: {e}", dir.display()))?;
        let writers = names
            .iter()
            .map(|n| {
                let file = dir.join(format!("{n}.pcap"));
                PcapWriter::create(&file).map_err(|e| format!("--pcap {}: {e}", file.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Capture::new(writers)))
    }

    /// Writes what `transfer` recorded: the time series, the plot (titled `title`) and the
    /// events. `nth`: the connection's number when a server serves several (from the second on,
    /// the files are `NAME-<nth>.EXT`).
    pub(crate) fn write(&self, transfer: &Transfer, title: &str, nth: usize) -> Result<(), String> {
        let file = |p: &PathBuf| numbered(p, nth);
        let err = |opt: &str, p: &Path, e: std::io::Error| format!("{opt} {}: {e}", p.display());
        let samples = transfer.timeseries().map(|t| t.samples()).unwrap_or_default();
        if let (Some(p), Some(ts)) = (&self.timeseries, transfer.timeseries()) {
            let p = file(p);
            ts.write_file(&p).map_err(|e| err("--timeseries", &p, e))?;
        }
        if let Some(p) = &self.plot {
            let p = file(p);
            std::fs::write(&p, plot::svg(title, samples, transfer.events())).map_err(|e| err("--plot", &p, e))?;
        }
        if let Some(p) = &self.events {
            let p = file(p);
            event_log::write_file(transfer.events(), &p).map_err(|e| err("--events", &p, e))?;
        }
        Ok(())
    }
}

/// Flushes a capture; its error as one line.
pub(crate) fn finish_capture(capture: Option<Capture>) -> Result<(), String> {
    capture.map_or(Ok(()), |c| c.finish().map_err(|e| format!("--pcap: writing a capture failed: {e}")))
}

/// `path` itself for the first connection, `stem-N.ext` for the N-th.
fn numbered(path: &Path, nth: usize) -> PathBuf {
    if nth <= 1 {
        return path.to_owned();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{nth}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{nth}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<ObserveArgs, String> {
        let mut raw = RawObserve::default();
        for (name, value) in pairs {
            *raw.slot(name).expect(name) = Some(value);
        }
        raw.finish()
    }

    #[test]
    fn options() {
        assert_eq!(parse(&[]), Ok(ObserveArgs::default()));
        let o = parse(&[("--sample-interval", "20ms"), ("--timeseries", "a.jsonl"), ("--pcap", "d")]).unwrap();
        assert_eq!(o.sample_interval, Duration::from_millis(20));
        assert_eq!((o.timeseries.as_deref(), o.pcap.as_deref()), (Some(Path::new("a.jsonl")), Some(Path::new("d"))));
        assert_eq!(
            parse(&[("--timeseries", "a.txt")]),
            Err(r#"--timeseries: the file name must end in .csv, .json or .jsonl, got "a.txt""#.to_owned())
        );
        assert!(parse(&[("--sample-interval", "0ms")]).unwrap_err().starts_with("--sample-interval: "));
        assert!(parse(&[("--sample-interval", "500us")]).is_err());
        assert_eq!(RawObserve::default().slot("--rate"), None);
    }

    #[test]
    fn numbered_files() {
        assert_eq!(numbered(Path::new("out/ts.csv"), 1), Path::new("out/ts.csv"));
        assert_eq!(numbered(Path::new("out/ts.csv"), 3), Path::new("out/ts-3.csv"));
        assert_eq!(numbered(Path::new("plot"), 2), Path::new("plot-2"));
    }
}
