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
  heapdiff capture 127.0.0.1:9229 --fail-on high   snapshot a live Node process (--inspect) 3 times, report

Exit codes:
  0  ran, and no gate was breached
  1  a gate was breached (--fail-if-growth, --fail-on)
  2  usage error, an input that cannot be read, a report that cannot be written, or a capture
     that failed (one line on stderr names the file or target)

Reports never contain string values from the heap unless --show-values is given; names that
look like data (order:1234, tokens, e-mail addresses) are shown as patterns (order:<n>).";

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HEAPDIFF_COMMIT"),
    ")"
);

/// Compare heap dumps and say what leaks.
#[derive(Debug, Parser)]
#[command(
    name = "heapdiff",
    version = VERSION,
    about,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    /// Heap snapshots (`.heapsnapshot`, optionally `.gz`): one for a summary, two for a
    /// comparison (before, after), three or more for a series (oldest first). `-` is stdin
    /// (once); pipes, FIFOs and `<(…)` are read once, into memory.
    #[arg(required = true, value_name = "SNAPSHOT")]
    pub inputs: Vec<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Take heap snapshots of a live Node process or Chrome page, then report on them.
    Capture(Box<CaptureArgs>),
    /// Print a shell completion script (e.g. `heapdiff completions bash >
    /// /etc/bash_completion.d/heapdiff`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (`heapdiff man > heapdiff.1; man ./heapdiff.1`).
    Man,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set; anywhere if CLICOLOR_FORCE is set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour output going to a terminal (`terminal`) or not, by the flag and the
    /// NO_COLOR (no-color.org) and CLICOLOR_FORCE conventions: the flag wins, then
    /// CLICOLOR_FORCE, then NO_COLOR.
    pub fn resolve(self, terminal: bool) -> bool {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set("CLICOLOR_FORCE") => true,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

const CAPTURE_EXAMPLES: &str = "\
Examples:
  node --inspect=127.0.0.1:9229 server.js &
  heapdiff capture 127.0.0.1:9229                  3 snapshots 30 s apart, then the series report
  heapdiff capture pid:4242 -n 2 --interval 5m     a running Node process (opens its inspector)
  chromium --headless --remote-debugging-port=9222 https://app.example &
  heapdiff capture 127.0.0.1:9222 --target /checkout --interval 10s
  heapdiff capture 127.0.0.1:9229 --out nightly --fail-on high   a CI leak gate (exit 1 = leak)

Snapshots are written as DIR/1.heapsnapshot.gz, DIR/2… (streamed, never held in memory); only
the address given is contacted.";

/// `heapdiff capture`'s flags.
#[derive(Debug, clap::Args)]
#[command(after_help = CAPTURE_EXAMPLES)]
pub struct CaptureArgs {
    /// What to snapshot: HOST:PORT of an inspector (Node `--inspect`, Chrome
    /// `--remote-debugging-port`; its targets are listed from /json/list), a ws:// debugger
    /// URL, or pid:PID of a local Node process (its inspector is opened with SIGUSR1, and
    /// stays open until the process exits).
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Which of the endpoint's targets: its id, or part of its URL or title (default: the
    /// first page or Node process).
    #[arg(long = "target", value_name = "ID|URL")]
    pub select: Option<String>,

    /// How many snapshots.
    #[arg(short = 'n', long, default_value_t = 3, value_name = "N")]
    pub count: usize,

    /// Time from the start of one snapshot to the start of the next (30s, 2m, 500ms).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,

    /// Directory for the snapshots (created if needed; default: heapdiff-capture-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Collect garbage before each snapshot (the default), so that garbage is not counted.
    #[arg(long, overrides_with = "no_gc")]
    pub gc: bool,

    /// Take the snapshots as the heap is, garbage included.
    #[arg(long)]
    pub no_gc: bool,

    /// Only capture: no report (the report flags are then not used).
    #[arg(long)]
    pub no_report: bool,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// The report's flags, the same for files and for a capture.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
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

    /// Colour in the table: auto (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE
    /// forces it), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

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
    pub color: ColorChoice,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Run {
    Report(Config),
    Capture(crate::capture::CaptureConfig),
    /// Print this text to stdout (completions, the manual page).
    Print(Vec<u8>),
}

impl Args {
    pub fn into_run(self) -> Result<Run, String> {
        use clap::CommandFactory;
        match self.command {
            Some(Command::Capture(c)) => c.into_config().map(Run::Capture),
            Some(Command::Completions { shell }) => {
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut Args::command(), "heapdiff", &mut out);
                Ok(Run::Print(out))
            }
            Some(Command::Man) => {
                let mut out = Vec::new();
                clap_mangen::Man::new(Args::command())
                    .render(&mut out)
                    .map_err(|e| e.to_string())?;
                Ok(Run::Print(out))
            }
            None => self.report.into_config(self.inputs).map(Run::Report),
        }
    }
}

impl ReportArgs {
    fn into_config(self, inputs: Vec<PathBuf>) -> Result<Config, String> {
        let output = self.output.filter(|p| p.as_os_str() != "-");
        if inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err("'-' (stdin) is given more than once; stdin can be read only once".into());
        }
        crate::arena::HugePages::from_env()?;
        if inputs.len() < 2 && (self.fail_if_growth.is_some() || self.fail_on.is_some()) {
            return Err(
                "--fail-if-growth and --fail-on need two or more snapshots to compare".into(),
            );
        }
        Ok(Config {
            inputs,
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
            color: self.color,
        })
    }
}

impl CaptureArgs {
    fn into_config(self) -> Result<crate::capture::CaptureConfig, String> {
        let endpoint = crate::capture::endpoint::Endpoint::parse(&self.target)?;
        if self.count == 0 {
            return Err("--count must be at least 1".into());
        }
        let out = self.out.unwrap_or_else(default_out_dir);
        let quiet = self.report.quiet;
        // The report's inputs are the snapshots, known once taken; two stand in for the
        // checks that need a comparison.
        let stand_in = vec![PathBuf::new(); self.count];
        let report = if self.no_report {
            None
        } else {
            Some(self.report.into_config(stand_in)?)
        };
        Ok(crate::capture::CaptureConfig {
            target_text: self.target,
            endpoint,
            target_filter: self.select,
            count: self.count,
            interval: self.interval,
            out,
            gc: !self.no_gc,
            report,
            quiet,
        })
    }
}

/// `heapdiff-capture-<local time>` in the working directory.
fn default_out_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Local time through the C library, as `date` shows it.
    // SAFETY: `tm` is plain data; all zeros is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        return PathBuf::from(format!("heapdiff-capture-{secs}"));
    }
    PathBuf::from(format!(
        "heapdiff-capture-{:04}-{:02}-{:02}T{:02}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    ))
}
