//! The process's one stack behind the C ABI: its settings (as `mptcp_stack_start_config` takes
//! them and as `mptcp run` hands them to the `LD_PRELOAD` library in environment variables),
//! starting and stopping it.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use mptcp_tun_driver::stack::cc::Algorithm;
use mptcp_tun_driver::stack::connection::path_manager::PathManagerKind;
use mptcp_tun_driver::stack::scheduler::SchedulerKind;

use crate::stack::Stack;

/// `DEV=IP[,backup] DEV=IP ...`: the paths (required).
pub const ENV_PATHS: &str = "MPTCP_PATHS";
/// The path manager (`fullmesh`, `ndiffports[:N]`, `manual`).
pub const ENV_PATH_MANAGER: &str = "MPTCP_PATH_MANAGER";
/// The scheduler (`minrtt`, `roundrobin`, `redundant`, `blest`).
pub const ENV_SCHEDULER: &str = "MPTCP_SCHEDULER";
/// The congestion control (`cubic`, `reno`, `lia`, `olia`).
pub const ENV_CC: &str = "MPTCP_CC";

/// One path: a TUN device and this stack's address on it (`DEV=IP` or `DEV=IP,backup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathArg {
    /// The TUN device.
    pub device: String,
    /// This stack's address on it.
    pub addr: IpAddr,
    /// Subflows from it are backups.
    pub backup: bool,
}

impl FromStr for PathArg {
    type Err = String;

    /// `DEV=IP[,backup]`; the errors name what is wrong (without the option's name).
    fn from_str(s: &str) -> Result<PathArg, String> {
        let bad = || format!("expected DEV=IP[,backup] (like mtun0=10.0.1.2), got {s:?}");
        let (spec, backup) = match s.split_once(',') {
            None => (s, false),
            Some((p, "backup")) => (p, true),
            Some(_) => return Err(bad()),
        };
        let (dev, ip) = spec.split_once('=').ok_or_else(bad)?;
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let valid_dev = !dev.is_empty() && dev.len() <= 15 && !dev.contains(['/', ':', ' ', '=']);
        if !valid_dev {
            return Err(format!("{dev:?} is not a valid interface name (1 to 15 bytes, no '/', ':' or spaces)"));
        }
        if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
            return Err(format!("{addr} cannot be this stack's address"));
        }
        Ok(PathArg { device: dev.to_owned(), addr, backup })
    }
}

impl fmt::Display for PathArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}{}", self.device, self.addr, if self.backup { ",backup" } else { "" })
    }
}

/// Everything `mptcp_stack_start_config` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSettings {
    /// At least one.
    pub paths: Vec<PathArg>,
    /// `None`: the default (fullmesh).
    pub path_manager: Option<PathManagerKind>,
    /// `None`: the default (minrtt).
    pub scheduler: Option<SchedulerKind>,
    /// `None`: the default (cubic).
    pub congestion_control: Option<Algorithm>,
}

impl StackSettings {
    /// Parses the settings as strings; `None` takes the default.
    pub fn parse(
        paths: &str,
        path_manager: Option<&str>,
        scheduler: Option<&str>,
        congestion_control: Option<&str>,
    ) -> Result<StackSettings, String> {
        let paths = paths
            .split_whitespace()
            .map(|p| p.parse().map_err(|e| format!("path: {e}")))
            .collect::<Result<Vec<PathArg>, String>>()?;
        if paths.is_empty() {
            return Err("no path given (DEV=IP[,backup] ...)".to_owned());
        }
        Ok(StackSettings {
            paths,
            path_manager: path_manager.map(|s| s.parse().map_err(|e| format!("path manager: {e}"))).transpose()?,
            scheduler: scheduler.map(|s| s.parse().map_err(|e| format!("scheduler: {e}"))).transpose()?,
            congestion_control: congestion_control
                .map(|s| s.parse().map_err(|e| format!("congestion control: {e}")))
                .transpose()?,
        })
    }

    /// The settings `mptcp run` put into the environment; `None` without [`ENV_PATHS`].
    pub fn from_env() -> Option<Result<StackSettings, String>> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let paths = var(ENV_PATHS)?;
        let (pm, sched, cc) = (var(ENV_PATH_MANAGER), var(ENV_SCHEDULER), var(ENV_CC));
        Some(StackSettings::parse(&paths, pm.as_deref(), sched.as_deref(), cc.as_deref()))
    }

    /// The environment variables that give these settings to [`StackSettings::from_env`].
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let paths = self.paths.iter().map(PathArg::to_string).collect::<Vec<_>>().join(" ");
        let mut env = vec![(ENV_PATHS, paths)];
        env.extend(self.path_manager.map(|p| (ENV_PATH_MANAGER, p.to_string())));
        env.extend(self.scheduler.map(|s| (ENV_SCHEDULER, s.to_string())));
        env.extend(self.congestion_control.map(|c| (ENV_CC, c.to_string())));
        env
    }
}

/// The running stack and the congestion control its connections start with.
static STACK: Mutex<Option<(Stack, Algorithm)>> = Mutex::new(None);
/// The process that started it (a child after `fork` has no I/O thread).
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Starts the process's stack (in the calling thread's network namespace). `AlreadyExists`
/// (EALREADY in C) if one runs.
pub fn start(settings: &StackSettings) -> io::Result<()> {
    let mut slot = STACK.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_some() {
        return Err(io::Error::from_raw_os_error(libc::EALREADY));
    }
    let mut builder = Stack::builder();
    for p in &settings.paths {
        builder = if p.backup { builder.backup_path(&p.device, p.addr) } else { builder.path(&p.device, p.addr) };
    }
    if let Some(pm) = settings.path_manager {
        builder = builder.path_manager(pm);
    }
    if let Some(s) = settings.scheduler {
        builder = builder.scheduler(s);
    }
    if let Some(cc) = settings.congestion_control {
        builder = builder.congestion_control(cc);
    }
    *slot = Some((builder.build()?, settings.congestion_control.unwrap_or_default()));
    OWNER.store(std::process::id(), Ordering::Release);
    Ok(())
}

/// Stops the stack; ENETDOWN if none runs.
pub fn stop() -> io::Result<()> {
    let stack = STACK.lock().unwrap_or_else(PoisonError::into_inner).take();
    OWNER.store(0, Ordering::Release);
    match stack {
        Some((s, _)) => {
            s.shutdown();
            Ok(())
        }
        None => Err(no_stack()),
    }
}

/// The running stack; ENETDOWN if none.
pub(crate) fn current() -> io::Result<Stack> {
    running().map(|(s, _)| s).ok_or_else(no_stack)
}

/// The congestion control connections start with.
pub(crate) fn default_cc() -> Algorithm {
    running().map(|(_, cc)| cc).unwrap_or_default()
}

fn running() -> Option<(Stack, Algorithm)> {
    STACK.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Does this process own the running stack? False in a child after `fork` (and with none), where
/// the inherited descriptors are plain byte streams.
pub fn owns_stack() -> bool {
    let owner = OWNER.load(Ordering::Acquire);
    owner != 0 && owner == std::process::id()
}

/// ENETDOWN: no stack runs in this process (mptcp_stack_start).
fn no_stack() -> io::Error {
    io::Error::from_raw_os_error(libc::ENETDOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_the_environment_format() {
        let s =
            StackSettings::parse("mtun0=10.0.0.2  mtun1=fd00::2,backup", Some("manual"), None, Some("lia")).unwrap();
        assert_eq!(s.paths.len(), 2);
        assert!(s.paths[1].backup);
        let env = s.to_env();
        let get = |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get(ENV_PATHS), Some("mtun0=10.0.0.2 mtun1=fd00::2,backup"));
        let again = StackSettings::parse(get(ENV_PATHS).unwrap(), get(ENV_PATH_MANAGER), None, get(ENV_CC)).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn errors() {
        assert!(StackSettings::parse("", None, None, None).is_err());
        assert!(StackSettings::parse("mtun0", None, None, None).unwrap_err().starts_with("path: expected"));
        assert!(StackSettings::parse("mtun0=127.0.0.1", None, None, None).is_err());
        assert!(StackSettings::parse("t=10.0.0.1", None, Some("fastest"), None).unwrap_err().starts_with("scheduler"));
    }
}
