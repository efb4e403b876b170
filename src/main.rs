//! The `ordeal` command line: the only place that prints to the terminal and
//! maps results to exit codes (typed errors below it, no `anyhow` needed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ordeal::plan;
use ordeal::report::{Report, RunVerdict, summary};
use ordeal::run::{RunOptions, run};

/// Exit codes (also in `ordeal --help`).
const PASS: u8 = 0;
const FAIL: u8 = 1;
const INVALID: u8 = 2;
const INFRA: u8 = 3;
const INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "ordeal",
    version,
    about = "Chaos and load tests that verify observability: start a stack, inject faults, drive load, check metrics, traces, logs, breakers, retries, health and alerts.",
    long_about = "ordeal runs scenario files. A scenario says which services to start (local processes, or containers \
on a private Docker network with --runtime docker), which fault-injecting mocks to put in front of their dependencies \
(an OpenAI-compatible LLM, an HTTP backend), what load to drive, which faults to switch on and off along a timeline \
of named phases (on the mocks, or kill / stop / pause / disconnect / restart on the services themselves), and what \
must be observed: metrics, circuit-breaker transitions, retries, health probes, load statistics, OpenTelemetry \
traces (received by ordeal's own OTLP receiver), structured logs and canary-secret leaks, alerts evaluated by a \
real Prometheus and delivered by a real Alertmanager, PromQL, and task accounting. An overhead scenario compares \
variants of the stack in interleaved rounds instead and judges CPU, memory, latency and throughput budgets.\n\n\
Start with:  ordeal validate scenarios/llm-outage.yaml   then   ordeal run scenarios/llm-outage.yaml",
    after_help = "Exit codes:\n  0  every expectation met (lint: no findings)\n  1  an expectation failed or was inconclusive (lint: findings)\n  2  invalid scenario or usage\n  3  the harness could not run the stack (command missing, port in use, not ready, Prometheus or Docker missing, ...)\n  130 interrupted\n\nReports: report.json, report.html, summary.md and junit.xml in --report-dir (default reports/<scenario>-<time>/), service logs under logs/."
)]
struct Cli {
    /// More harness logging (repeat for more); also honours RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Colour in results and logs: `auto` (only on a terminal, and not when
    /// NO_COLOR is set), `always` or `never`.
    #[arg(long, value_enum, global = true, default_value = "auto")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (`tty`) or is not a terminal.
    fn on(self, tty: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// Command-line overrides of a scenario, checked like the file.
#[derive(clap::Args, Clone, Default)]
struct OverrideArgs {
    /// Change a field: `--set load.rate=100`, `--set timeline.phases.outage.duration=30s`
    /// (list items by name or index; the value is read as YAML). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Fill `{{vars.NAME}}` templates (over the scenario's `vars:` defaults). Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Keep only the expectations with this name, kind or tag. Repeatable.
    #[arg(long, value_name = "NAME|KIND|TAG")]
    only: Vec<String>,
}

impl OverrideArgs {
    fn overrides(self) -> plan::Overrides {
        plan::Overrides { set: self.set, vars: self.vars, only: self.only }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios and check their expectations.
    Run {
        /// Scenario files (YAML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Directory for report.json, junit.xml and logs (one sub-directory per scenario when several are given).
        #[arg(long, value_name = "DIR")]
        report_dir: Option<PathBuf>,
        /// Seed for every random choice of the mocks (overrides the scenario's `seed:`).
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Run the stack as processes or as containers (overrides the scenario's `runtime:`).
        #[arg(long, value_enum)]
        runtime: Option<ordeal::scenario::RuntimeKind>,
        /// Print each scenario's report object (report.json's content) on one
        /// line of stdout instead of the tables; logs stay on stderr.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Contract lint: start the scenario's stack, scrape it, and check that every metric and
    /// label its alert rules, dashboards and PromQL expectations use really exists; run
    /// `promtool check rules` / `check metrics`; check cardinality budgets. Exit 1 on findings.
    Lint {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Directory for lint.json and the stack's logs.
        #[arg(long, value_name = "DIR")]
        report_dir: Option<PathBuf>,
    },
    /// Container images, built locally from the programs a scenario runs (no registry needed).
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Check scenario files without running anything; prints every error with file:line.
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Runs so far, by scenario over time: reads the report.json files under DIR
    /// (default reports/), prints a table and writes DIR/index.html; a regression
    /// (an expectation that passed in the previous run and fails now, or a p95 or
    /// alert latency 20 % and 5 ms worse) is marked.
    History {
        #[arg(default_value = "reports")]
        dir: PathBuf,
    },
    /// Print a JSON Schema: `scenario` (a scenario file as written, for editors;
    /// docs/scenario.schema.json) or `report` (report.json; docs/report.schema.json).
    Schema {
        #[arg(value_enum)]
        of: SchemaOf,
    },
    /// How strong is a scenario suite: build each mutant of the stack's source in a scratch
    /// copy, run the scenarios; report caught / survived / unviable and the score.
    Mutants(ordeal::mutants::MutantsArgs),
    /// List scenarios (files, or those in directories; default scenarios/) with their durations.
    List {
        #[arg(default_value = "scenarios", value_name = "SCENARIO_OR_DIR")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaOf {
    Scenario,
    Report,
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build one image per service program (plus Prometheus and Alertmanager when the
    /// scenario runs them): the program and the libraries it loads, `FROM scratch`,
    /// tagged by content hash; unchanged programs are not rebuilt.
    Build {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

mod results;

/// `eprintln!` that never panics: a closed stderr (`2>&1 | head -1`) loses
/// the line, not the run.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(ordeal::secrets::Masked(std::io::stderr()), $($t)*);
    }};
}

macro_rules! outln {
    ($($t:tt)*) => { results::write(&format!("{}\n", format_args!($($t)*))) };
}

macro_rules! out {
    ($($t:tt)*) => { results::write(&format!($($t)*)) };
}

fn init_logging(verbose: u8, color: ColorChoice) {
    let default = match verbose {
        0 => "ordeal=info,goose=warn",
        1 => "ordeal=debug,goose=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = color.on(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(|| ordeal::secrets::Masked(std::io::stderr()))
        .log_internal_errors(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { INVALID } else { PASS });
        }
    };
    results::capture();
    results::set_color(cli.color.on(results::is_terminal()));
    init_logging(cli.verbose, cli.color);
    ordeal::runtime::cleanup::install_panic_hook();
    if matches!(cli.command, Command::Run { .. } | Command::Lint { .. }) {
        ordeal::runtime::reap::become_subreaper();
        ordeal::runtime::reap::reap_dead_owners();
    }
    let code = match cli.command {
        Command::Validate { scenarios, overrides } => validate(&scenarios, &overrides.overrides()),
        Command::List { paths } => list(&paths),
        Command::Schema { of } => {
            let schema = match of {
                SchemaOf::Scenario => ordeal::plan::schema::scenario_schema(),
                SchemaOf::Report => ordeal::report::schema(),
            };
            outln!("{}", serde_json::to_string_pretty(&schema).expect("a schema serializes"));
            0
        }
        Command::History { dir } => history(&dir),
        Command::Run { scenarios, report_dir, seed, runtime, json, overrides } => {
            run_all(&scenarios, &overrides.overrides(), RunFlags { report_dir, seed, runtime, json })
        }
        Command::Lint { scenarios, report_dir } => lint_all(&scenarios, report_dir),
        Command::Images { command: ImagesCommand::Build { scenarios } } => build_images(&scenarios),
        Command::Mutants(args) => mutants(&args),
    };
    ExitCode::from(code)
}

fn mutants(args: &ordeal::mutants::MutantsArgs) -> u8 {
    ordeal::signals::install();
    match ordeal::mutants::run(&args.options(), &mut |t| outln!("{}", ordeal::mutants::line(t))) {
        Ok(report) => {
            outln!("{}", ordeal::mutants::summary(&report));
            if args.min_score.is_some_and(|min| report.score.is_none_or(|s| s < min)) { FAIL } else { PASS }
        }
        Err(e) => {
            errln!("ordeal mutants: {e}");
            e.exit_code()
        }
    }
}

/// The scenario files named on the command line; a directory stands for the
/// scenarios in it (`plan::scenario_files`: not the `_` files they include).
fn scenario_args(args: &[PathBuf]) -> Result<Vec<PathBuf>, u8> {
    let mut files = Vec::new();
    for a in args {
        if !a.is_dir() {
            files.push(a.clone());
            continue;
        }
        match plan::scenario_files(a) {
            Ok(found) if found.is_empty() => {
                errln!("{}: no scenario files (*.yaml, *.yml) in this directory", a.display());
                return Err(INVALID);
            }
            Ok(found) => files.extend(found),
            Err(e) => {
                errln!("cannot read {}: {e}", a.display());
                return Err(INVALID);
            }
        }
    }
    Ok(files)
}

fn load_all(args: &[PathBuf], overrides: &plan::Overrides) -> Result<Vec<ordeal::plan::Plan>, u8> {
    let files = scenario_args(args)?;
    let mut plans = Vec::new();
    let mut bad = false;
    for f in &files {
        match plan::load_with(f, overrides) {
            Ok(p) => plans.push(p),
            // Of several scenarios, those `--only` leaves nothing of are skipped.
            Err(d) if files.len() > 1 && d.0.iter().all(|d| d.file.to_string_lossy().starts_with("--only ")) => {
                errln!("{}: skipped, no expectation matches --only {}", f.display(), overrides.only.join(" "));
            }
            Err(d) => {
                errln!("{d}");
                bad = true;
            }
        }
    }
    if plans.is_empty() && !bad {
        errln!("no scenario has an expectation matching --only {}", overrides.only.join(" "));
        bad = true;
    }
    if bad { Err(INVALID) } else { Ok(plans) }
}

fn validate(files: &[PathBuf], overrides: &plan::Overrides) -> u8 {
    match load_all(files, overrides) {
        Ok(plans) => {
            for p in plans {
                if let Some(o) = &p.overhead {
                    outln!(
                        "{}: ok — overhead run, {}; {} services, {} mocks, {} expectations",
                        p.file.display(),
                        o.describe(),
                        p.stack.services.len(),
                        p.mocks.len(),
                        p.expectations.len()
                    );
                    continue;
                }
                outln!(
                    "{}: ok — {} services, {} mocks, {} phases ({:.1}s), {} faults, {} expectations",
                    p.file.display(),
                    p.stack.services.len(),
                    p.mocks.len(),
                    p.phases.len(),
                    p.duration().as_secs_f64(),
                    p.faults.len(),
                    p.expectations.len()
                );
            }
            PASS
        }
        Err(code) => code,
    }
}

fn list(paths: &[PathBuf]) -> u8 {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        errln!("cannot read {}: no such file or directory", missing.display());
        return INVALID;
    }
    let Ok(files) = scenario_args(paths) else { return INVALID };
    for f in files {
        match plan::load(&f) {
            Ok(p) => outln!(
                "{:<40} {}{:>6.1}s  {}",
                f.display(),
                if p.overhead.is_some() { "~" } else { " " },
                p.overhead.as_ref().map_or(p.duration(), |o| o.estimated_duration()).as_secs_f64(),
                p.description.as_deref().unwrap_or("").lines().next().unwrap_or("")
            ),
            Err(d) => outln!("{:<40}  INVALID ({} errors; `ordeal validate {}`)", f.display(), d.0.len(), f.display()),
        }
    }
    PASS
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        errln!("cannot start the async runtime: {e}");
        INFRA
    })
}

/// Load every scenario, then run `f` on each in turn (until interrupted),
/// with its report directory; the worst exit code wins.
fn each_plan(
    files: &[PathBuf],
    overrides: &plan::Overrides,
    report_dir: Option<PathBuf>,
    mut f: impl FnMut(&tokio::runtime::Runtime, &ordeal::plan::Plan, Option<PathBuf>) -> u8,
) -> u8 {
    let plans = match load_all(files, overrides) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    ordeal::signals::install();
    let several = plans.len() > 1;
    let mut worst = PASS;
    for plan in &plans {
        if ordeal::signals::interrupted() {
            break;
        }
        let dir = report_dir.as_ref().map(|d| if several { d.join(&plan.name) } else { d.clone() });
        worst = worst.max(f(&rt, plan, dir));
    }
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    worst
}

fn lint_all(files: &[PathBuf], report_dir: Option<PathBuf>) -> u8 {
    each_plan(files, &plan::Overrides::default(), report_dir, |rt, plan, dir| {
        outln!("ordeal: linting {} against its live stack", plan.file.display());
        match rt.block_on(ordeal::run::lint(plan, &RunOptions { report_dir: dir, seed: None, runtime: None })) {
            Ok(out) => {
                out!("{}", out.report);
                let verdict = if out.report.passed() { "PASS" } else { "FAIL" };
                outln!(
                    "{}: lint {verdict} — {} finding(s), {} note(s); {} expressions checked against {} ({})",
                    plan.name,
                    out.report.findings.len(),
                    out.report.notes.len(),
                    out.references,
                    out.services.join(", "),
                    out.run_dir.join("lint.json").display()
                );
                if out.report.passed() { PASS } else { FAIL }
            }
            Err(e) => {
                outln!("{}: lint could not run: {e}", plan.name);
                if ordeal::signals::interrupted() { INTERRUPTED } else { INFRA }
            }
        }
    })
}

fn history(dir: &std::path::Path) -> u8 {
    let h = match ordeal::report::history::History::load(dir) {
        Ok(h) => h,
        Err(e) => {
            errln!("cannot read {}: {e}", dir.display());
            return INVALID;
        }
    };
    for s in &h.skipped {
        errln!("skipped {s}");
    }
    out!("{}", h.table());
    let index = dir.join("index.html");
    match std::fs::write(&index, ordeal::secrets::mask(&h.html()).as_bytes()) {
        Ok(()) => outln!("history: {} runs of {} scenarios; {}", h.runs(), h.scenarios.len(), index.display()),
        Err(e) => {
            errln!("cannot write {}: {e}", index.display());
            return INFRA;
        }
    }
    PASS
}

fn build_images(files: &[PathBuf]) -> u8 {
    use ordeal::runtime::images;
    let mut specs: Vec<images::ImageSpec> = Vec::new();
    let plans = match load_all(files, &plan::Overrides::default()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for plan in &plans {
        match images::specs_for(plan) {
            Ok(s) => specs.extend(s.into_iter().filter(|s| !specs.contains(s)).collect::<Vec<_>>()),
            Err(e) => {
                errln!("{}: {e}", plan.file.display());
                return INFRA;
            }
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let docker = match images::connect().await {
            Ok(d) => d,
            Err(e) => {
                errln!("{e}");
                return INFRA;
            }
        };
        for spec in &specs {
            match images::build(&docker, spec).await {
                Ok(b) => outln!(
                    "{:<40} {} ({} files, {:.1} MB) from {}",
                    b.reference,
                    if b.cached { "cached" } else { "built" },
                    b.files,
                    b.bytes as f64 / 1e6,
                    spec.program.display()
                ),
                Err(e) => {
                    errln!("{e}");
                    return INFRA;
                }
            }
        }
        PASS
    })
}

/// `run`'s options besides the scenarios.
struct RunFlags {
    report_dir: Option<PathBuf>,
    seed: Option<u64>,
    runtime: Option<ordeal::scenario::RuntimeKind>,
    /// `--json`: a report object per line instead of the tables.
    json: bool,
}

fn run_all(files: &[PathBuf], overrides: &plan::Overrides, flags: RunFlags) -> u8 {
    let RunFlags { report_dir, seed, runtime, json } = flags;
    let color = results::color();
    let mut reports = Vec::new();
    let worst = each_plan(files, overrides, report_dir.clone(), |rt, plan, dir| {
        match &plan.overhead {
            _ if json => {}
            Some(o) => outln!(
                "ordeal: overhead run {}: {} (about {:.0}s)",
                plan.file.display(),
                o.describe(),
                o.estimated_duration().as_secs_f64()
            ),
            None => outln!(
                "ordeal: running {} ({:.1}s timeline){}{}",
                plan.file.display(),
                plan.duration().as_secs_f64(),
                if plan.overrides.is_empty() { "" } else { " with " },
                plan.overrides.join(" ")
            ),
        }
        let report = rt.block_on(run(plan, &RunOptions { report_dir: dir, seed, runtime }));
        let mut code = PASS;
        if let Err(e) = report.write(&report.run_dir) {
            errln!("cannot write the report to {}: {e}", report.run_dir.display());
            code = INFRA;
        }
        if json {
            outln!("{}", report.to_json_line());
        } else {
            out!("{}", summary(&report, color));
        }
        code = code.max(step_summary(&report));
        let code = code.max(match report.verdict {
            RunVerdict::Pass => PASS,
            RunVerdict::Fail => FAIL,
            RunVerdict::Error if ordeal::signals::interrupted() => INTERRUPTED,
            RunVerdict::Error => INFRA,
        });
        reports.push(report);
        code
    });
    if reports.len() > 1 { worst.max(suite_summary(&reports, report_dir, json)) } else { worst }
}

/// Append the run's summary.md to `$GITHUB_STEP_SUMMARY` (a CI job page) when it is set.
fn step_summary(report: &Report) -> u8 {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else { return PASS };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{}\n", report.summary_md()).as_bytes()));
    match appended {
        Ok(()) => PASS,
        Err(e) => {
            errln!("cannot append to GITHUB_STEP_SUMMARY ({}): {e}", std::path::Path::new(&path).display());
            INFRA
        }
    }
}

/// After several scenarios: a line each, and one junit.xml (a suite per
/// scenario) at the root of the report directory (default `reports/`).
fn suite_summary(reports: &[Report], report_dir: Option<PathBuf>, json: bool) -> u8 {
    if !json {
        outln!("\nordeal: {} scenarios", reports.len());
    }
    for r in reports.iter().filter(|_| !json) {
        let verdict = r.verdict.word();
        let met = r.expectations.len() - r.failed().count();
        outln!(
            "  {verdict:<5} {:<28} {:>7.1}s  {met}/{} expectations met  {}",
            r.scenario,
            r.duration_ms as f64 / 1000.0,
            r.expectations.len(),
            r.run_dir.display()
        );
    }
    let dir = report_dir.unwrap_or_else(|| PathBuf::from("reports"));
    let path = dir.join("junit.xml");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, Report::combined_junit(reports))) {
        Ok(()) => {
            if !json {
                outln!("junit: {}", path.display());
            }
            PASS
        }
        Err(e) => {
            errln!("cannot write {}: {e}", path.display());
            INFRA
        }
    }
}
