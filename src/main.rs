//! The `heapdiff` binary: flags in, one library call, an exit code out.

use clap::Parser;
use std::process::ExitCode;

#[cfg(feature = "arena")]
#[global_allocator]
static ALLOC: heapdiff::arena::Arena = heapdiff::arena::Arena;

fn main() -> ExitCode {
    #[cfg(feature = "arena")]
    heapdiff::arena::tune_malloc();
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
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let mut line = first.trim_start_matches("error: ").to_string();
            if line.ends_with(':') {
                // "the following required arguments were not provided:" names them next.
                line = format!("{line} {}", lines.next().unwrap_or(""));
            }
            let line = heapdiff::error::escape_controls(&line);
            eprintln!("heapdiff: error: {line} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result = args
        .into_run()
        .map_err(heapdiff::error::Error::Usage)
        .and_then(|run| match run {
            heapdiff::cli::Run::Report(cfg) => heapdiff::run(&cfg),
            heapdiff::cli::Run::Capture(cfg) => heapdiff::capture::run(&cfg),
            heapdiff::cli::Run::Print(text) => {
                heapdiff::output::write(None, &mut |out| out.write_all(&text))
                    .map(|()| heapdiff::Outcome::Ok)
            }
        });
    match result {
        Ok(heapdiff::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(heapdiff::Outcome::GateBreached) => ExitCode::from(1),
        Err(e) => {
            eprintln!("heapdiff: error: {e}");
            ExitCode::from(2)
        }
    }
}
