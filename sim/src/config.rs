//! Command line and environment configuration.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: venue-sim [--port 8788] [--host 127.0.0.1] [--fixtures DIR]
                 [--kalshi-markets N] [--poly-markets N] [--seed S]
                 [--kalshi-public-key PEM] [--kalshi-key-id ID]

  --port N            port to listen on (env SIM_PORT; default 8788; 0 picks a free one)
  --host ADDR         loopback address to bind (default 127.0.0.1; non-loopback is refused)
  --fixtures DIR      recorded fixtures (env FIXTURES_DIR; default: the first
                      <ancestor>/shared/fixtures of the current or the source directory)
  --kalshi-markets N  open Kalshi markets served (default 10000)
  --poly-markets N    open Polymarket markets served (default 2000)
  --seed S            seed for the synthetic markets (default 1)
  --kalshi-public-key PEM  RSA public key (SPKI or PKCS#1 PEM file) that verifies
                      KALSHI-ACCESS-SIGNATURE on /portfolio routes (default: none, so every
                      signed request is refused until PUT /__sim/kalshi/key installs one)
  --kalshi-key-id ID  the KALSHI-ACCESS-KEY that key belongs to (default: any)";

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub fixtures_dir: PathBuf,
    /// Number of Kalshi markets with status `active` (what `status=open` returns).
    pub kalshi_markets: usize,
    /// Number of Polymarket markets with `closed: false` (what Gamma lists by default).
    pub poly_markets: usize,
    pub seed: u64,
    /// PEM file of the public key that verifies Kalshi request signatures.
    pub kalshi_public_key: Option<PathBuf>,
    /// The key id it belongs to; `None` accepts any.
    pub kalshi_key_id: Option<String>,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Config),
    Help,
}

impl Config {
    /// The defaults with the given fixtures directory (for tests and embedding).
    pub fn with_fixtures(fixtures_dir: PathBuf) -> Config {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8788,
            fixtures_dir,
            kalshi_markets: 10_000,
            poly_markets: 2_000,
            seed: 1,
            kalshi_public_key: None,
            kalshi_key_id: None,
        }
    }
}

/// Parses `args` (without the program name), reading `SIM_PORT` and `FIXTURES_DIR` through
/// `env` when the flags are absent.
pub fn parse_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Command, String> {
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: Option<u16> = None;
    let mut fixtures: Option<PathBuf> = None;
    let mut kalshi_markets = 10_000usize;
    let mut poly_markets = 2_000usize;
    let mut seed = 1u64;
    let mut kalshi_public_key: Option<PathBuf> = None;
    let mut kalshi_key_id: Option<String> = None;

    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--port" => port = Some(parse_num(flag, &value()?)?),
            "--host" => {
                let v = value()?;
                host = if v == "localhost" {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    v.parse()
                        .map_err(|_| format!("--host: not an IP address: {v}"))?
                };
            }
            "--fixtures" => fixtures = Some(PathBuf::from(value()?)),
            "--kalshi-markets" => kalshi_markets = parse_num(flag, &value()?)?,
            "--poly-markets" => poly_markets = parse_num(flag, &value()?)?,
            "--seed" => seed = parse_num(flag, &value()?)?,
            "--kalshi-public-key" => kalshi_public_key = Some(PathBuf::from(value()?)),
            "--kalshi-key-id" => kalshi_key_id = Some(value()?),
            _ => return Err(format!("unknown argument: {arg}")),
        }
        i += 1;
    }

    if !host.is_loopback() {
        return Err(format!(
            "--host {host} is not a loopback address; the simulator serves 127.0.0.1 only"
        ));
    }
    let port = match port {
        Some(p) => p,
        None => match env("SIM_PORT") {
            Some(v) if !v.is_empty() => parse_num("SIM_PORT", &v)?,
            _ => 8788,
        },
    };
    let fixtures_dir = match fixtures.or_else(|| {
        env("FIXTURES_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }) {
        Some(dir) => dir,
        None => default_fixtures_dir(cwd).ok_or_else(|| {
            "no fixtures directory found: pass --fixtures DIR or set FIXTURES_DIR (looked for \
             <ancestor>/shared/fixtures above the current and the source directory)"
                .to_string()
        })?,
    };
    Ok(Command::Run(Config {
        host,
        port,
        fixtures_dir,
        kalshi_markets,
        poly_markets,
        seed,
        kalshi_public_key,
        kalshi_key_id,
    }))
}

fn parse_num<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: not a valid number: {text}"))
}

/// The repository keeps its fixtures in `../shared/fixtures` beside the clone; worktrees sit
/// deeper, so walk up from `cwd` (then from this crate's source directory) and take the first
/// `<ancestor>/shared/fixtures` that exists.
pub fn default_fixtures_dir(cwd: &Path) -> Option<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    [cwd, manifest_dir]
        .into_iter()
        .flat_map(|start| start.ancestors())
        .map(|dir| dir.join("shared").join("fixtures"))
        .find(|candidate| candidate.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(list: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match parse_args(&args(list), lookup, Path::new("/nonexistent"))? {
            Command::Run(c) => Ok(c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn flags_override_env_and_both_forms_parse() {
        let c = run(
            &[
                "--port=9000",
                "--fixtures",
                "/f",
                "--kalshi-markets",
                "50",
                "--seed=9",
            ],
            &[("SIM_PORT", "1"), ("FIXTURES_DIR", "/g")],
        )
        .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.fixtures_dir, PathBuf::from("/f"));
        assert_eq!(c.kalshi_markets, 50);
        assert_eq!(c.poly_markets, 2000);
        assert_eq!(c.seed, 9);
    }

    #[test]
    fn env_fallbacks_apply() {
        let c = run(&[], &[("SIM_PORT", "8799"), ("FIXTURES_DIR", "/g")]).unwrap();
        assert_eq!(c.port, 8799);
        assert_eq!(c.fixtures_dir, PathBuf::from("/g"));
    }

    #[test]
    fn refuses_non_loopback_and_unknown_flags() {
        assert!(run(&["--host", "0.0.0.0", "--fixtures", "/f"], &[]).is_err());
        assert!(run(&["--host", "::1", "--fixtures", "/f"], &[]).is_ok());
        assert!(run(&["--bogus", "--fixtures", "/f"], &[]).is_err());
        assert!(run(&["--port", "x", "--fixtures", "/f"], &[]).is_err());
    }
}
