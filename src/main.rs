//! The `heapdiff` binary: flags in, one library call, an exit code out.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match heapdiff::cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version print and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Every other clap error is a usage error: one line, exit 2.
            let text = e.render().to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!(
                "heapdiff: error: {} (see --help)",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = args
        .into_config()
        .map_err(heapdiff::error::Error::Usage)
        .and_then(|cfg| heapdiff::run(&cfg));
    match result {
        Ok(heapdiff::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(heapdiff::Outcome::GateBreached) => ExitCode::from(1),
        Err(e) => {
            eprintln!("heapdiff: error: {e}");
            ExitCode::from(2)
        }
    }
}
