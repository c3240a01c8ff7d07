//! An SVG plot of a [`TimeSeries`](crate::timeseries::TimeSeries) with its path events, drawn
//! by hand (no plotting dependency): throughput over time, one line per subflow and the
//! connection total on top; below it the congestion windows; every event of the
//! [`event_log`](crate::event_log) (subflow established or closed, address announced or
//! removed, priority changed, ...) as a labelled dashed vertical line across both panels. Axes
//! have ticks at 1, 2 or 5 times a power of ten; the legend names each subflow by its
//! endpoints.
//!
//! The elements carry classes for tools and tests: `polyline.throughput` (one per subflow, plus
//! `polyline.throughput.total`), `polyline.cwnd`, `line.event`.

use std::fmt::Write;

use crate::event_log::EventRecord;
use crate::timeseries::Sample;

const WIDTH: f64 = 1040.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 330.0;
const TOP: f64 = 50.0;
/// Height of the throughput panel and of the cwnd panel.
const PANEL: (f64, f64) = (330.0, 170.0);
/// Vertical room between the panels (the upper panel's tick labels and axis title).
const GAP: f64 = 60.0;
const BOTTOM: f64 = 50.0;
/// Colours of the subflows, in order; the total is black.
const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// One line of the plot.
struct Series {
    label: String,
    colour: &'static str,
    total: bool,
    /// `(time_s, throughput_mbps, cwnd_kib)`.
    points: Vec<(f64, f64, f64)>,
}

/// The SVG document for `samples` (as a time series records them) and `events`, titled `title`.
pub fn svg(title: &str, samples: &[Sample], events: &[EventRecord]) -> String {
    let series = series(samples);
    let t_max = samples.iter().map(|s| secs(s.at.as_micros())).fold(0.0, f64::max);
    let t_axis = Axis::new(t_max.max(1e-3));
    let mbps_axis = Axis::new(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max).max(1e-3));
    let cwnd_axis = Axis::new(
        series.iter().filter(|s| !s.total).flat_map(|s| s.points.iter().map(|p| p.2)).fold(0.0, f64::max).max(1.0),
    );
    let (t_max, mbps_max, cwnd_max) = (t_axis.max, mbps_axis.max, cwnd_axis.max);
    let height = TOP + PANEL.0 + GAP + PANEL.1 + BOTTOM;
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let top1 = TOP;
    let top2 = TOP + PANEL.0 + GAP;
    let y1 = |v: f64| top1 + PANEL.0 - v / mbps_max * PANEL.0;
    let y2 = |v: f64| top2 + PANEL.1 - v / cwnd_max * PANEL.1;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    axes(&mut out, top1, PANEL.0, &t_axis, &mbps_axis, "throughput (Mbit/s)", &x);
    axes(&mut out, top2, PANEL.1, &t_axis, &cwnd_axis, "cwnd (KiB)", &x);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
        LEFT + plot_w / 2.0,
        height - 12.0
    );
    for s in &series {
        let (class, width) = if s.total { ("throughput total", 2.5) } else { ("throughput", 1.5) };
        let pts: Vec<String> = s.points.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y1(p.1))).collect();
        let _ = writeln!(
            out,
            r#"<polyline class="{class}" fill="none" stroke="{}" stroke-width="{width}" points="{}"/>"#,
            s.colour,
            pts.join(" ")
        );
        if !s.total {
            let pts: Vec<String> = s.points.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y2(p.2))).collect();
            let _ = writeln!(
                out,
                r#"<polyline class="cwnd" fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                s.colour,
                pts.join(" ")
            );
        }
    }
    event_markers(&mut out, events, t_max, &x, (top1, top2 + PANEL.1));
    legend(&mut out, &series, WIDTH - RIGHT + 40.0, top1);
    out.push_str("</svg>\n");
    out
}

/// One series per subflow (in order of first appearance), then the total.
fn series(samples: &[Sample]) -> Vec<Series> {
    let mut out: Vec<(Option<u32>, Series)> = Vec::new();
    for s in samples {
        let i = match out.iter().position(|(id, _)| *id == s.subflow) {
            Some(i) => i,
            None => {
                let label = match (s.subflow, s.endpoints) {
                    (None, _) => "total".to_owned(),
                    (Some(id), Some((l, r))) => format!("sf {id} {l} > {r}"),
                    (Some(id), None) => format!("sf {id}"),
                };
                let colour = if s.subflow.is_none() { "#000000" } else { PALETTE[out.len() % PALETTE.len()] };
                let series = Series { label, colour, total: s.subflow.is_none(), points: Vec::new() };
                out.push((s.subflow, series));
                out.len() - 1
            }
        };
        out[i].1.points.push((secs(s.at.as_micros()), s.throughput_mbps(), s.cwnd as f64 / 1024.0));
    }
    // The total last: drawn on top, listed last.
    out.sort_by_key(|(id, _)| id.is_none());
    out.into_iter().map(|(_, s)| s).collect()
}

/// A panel's frame, grid, ticks and labels.
fn axes(out: &mut String, top: f64, height: f64, t: &Axis, v: &Axis, label: &str, x: &dyn Fn(f64) -> f64) {
    let (left, right, bottom) = (x(0.0), x(t.max), top + height);
    let _ = writeln!(out, r##"<g class="axes" stroke="#444" stroke-width="1">"##);
    let _ = writeln!(out, r#"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>"#);
    let _ = writeln!(out, r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>"#);
    out.push_str("</g>\n");
    for tick in t.ticks() {
        let px = x(tick);
        let _ =
            writeln!(out, r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{}" stroke="#444"/>"##, bottom + 5.0);
        let _ =
            writeln!(out, r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#, bottom + 18.0, t.label(tick));
    }
    for tick in v.ticks() {
        let py = top + height - tick / v.max * height;
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="#ddd"/><line x1="{}" y1="{py:.1}" x2="{left}" y2="{py:.1}" stroke="#444"/>"##,
            left,
            left - 5.0
        );
        let _ =
            writeln!(out, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, left - 8.0, py + 4.0, v.label(tick));
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{label}</text>"#,
        left - 55.0,
        top + height / 2.0
    );
}

/// Dashed vertical lines from `span.0` to `span.1`, labelled at the top; labels that would
/// overlap the previous one move right.
fn event_markers(out: &mut String, events: &[EventRecord], t_max: f64, x: &dyn Fn(f64) -> f64, span: (f64, f64)) {
    let mut last_label_x = f64::NEG_INFINITY;
    for e in events {
        let t = secs(e.at.as_micros());
        if t > t_max {
            continue;
        }
        let px = x(t);
        let _ = writeln!(
            out,
            r##"<line class="event" x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="#888" stroke-dasharray="4,3"/>"##,
            span.0, span.1
        );
        let lx = px.max(last_label_x + 11.0);
        last_label_x = lx;
        let _ = writeln!(
            out,
            r##"<text class="event" transform="translate({:.1},{}) rotate(-90)" text-anchor="end" font-size="10" fill="#555">{}</text>"##,
            lx + 3.0,
            span.0 + 4.0,
            escape(&e.label())
        );
    }
}

fn legend(out: &mut String, series: &[Series], left: f64, top: f64) {
    for (i, s) in series.iter().enumerate() {
        let y = top + 10.0 + i as f64 * 20.0;
        let width = if s.total { 2.5 } else { 1.5 };
        let _ = writeln!(
            out,
            r#"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="{width}"/><text x="{}" y="{}">{}</text>"#,
            left + 24.0,
            s.colour,
            left + 30.0,
            y + 4.0,
            escape(&s.label)
        );
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (> 0).
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|&c| c >= v * (1.0 - 1e-12)).unwrap_or(10.0 * p)
}

/// An axis from 0: ticks every `step` (a [`nice_ceiling`]) up to `max`, the first tick at or
/// above the largest value.
struct Axis {
    max: f64,
    step: f64,
}

impl Axis {
    /// About six ticks for values up to `v` (> 0).
    fn new(v: f64) -> Axis {
        let step = nice_ceiling(v / 6.0);
        Axis { max: (v / step - 1e-9).ceil().max(1.0) * step, step }
    }

    fn ticks(&self) -> Vec<f64> {
        let n = (self.max / self.step + 1e-9).floor() as usize;
        (0..=n).map(|i| i as f64 * self.step).collect()
    }

    /// A tick value with as many decimals as the step needs.
    fn label(&self, v: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

fn secs(micros: u64) -> f64 {
    micros as f64 / 1e6
}

/// `s` with XML's special characters escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use mptcp_stack::connection::ConnEvent;
    use mptcp_stack::time::Instant;

    use super::*;

    fn sample(ms: u64, subflow: Option<u32>, acked: u64) -> Sample {
        Sample {
            at: Instant::from_millis(ms),
            interval: Duration::from_millis(100),
            subflow,
            endpoints: subflow.map(|_| ("10.0.1.1:1".parse().unwrap(), "10.0.1.2:2".parse().unwrap())),
            acked_bytes: acked,
            received_bytes: 0,
            sent_bytes: acked,
            cwnd: 20_000,
            srtt: None,
            in_flight: 0,
        }
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(380.0), 500.0);
        let a = Axis::new(1.18);
        assert!((a.max - 1.2).abs() < 1e-9 && a.step == 0.2, "{} {}", a.max, a.step);
        assert_eq!(a.ticks().len(), 7);
        assert_eq!(a.label(0.4), "0.4");
        let a = Axis::new(225.4);
        assert_eq!((a.max, a.step), (250.0, 50.0));
        assert_eq!(a.ticks(), vec![0.0, 50.0, 100.0, 150.0, 200.0, 250.0]);
        assert_eq!(a.label(100.0), "100");
        assert_eq!(Axis::new(600.0).max, 600.0);
    }

    #[test]
    fn one_line_per_subflow_and_the_total_on_top() {
        let samples: Vec<Sample> = (1..=3)
            .flat_map(|i| [sample(i * 100, Some(0), 1000), sample(i * 100, Some(1), 500), sample(i * 100, None, 1500)])
            .collect();
        let events =
            [EventRecord { at: Instant::from_millis(150), event: ConnEvent::SubflowEstablished(1), endpoints: None }];
        let svg = svg("a <test>", &samples, &events);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"<polyline class="throughput"#).count(), 3);
        assert_eq!(svg.matches(r#"<polyline class="throughput total""#).count(), 1);
        assert_eq!(svg.matches(r#"<polyline class="cwnd""#).count(), 2);
        assert_eq!(svg.matches(r#"<line class="event""#).count(), 1);
        assert!(svg.contains("+sf 1") && svg.contains("a &lt;test&gt;"));
        // The total is drawn after (on top of) every subflow.
        assert!(svg.find("throughput total").unwrap() > svg.rfind(r#"<polyline class="throughput" "#).unwrap());
    }
}
