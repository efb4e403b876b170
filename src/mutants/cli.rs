//! The command line of `ordeal mutants` and its table: kept beside the
//! module so `main.rs` only dispatches.

use std::path::PathBuf;
use std::time::Duration;

use super::{Options, Outcome, Report, Tried};

/// `ordeal mutants` — the arguments.
#[derive(Debug, clap::Args)]
pub struct MutantsArgs {
    /// The mutants: `cargo mutants --list --json --diff` output (or
    /// mutants.out/mutants.json), or a directory of *.patch / *.diff files.
    #[arg(long, value_name = "FILE|DIR")]
    pub list: PathBuf,
    /// The stack's build command, run with `sh -c` at the root of the scratch copy.
    #[arg(long, value_name = "CMD")]
    pub build: String,
    /// A scenario judging each mutant (repeat for several; tried in order,
    /// the first that fails catches it). Paths inside --source.
    #[arg(long = "scenario", value_name = "FILE", required = true)]
    pub scenarios: Vec<PathBuf>,
    /// The stack's source, copied to a scratch directory (without .git,
    /// target, reports) and mutated there; the original is never written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub source: PathBuf,
    /// Try this many mutants, chosen by --seed (default: all).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Directory for results.jsonl, mutants.json and each run's logs and reports.
    #[arg(long, value_name = "DIR", default_value = "reports/mutants")]
    pub out: PathBuf,
    /// Longest a build may take before the mutant counts as timed out.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub build_timeout: Duration,
    /// Longest one scenario run may take.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub run_timeout: Duration,
    /// Skip the mutants --out's results.jsonl already holds (a stopped run carries on).
    #[arg(long)]
    pub resume: bool,
    /// Exit 1 when the score is below this fraction, e.g. 0.9.
    #[arg(long, value_name = "FRACTION", value_parser = fraction)]
    pub min_score: Option<f64>,
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{s}` is not a fraction between 0 and 1 (write 0.9 for 90 %)")),
    }
}

impl MutantsArgs {
    pub fn options(&self) -> Options {
        Options {
            listing: self.list.clone(),
            source: self.source.clone(),
            build: self.build.clone(),
            scenarios: self.scenarios.clone(),
            sample: self.sample,
            seed: self.seed,
            out: self.out.clone(),
            build_timeout: self.build_timeout,
            run_timeout: self.run_timeout,
            resume: self.resume,
        }
    }
}

/// One line per mutant, as it finishes.
pub fn line(t: &Tried) -> String {
    let what = match &t.outcome {
        Outcome::Caught { scenario, failed } => format!("caught by {scenario}: {}", failed.join("; ")),
        Outcome::Survived => "SURVIVED: every scenario passed".into(),
        Outcome::Unviable { why } => format!("unviable: {why}"),
        Outcome::TimedOut { during } => format!("timed out during {during}"),
        Outcome::Error { scenario, code } => format!("error: {scenario} could not run the stack (exit {code})"),
    };
    format!("{:<9} {:>6.1}s  {}  — {what}", label(&t.outcome), t.seconds, t.name)
}

fn label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Caught { .. } => "caught",
        Outcome::Survived => "survived",
        Outcome::Unviable { .. } => "unviable",
        Outcome::TimedOut { .. } => "timeout",
        Outcome::Error { .. } => "error",
    }
}

/// The closing summary.
pub fn summary(r: &Report) -> String {
    let count = |l: &str| r.results.iter().filter(|t| label(&t.outcome) == l).count();
    let score = match (r.score, r.interval95) {
        (Some(s), Some((lo, hi))) => {
            format!("score {}/{} = {:.0} % (95 % interval {:.0}-{:.0} %)", r.caught, r.viable, s * 100.0, lo * 100.0, hi * 100.0)
        }
        _ => "no viable mutant: no score".into(),
    };
    format!(
        "{score}; {} caught, {} survived, {} unviable, {} timed out, {} errors; {} of {} listed mutants tried (seed {}), {:.0}s",
        count("caught"),
        count("survived"),
        count("unviable"),
        count("timeout"),
        count("error"),
        r.sampled,
        r.listed,
        r.seed,
        r.wall_seconds
    )
}
