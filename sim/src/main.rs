//! `venue-sim`: see `sim/README.md`.

use std::io::Write;
use std::process::ExitCode;

use paul_p_sim::config::{parse_args, Command, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cwd = std::env::current_dir().unwrap_or_default();
    let config = match parse_args(&args, |k| std::env::var(k).ok(), &cwd) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("venue-sim: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let running = match paul_p_sim::start(&config) {
        Ok(running) => running,
        Err(message) => {
            eprintln!("venue-sim: {message}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{}",
        serde_json::json!({
            "event": "start",
            "fixtures": config.fixtures_dir.display().to_string(),
            "kalshi_markets": running.sim().venues.kalshi.universe.markets.len(),
            "polymarket_markets": running.sim().venues.polymarket.universe.markets.len(),
            "seed": config.seed,
        })
    );
    // Scripts wait for exactly this line.
    println!("venue-sim listening on http://{}", running.addr());
    let _ = std::io::stdout().flush();
    running.wait();
    ExitCode::SUCCESS
}
