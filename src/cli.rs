//! Command-line flags (clap) and their validation into a [`Config`].

use crate::report::units::parse_size;
use crate::report::{Format, Severity};
use clap::Parser;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  heapdiff app.heapsnapshot                        one snapshot: classes by retained size, largest dominators
  heapdiff before.heapsnapshot after.heapsnapshot  what grew, who holds it (two snapshots of one process)
  heapdiff s1 s2 s3                                a series: objects allocated between s1 and s2 still alive in s3
  heapdiff --format markdown a b > incident-1234.md    a report to paste into a ticket
  heapdiff --fail-on high --fail-if-growth 20MB a b    a nightly CI leak gate
  heapdiff --format json a.heapsnapshot.gz b.heapsnapshot.gz > diff.json
  ssh host cat /tmp/app.heapsnapshot | heapdiff - local.heapsnapshot   stdin ('-') as one input
  heapdiff before.heap after.heap                  jemalloc profiles: growth by allocation stack
  heapdiff --symbols ./build before.heap after.heap    ... with binaries that moved since the dump

Exit codes:
  0  ran, and no gate was breached
  1  a gate was breached (--fail-if-growth, --fail-on)
  2  usage error, an input that cannot be read, or a report that cannot be written (one line
     on stderr names the file)

Reports never contain string values from the heap unless --show-values is given; names that
look like data (order:1234, tokens, e-mail addresses) are shown as patterns (order:<n>).";

/// Compare heap dumps and say what leaks.
#[derive(Debug, Parser)]
#[command(name = "heapdiff", version, about, after_help = EXAMPLES)]
pub struct Args {
    /// Heap snapshots (`.heapsnapshot`, optionally `.gz`): one for a summary, two for a
    /// comparison (before, after), three or more for a series (oldest first). `-` is stdin
    /// (once); pipes, FIFOs and `<(…)` are read once, into memory.
    #[arg(required = true, value_name = "SNAPSHOT")]
    pub inputs: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE instead of stdout; `-` is stdout. A regular file is replaced
    /// atomically (keeping its mode); a FIFO or a character device is written to in place.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Rows per table in the table and markdown formats (0 = all).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,

    /// Exit 1 if the heap grew by more than SIZE in total (e.g. 20MB, 512KiB), not counting
    /// classes matched by --ignore.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub fail_if_growth: Option<u64>,

    /// Exit 1 if a leak finding of this severity or higher is reported.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,

    /// Known, accepted growth: a file of class names or retainer-path patterns, one per line
    /// (`*` matches anything, `#` starts a comment). Matching classes and findings are
    /// shown but do not breach a gate.
    #[arg(long, value_name = "FILE")]
    pub ignore: Option<PathBuf>,

    /// Show real edge names next to their patterns. Heaps hold secrets: use with care.
    #[arg(long)]
    pub show_values: bool,

    /// jemalloc: also look in DIR (recursively, by file name) for binaries and libraries
    /// that moved or changed since the dump. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub symbols: Vec<PathBuf>,

    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,

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
    pub fail_if_growth: Option<u64>,
    pub fail_on: Option<Severity>,
    pub ignore: Option<PathBuf>,
    pub show_values: bool,
    pub symbols: Vec<PathBuf>,
    pub quiet: bool,
    pub timings: bool,
}

impl Args {
    pub fn into_config(self) -> Result<Config, String> {
        let output = self.output.filter(|p| p.as_os_str() != "-");
        if self.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err("'-' (stdin) is given more than once; stdin can be read only once".into());
        }
        crate::arena::HugePages::from_env()?;
        if self.inputs.len() < 2 && (self.fail_if_growth.is_some() || self.fail_on.is_some()) {
            return Err(
                "--fail-if-growth and --fail-on need two or more snapshots to compare".into(),
            );
        }
        Ok(Config {
            inputs: self.inputs,
            format: self.format,
            output,
            top: self.top,
            fail_if_growth: self.fail_if_growth,
            fail_on: self.fail_on,
            ignore: self.ignore,
            show_values: self.show_values,
            symbols: self.symbols,
            quiet: self.quiet,
            timings: self.timings,
        })
    }
}
