//! After the end-to-end suite: no configured secret value in any wrangler log, any file of the
//! stacks' local state (D1, Durable Objects, R2) or `reports/` (see `secret_sweep`).
//!   cargo run -p paul-p-e2e --bin secret-sweep [E2E_DIR]   (default target/e2e)
//! Exits 1 on a hit (naming the secret and the file, never the value) or when there is nothing
//! to sweep.

use paul_p_e2e::secret_sweep;
use std::path::PathBuf;

fn main() {
    let root = paul_p_e2e::root();
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/e2e"));
    let report = secret_sweep::sweep(&dir, &[root.join("reports")]);
    println!(
        "secret-sweep: {} stack(s), {} secret value(s), {} file(s), {} bytes",
        report.stacks, report.secrets, report.files, report.bytes
    );
    if report.stacks == 0 || report.secrets == 0 {
        eprintln!(
            "secret-sweep: no stack directory with secrets under {}",
            dir.display()
        );
        std::process::exit(1);
    }
    for hit in &report.hits {
        eprintln!(
            "secret-sweep: {} contains the configured value of {}",
            hit.path.display(),
            hit.secret
        );
    }
    if !report.hits.is_empty() {
        std::process::exit(1);
    }
    println!("secret-sweep: clean");
}
