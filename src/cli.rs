//! Command-line flags (clap) and their validation into a [`Config`].

use crate::report::Format;
use clap::Parser;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  heapdiff app.heapsnapshot                        one snapshot: classes by retained size, largest dominators
  heapdiff before.heapsnapshot after.heapsnapshot  what grew between two snapshots of one process
  heapdiff --format json a.heapsnapshot.gz b.heapsnapshot.gz > diff.json
  heapdiff -o report.txt --top 50 a b              write atomically to a file, 50 rows per table

Exit codes:
  0  ran (and no gate breached)
  2  usage error, or an input that cannot be read (one line on stderr names the file)";

/// Compare heap dumps and say what leaks.
#[derive(Debug, Parser)]
#[command(name = "heapdiff", version, about, after_help = EXAMPLES)]
pub struct Args {
    /// Heap snapshots (`.heapsnapshot`, optionally `.gz`): one for a summary, two for a
    /// comparison (before, after).
    #[arg(required = true, num_args = 1..=2, value_name = "SNAPSHOT")]
    pub inputs: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE (atomically) instead of stdout; `-` is stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Rows per table in the table format (0 = all).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,

    /// Print the time of each phase and the peak memory to stderr.
    #[arg(long)]
    pub timings: bool,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: Vec<PathBuf>,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub top: usize,
    pub timings: bool,
}

impl Args {
    pub fn into_config(self) -> Result<Config, String> {
        let output = self.output.filter(|p| p.as_os_str() != "-");
        Ok(Config {
            inputs: self.inputs,
            format: self.format,
            output,
            top: self.top,
            timings: self.timings,
        })
    }
}
