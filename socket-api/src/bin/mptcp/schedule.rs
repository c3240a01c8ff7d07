//! The text of a link emulator schedule (`--schedule FILE`, `--at CHANGE`), one change per line
//! (or per `;`-separated item), as `docs/cli.md` describes:
//!
//! ```text
//! # time  path  setting [value]
//! 5s      1     cut            # both directions of path 1 drop everything
//! 8s      1     restore
//! 3s      0>    rate 10mbit    # only client -> server; `0<` is server -> client
//! 10      *     delay 50ms     # every path
//! 12.5s   1     loss gilbert:1%/30%
//! ```

use std::time::Duration;

use mptcp_tun_driver::emulator::{Change, Dir, Schedule, Setting};
use mptcp_tun_driver::link::GilbertElliott;

use crate::units::{parse_delay, parse_loss, parse_rate};

/// Parses a whole schedule; errors name the line (1-based) or item.
pub(crate) fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let mut changes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for item in line.split('#').next().unwrap_or("").split(';') {
            if !item.trim().is_empty() {
                changes.push(parse_change(item).map_err(|e| format!("line {}: {e}", n + 1))?);
            }
        }
    }
    Ok(Schedule::new(changes))
}

/// One change: `TIME PATH SETTING [VALUE]`.
pub(crate) fn parse_change(item: &str) -> Result<Change, String> {
    let words: Vec<&str> = item.split_whitespace().collect();
    let [at, path, setting, value @ ..] = words.as_slice() else {
        return Err(format!("expected TIME PATH SETTING [VALUE] (like `5s 1 cut`), got {:?}", item.trim()));
    };
    let at = parse_at(at)?;
    let (path, dirs) = parse_target(path)?;
    let setting = parse_setting(setting, value)?;
    Ok(Change { at, path, dirs, setting })
}

/// Seconds (`5`, `1.5`) or a duration with a unit (`5s`, `500ms`).
fn parse_at(s: &str) -> Result<Duration, String> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    parse_delay(&if plain { format!("{s}s") } else { s.to_owned() })
        .map_err(|_| format!("expected a time like 5s or 500ms, got {s:?}"))
}

/// `N`, `N>` (forward only), `N<` (reverse only), or `*` for every path (also with `>`/`<`).
fn parse_target(s: &str) -> Result<(Option<usize>, Vec<Dir>), String> {
    let (index, dirs) = match (s.strip_suffix('>'), s.strip_suffix('<')) {
        (Some(i), _) => (i, vec![Dir::Forward]),
        (_, Some(i)) => (i, vec![Dir::Reverse]),
        _ => (s, Dir::BOTH.to_vec()),
    };
    let path = match index {
        "*" => None,
        i => Some(
            i.parse()
                .ok()
                .filter(|_| i.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("expected a path like 0, 1>, 2< or *, got {s:?}"))?,
        ),
    };
    Ok((path, dirs))
}

/// The setting `name` with its `value` words; errors start with the name.
fn parse_setting(name: &str, value: &[&str]) -> Result<Setting, String> {
    setting_value(name, value).map_err(|e| if e.starts_with(name) { e } else { format!("{name}: {e}") })
}

fn setting_value(name: &str, value: &[&str]) -> Result<Setting, String> {
    let one = |what: &str| match value {
        [v] => Ok(*v),
        _ => Err(format!("{name}: expected one value ({what})")),
    };
    let none = |s: Setting| if value.is_empty() { Ok(s) } else { Err(format!("{name}: takes no value")) };
    match name {
        "cut" => none(Setting::Cut),
        "restore" => none(Setting::Restore),
        "rate" => match one("a rate like 10mbit, or unlimited")? {
            "unlimited" => Ok(Setting::Rate(None)),
            v => parse_rate(v).map(|r| Setting::Rate(Some(r))),
        },
        "delay" => parse_delay(one("like 20ms")?).map(Setting::Delay),
        "jitter" => parse_delay(one("like 2ms")?).map(Setting::Jitter),
        "loss" => match parse_loss_value(one("like 1% or gilbert:1%/30%")?)? {
            LossValue::Random(p) => Ok(Setting::Loss(p)),
            LossValue::Bursty(ge) => Ok(Setting::BurstLoss(Some(ge))),
        },
        "reorder" => parse_loss(one("like 1%")?).map(Setting::Reorder),
        "duplicate" => parse_loss(one("like 1%")?).map(Setting::Duplicate),
        other => {
            Err(format!("{other}: unknown setting (cut, restore, rate, delay, jitter, loss, reorder or duplicate)"))
        }
    }
}

/// A loss as given: random, or bursty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LossValue {
    /// Independent loss with this probability.
    Random(f64),
    /// The Gilbert model: enter the lossy state with P, leave it with R per packet.
    Bursty(GilbertElliott),
}

/// `1%`, `0.01`, or `gilbert:P/R` (P: probability of entering the bad state, where every packet
/// is lost, R: of leaving it; mean loss P / (P + R), bursts of 1 / R packets on average).
pub(crate) fn parse_loss_value(s: &str) -> Result<LossValue, String> {
    let Some(params) = s.strip_prefix("gilbert:") else {
        return parse_loss(s).map(LossValue::Random);
    };
    let Some((p, r)) = params.split_once('/') else {
        return Err(format!("expected gilbert:P/R (like gilbert:1%/30%), got {s:?}"));
    };
    let (p, r) = (parse_loss(p)?, parse_loss(r)?);
    if r == 0.0 {
        return Err(format!("gilbert: R (leaving the lossy state) must be above 0, got {s:?}"));
    }
    Ok(LossValue::Bursty(GilbertElliott::gilbert(p, r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_file() {
        let s = parse_schedule(
            "# cut path 1\n5s 1 cut\n8s 1 restore ; 8s 1 delay 30ms\n\n3 0> rate 10mbit # slower\n\
             12.5s * loss gilbert:1%/25%\n1s 0< rate unlimited\n2s 1 jitter 2ms\n2s 0 reorder 1%\n2s 0 duplicate 0.5%",
        )
        .unwrap();
        let c = s.changes();
        assert_eq!(c.len(), 9);
        assert_eq!(
            c[0],
            Change {
                at: Duration::from_secs(1),
                path: Some(0),
                dirs: vec![Dir::Reverse],
                setting: Setting::Rate(None)
            }
        );
        assert_eq!(c[4].at, Duration::from_secs(3));
        assert_eq!((c[4].dirs.as_slice(), c[4].setting), ([Dir::Forward].as_slice(), Setting::Rate(Some(10_000_000))));
        assert_eq!((c[5].at, c[5].path, c[5].setting), (Duration::from_secs(5), Some(1), Setting::Cut));
        assert_eq!(c[7].setting, Setting::Delay(Duration::from_millis(30)));
        assert_eq!(c[8].path, None);
        assert_eq!(c[8].setting, Setting::BurstLoss(Some(GilbertElliott::gilbert(0.01, 0.25))));
        assert_eq!(s.max_path(), Some(1));
        assert!(parse_schedule("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let err = |t: &str| parse_schedule(t).unwrap_err();
        assert_eq!(
            err("5s 1 cut\n5s 1"),
            r#"line 2: expected TIME PATH SETTING [VALUE] (like `5s 1 cut`), got "5s 1""#
        );
        assert_eq!(err("soon 1 cut"), r#"line 1: expected a time like 5s or 500ms, got "soon""#);
        assert_eq!(err("1s x cut"), r#"line 1: expected a path like 0, 1>, 2< or *, got "x""#);
        assert_eq!(err("1s 1 cut now"), "line 1: cut: takes no value");
        assert_eq!(err("1s 1 rate"), "line 1: rate: expected one value (a rate like 10mbit, or unlimited)");
        assert_eq!(err("1s 1 rate fast"), r#"line 1: rate: expected a rate like 100mbit, got "fast""#);
        assert!(err("1s 1 warp 9").starts_with("line 1: warp: unknown setting (cut, restore"));
        assert!(err("1s 1 loss gilbert:1%").starts_with("line 1: loss: expected gilbert:P/R"));
        assert!(err("1s 1 loss gilbert:1%/0").contains("must be above 0"));
        assert!(!err("1s 1 loss 200%").contains('\n'));
    }
}
