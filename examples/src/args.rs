//! The examples' command line: `REMOTE DEV=IP...` (the server, then one TUN device and our
//! address on it per path).

use std::net::{IpAddr, SocketAddr};

use mptcp_socket::{PathManagerKind, Stack};

/// One path: a TUN device and our address on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathArg {
    /// The TUN device (attached if it exists, created otherwise).
    pub device: String,
    /// Our address on it.
    pub addr: IpAddr,
}

impl std::str::FromStr for PathArg {
    type Err = String;

    /// `DEV=IP`, e.g. `mtun0=10.72.0.2`.
    fn from_str(s: &str) -> Result<PathArg, String> {
        let (device, addr) = s.split_once('=').ok_or_else(|| format!("`{s}`: a path is DEV=IP"))?;
        let addr = addr.parse().map_err(|e| format!("`{s}`: {e}"))?;
        Ok(PathArg { device: device.to_owned(), addr })
    }
}

/// The server and the paths from the command line, after the program's name; `usage` names the
/// arguments in the error.
pub fn remote_and_paths(args: &[String], usage: &str) -> Result<(SocketAddr, Vec<PathArg>), String> {
    let [remote, paths @ ..] = args else { return Err(format!("usage: {usage}")) };
    let remote = remote.parse().map_err(|e| format!("`{remote}`: {e}; usage: {usage}"))?;
    let paths = paths.iter().map(|p| p.parse()).collect::<Result<Vec<PathArg>, _>>()?;
    if paths.is_empty() {
        return Err(format!("at least one path; usage: {usage}"));
    }
    Ok((remote, paths))
}

/// A stack over `paths` that opens and announces nothing by itself (the `manual` path manager):
/// the example decides.
pub fn manual_stack(paths: &[PathArg]) -> std::io::Result<Stack> {
    let builder = Stack::builder().path_manager(PathManagerKind::Manual);
    paths.iter().fold(builder, |b, p| b.path(&p.device, p.addr)).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_and_paths() {
        let args: Vec<String> = ["10.71.0.1:5201", "mtun0=10.72.0.2", "mtun1=10.72.1.2"].map(String::from).into();
        let (remote, paths) = remote_and_paths(&args, "u").expect("valid");
        assert_eq!(remote, "10.71.0.1:5201".parse().expect("valid"));
        assert_eq!(paths[1], PathArg { device: "mtun1".into(), addr: "10.72.1.2".parse().expect("valid") });
        assert!(remote_and_paths(&args[..1], "u").is_err(), "no path");
        assert!("mtun0".parse::<PathArg>().is_err());
        assert!("mtun0=10.72.0".parse::<PathArg>().is_err());
    }
}
