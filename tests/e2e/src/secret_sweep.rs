//! No configured secret value may leave the Worker: not in a response, not in a log line, not in
//! an artifact. Two halves:
//!
//! - every response the harness receives from a Worker ([`crate::send`]) is checked against the
//!   secret values of every stack started so far ([`register`], [`find_registered`]); the venue
//!   simulator's answers are the venue's and are not ([`register_simulator`]);
//! - after the suite, [`sweep`] (the `secret-sweep` binary, a stage of `./scripts/test.sh`)
//!   reads each stack directory under `target/e2e/` — its secrets from `vars.env` (the input the
//!   harness wrote, the one file not scanned), then every wrangler log and every file of its
//!   local state (D1 and Durable Object SQLite files, R2 objects) — and `reports/` against
//!   all of them.
//!
//! Secrets are the values of [`paul_p::SECRET_NAMES`], with `ADMIN_TOKENS` also split into its
//! tokens; values shorter than [`MIN_LEN`] are not searched for (the Worker's redactor ignores
//! them too, and configuration refuses such short secrets). Hits name the secret and the file,
//! never the value.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Shortest value searched for (also the width of the search's prefix index).
pub const MIN_LEN: usize = 8;

/// A secret: its name (`ADMIN_TOKENS[alice]` for one token of the map) and value.
pub type Secret = (String, String);

/// The secrets among `vars` (name, value).
pub fn secrets_of(vars: &[(String, String)]) -> Vec<Secret> {
    let mut out = Vec::new();
    for (name, value) in vars {
        if !paul_p::SECRET_NAMES.contains(&name.as_str()) {
            continue;
        }
        if name == "ADMIN_TOKENS" {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(value) {
                for (operator, token) in map {
                    if let Some(t) = token.as_str() {
                        out.push((format!("ADMIN_TOKENS[{operator}]"), t.to_string()));
                    }
                }
            }
        }
        out.push((name.clone(), value.clone()));
    }
    out.retain(|(_, v)| v.len() >= MIN_LEN);
    out
}

static REGISTERED: Mutex<Vec<Secret>> = Mutex::new(Vec::new());

/// Adds the secrets among a stack's `vars` to those every response is checked against.
pub fn register(vars: &[(String, String)]) {
    let mut all = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    for s in secrets_of(vars) {
        if !all.contains(&s) {
            all.push(s);
        }
    }
}

static SIMULATORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Marks `base` as a venue simulator: its answers are the venue's, not the Worker's (its
/// control API echoes the credentials a test configures it with), so they are not checked.
pub fn register_simulator(base: &str) {
    let mut all = SIMULATORS.lock().unwrap_or_else(|e| e.into_inner());
    all.push(base.to_string());
}

/// Whether `url` is served by a registered simulator.
pub fn is_simulator(url: &str) -> bool {
    let all = SIMULATORS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .any(|b| url.starts_with(b.as_str()) && url[b.len()..].starts_with('/'))
}

/// The name of a registered secret whose value occurs in `bytes`.
pub fn find_registered(bytes: &[u8]) -> Option<String> {
    let all = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    Finder::new(&all).find(bytes).map(str::to_string)
}

/// A multi-value search (Aho-Corasick: one pass per input whatever the number of values; the
/// sweep reads hundreds of megabytes of local state against a few hundred values).
pub struct Finder<'a> {
    names: Vec<&'a str>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl<'a> Finder<'a> {
    pub fn new(secrets: &'a [Secret]) -> Finder<'a> {
        let kept: Vec<&'a Secret> = secrets.iter().filter(|(_, v)| v.len() >= MIN_LEN).collect();
        let automaton = if kept.is_empty() {
            None
        } else {
            Some(
                aho_corasick::AhoCorasick::new(kept.iter().map(|(_, v)| v.as_bytes()))
                    .expect("secret values build a search automaton"),
            )
        };
        Finder {
            names: kept.iter().map(|(n, _)| n.as_str()).collect(),
            automaton,
        }
    }

    /// The name of the first secret found in `bytes`.
    pub fn find(&self, bytes: &[u8]) -> Option<&'a str> {
        let m = self.automaton.as_ref()?.find(bytes)?;
        Some(self.names[m.pattern().as_usize()])
    }
}

/// Parses the `NAME='value'` lines the harness writes to `vars.env`.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// A secret value found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub path: PathBuf,
    pub secret: String,
}

/// What a sweep looked at.
#[derive(Debug, Default)]
pub struct Sweep {
    pub stacks: usize,
    pub secrets: usize,
    pub files: usize,
    pub bytes: u64,
    pub hits: Vec<Hit>,
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

fn scan_files(files: &[PathBuf], secrets: &[Secret], sweep: &mut Sweep) {
    let finder = Finder::new(secrets);
    for f in files {
        let Ok(bytes) = fs::read(f) else { continue };
        sweep.files += 1;
        sweep.bytes += bytes.len() as u64;
        if let Some(name) = finder.find(&bytes) {
            sweep.hits.push(Hit {
                path: f.clone(),
                secret: name.to_string(),
            });
        }
    }
}

/// Sweeps every stack directory (`stack-*` with a `vars.env`) under `e2e_dir`, and each of
/// `extra` (e.g. `reports/`) against the secrets of all of them. The simulator's own logs are
/// not the Worker's output and are not scanned; `vars.env` is the configuration itself.
pub fn sweep(e2e_dir: &Path, extra: &[PathBuf]) -> Sweep {
    let mut sweep = Sweep::default();
    let mut all_secrets: Vec<Secret> = Vec::new();
    let mut stacks: Vec<PathBuf> = fs::read_dir(e2e_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    stacks.sort();
    for dir in stacks {
        let Ok(env) = fs::read_to_string(dir.join("vars.env")) else {
            continue;
        };
        let secrets = secrets_of(&parse_env_file(&env));
        sweep.stacks += 1;
        sweep.secrets += secrets.len();
        let mut files = Vec::new();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("wrangler-") && e.path().is_file() {
                    files.push(e.path());
                }
            }
        }
        files_under(&dir.join("state"), &mut files);
        scan_files(&files, &secrets, &mut sweep);
        all_secrets.extend(secrets);
    }
    for dir in extra {
        let mut files = Vec::new();
        files_under(dir, &mut files);
        scan_files(&files, &all_secrets, &mut sweep);
    }
    sweep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "paul-p-sweep-{tag}-{}-{}",
            std::process::id(),
            crate::random_token()[..8].to_ascii_lowercase()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn planted_stack(root: &Path, log_line: &str) -> (String, String) {
        let stack = root.join("stack-planted");
        fs::create_dir_all(stack.join("state/v3/r2/blobs")).unwrap();
        let alice = crate::random_token();
        let key = crate::random_signing_key();
        let tokens = serde_json::json!({"alice": alice}).to_string();
        fs::write(
            stack.join("vars.env"),
            format!("ADMIN_TOKENS='{tokens}'\nAUDIT_SIGNING_KEY='{key}'\nKALSHI_BASE_URL='http://127.0.0.1:1/x'\n"),
        )
        .unwrap();
        fs::write(stack.join("wrangler-1.log"), log_line).unwrap();
        fs::write(stack.join("sim.log"), format!("header {alice}")).unwrap();
        fs::write(stack.join("state/v3/r2/blobs/abc"), b"\x00\x01clean blob").unwrap();
        (alice, key)
    }

    #[test]
    fn a_planted_token_in_a_log_is_found_and_named_without_its_value() {
        let root = temp_dir("log");
        let (alice, _) = planted_stack(&root, "");
        let clean = sweep(&root, &[]);
        assert_eq!(clean.stacks, 1);
        assert!(clean.files >= 2, "{clean:?}");
        // The simulator's log holds the token but is not the Worker's output.
        assert!(clean.hits.is_empty(), "{:?}", clean.hits);

        fs::write(
            root.join("stack-planted/wrangler-1.log"),
            format!("{{\"msg\":\"oops\",\"token\":\"{alice}\"}}\n"),
        )
        .unwrap();
        let dirty = sweep(&root, &[]);
        assert_eq!(dirty.hits.len(), 1, "{dirty:?}");
        assert_eq!(dirty.hits[0].secret, "ADMIN_TOKENS[alice]");
        assert!(dirty.hits[0].path.ends_with("wrangler-1.log"));
        assert!(!format!("{:?}", dirty.hits).contains(&alice));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_planted_key_in_local_state_or_a_report_is_found() {
        let root = temp_dir("state");
        let (_, key) = planted_stack(&root, "nothing here\n");
        let blob = root.join("stack-planted/state/v3/r2/blobs/def");
        fs::write(
            &blob,
            [b"\x00prefix ".as_slice(), key.as_bytes(), b" suffix"].concat(),
        )
        .unwrap();
        let reports = root.join("reports");
        fs::create_dir_all(&reports).unwrap();
        fs::write(reports.join("r.json"), format!("{{\"k\":\"{key}\"}}")).unwrap();
        let s = sweep(&root, std::slice::from_ref(&reports));
        let paths: Vec<&PathBuf> = s.hits.iter().map(|h| &h.path).collect();
        assert!(paths.contains(&&blob), "{s:?}");
        assert!(paths.contains(&&reports.join("r.json")), "{s:?}");
        assert!(s.hits.iter().all(|h| h.secret == "AUDIT_SIGNING_KEY"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn responses_are_checked_against_registered_values() {
        let planted = format!("planted-{}", crate::random_token());
        assert_eq!(find_registered(planted.as_bytes()), None);
        register(&[("ANTHROPIC_API_KEY".to_string(), planted.clone())]);
        let body = format!("{{\"echo\":\"xx{planted}yy\"}}");
        assert_eq!(
            find_registered(body.as_bytes()).as_deref(),
            Some("ANTHROPIC_API_KEY")
        );
        // A prefix of the value is not the value.
        assert_eq!(find_registered(&planted.as_bytes()[..20]), None);
        // The simulator's answers are the venue's, not the Worker's.
        register_simulator("http://127.0.0.1:1");
        assert!(is_simulator("http://127.0.0.1:1/__sim/kalshi/key"));
        assert!(!is_simulator("http://127.0.0.1:10/admin/whoami"));
        // Settings that are not secrets are not registered.
        register(&[(
            "KALSHI_BASE_URL".to_string(),
            "http://127.0.0.1:9/abcdefgh".into(),
        )]);
        assert_eq!(find_registered(b"http://127.0.0.1:9/abcdefgh"), None);
    }

    #[test]
    fn env_files_parse_as_the_harness_writes_them() {
        let vars = parse_env_file("A='x y'\nB=plain\n\nC='{\"a\":\"b\"}'\n");
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "x y".to_string()),
                ("B".to_string(), "plain".to_string()),
                ("C".to_string(), "{\"a\":\"b\"}".to_string()),
            ]
        );
    }
}
