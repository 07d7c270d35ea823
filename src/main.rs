//! The `heapdiff` binary: flags in, one library call, an exit code out.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match heapdiff::cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // --help and --version print and succeed; every other clap error is a usage error.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
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
