//! A whole scenario file -> an immutable [`Plan`]: what every later stage
//! consumes. The top floor of compilation: it calls each section's compile
//! step (`scenario::{stack, mocks, load, timeline, alerting, overhead}`) and
//! the `expect:` list (`expect::expectations`, through the registry of kinds),
//! collecting every error.
//!
//! Sections are deserialized separately (and list items one by one) with
//! `serde_path_to_error`, so one typo does not hide the next; field paths
//! are mapped back to lines (`scenario::locate`). Semantic checks (names
//! that must exist, windows, templates, files) run on whatever parsed. A
//! `Plan` exists only if the file had no errors; names it holds are known to
//! refer to declared services, mocks and phases.

mod document;
mod include;
mod overrides;
pub mod schema;

pub use include::scenario_files;
pub use overrides::Overrides;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::expect::expectations::{Expectation, compile_expectations};
use crate::faults::MockConfig;
use crate::scenario::alerting::{self, AlertingPlan};
use crate::scenario::diag::{Diagnostic, Diagnostics};
use crate::scenario::overhead::{self, OverheadPlan};
use crate::scenario::{Ctx, FaultPlan, LoadPlan, Names, PhaseSpan, RuntimeKind, ServiceFaultPlan, StackPlan, load, mocks, timeline};
pub use document::{TOP_LEVEL, merged_document};
use document::{format_version, overhead_scenario_rules, phases, scenario_name, stack_section, top_level};

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    /// Directory of the scenario file; relative paths resolve against it.
    pub dir: PathBuf,
    pub seed: u64,
    /// Where the stack runs: child processes (default) or containers.
    pub runtime: RuntimeKind,
    pub stack: StackPlan,
    pub mocks: BTreeMap<String, MockConfig>,
    pub load: Option<LoadPlan>,
    /// Phases in order, relative to the timeline origin.
    pub phases: Vec<PhaseSpan>,
    pub faults: Vec<FaultPlan>,
    /// Faults on the stack's services themselves (kill, pause, network cut).
    pub service_faults: Vec<ServiceFaultPlan>,
    pub expectations: Vec<Expectation>,
    /// A real Prometheus / Alertmanager, when the scenario has `alerting:`.
    pub alerting: Option<AlertingPlan>,
    /// An overhead comparison instead of a timeline (`overhead:`).
    pub overhead: Option<OverheadPlan>,
    /// The command-line overrides it was compiled with (`--set load.rate=100`).
    pub overrides: Vec<String>,
}

impl Plan {
    /// Length of the whole timeline.
    pub fn duration(&self) -> Duration {
        self.phases.last().map(|p| p.end).unwrap_or_default()
    }
}

/// Read and compile a scenario file.
pub fn load(path: &Path) -> Result<Plan, Diagnostics> {
    load_with(path, &Overrides::default())
}

/// Read and compile a scenario file with command-line overrides.
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Plan, Diagnostics> {
    let text = crate::files::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            path: String::new(),
            message: format!("cannot read the scenario: {e}"),
            hint: Some("check the path; `ordeal list` shows the scenarios in a directory".into()),
        }])
    })?;
    compile_with(&text, path, overrides)
}

/// Compile scenario text. `file` is used for messages and relative paths.
pub fn compile(text: &str, file: &Path) -> Result<Plan, Diagnostics> {
    compile_with(text, file, &Overrides::default())
}

/// [`compile`] with command-line overrides (`--set`, `--var`, `--only`).
pub fn compile_with(text: &str, file: &Path, overrides: &Overrides) -> Result<Plan, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // a UTF-8 byte order mark
    let mut cx = Ctx::new(file, text);
    let mut sections = top_level(&mut cx, text, file, overrides)?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };

    format_version(&mut cx, sections.remove("ordeal"));
    let name = scenario_name(&mut cx, sections.remove("name"), file);
    let description = sections.remove("description").and_then(|v| cx.de::<String>("description", v));
    let seed = sections.remove("seed").and_then(|v| cx.de::<u64>("seed", v)).unwrap_or(1);
    let runtime = sections.remove("runtime").and_then(|v| cx.de::<RuntimeKind>("runtime", v)).unwrap_or_default();

    let mocks = mocks::compile_mocks(&mut cx, sections.remove("mocks"), &dir);
    let phases_and_faults = sections.remove("timeline");
    let overhead_raw = sections.remove("overhead");
    let phases = phases(&mut cx, overhead_raw.is_some(), phases_and_faults.as_ref());
    let stack = stack_section(&mut cx, sections.remove("stack"), &mocks);
    let service_names: Vec<String> = stack.iter().flat_map(|s| s.services.iter().map(|s| s.name.clone())).collect();
    let (faults, service_faults) = timeline::compile_faults(&mut cx, phases_and_faults, &phases, &mocks, &service_names);
    let mut load = sections.remove("load").and_then(|v| load::compile_load(&mut cx, v, &dir, stack.as_ref()));
    schedule_load(&mut cx, load.as_mut(), &phases, seed);
    let alerting = sections.remove("alerting").and_then(|v| alerting::section(&mut cx, v, &dir, &service_names));
    let overhead = overhead_raw.and_then(|v| overhead::section(&mut cx, v, &service_names));
    if overhead.is_some() {
        overhead_scenario_rules(&mut cx, load.is_some(), alerting.is_some());
    }
    let names = Names {
        phases: &phases,
        stack: stack.as_ref(),
        mocks: &mocks,
        load: load.as_ref(),
        alerting: alerting.as_ref(),
        overhead: overhead.as_ref(),
    };
    let expectations = compile_expectations(&mut cx, sections.remove("expect"), &names);
    let expectations = overrides::only(expectations, &overrides.only).unwrap_or_else(|d| {
        cx.diags.extend(d.0);
        Vec::new()
    });

    #[cfg(test)]
    schema::agrees_with_the_compiler(text, file, &cx.diags);
    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| (d.line, d.col));
        return Err(Diagnostics(cx.diags));
    }
    Ok(Plan {
        name,
        description,
        file: file.to_path_buf(),
        dir,
        seed,
        runtime,
        stack: stack.expect("no diagnostics implies a stack"),
        mocks,
        load,
        phases,
        faults,
        service_faults,
        expectations,
        alerting,
        overhead,
        overrides: overrides.args(),
    })
}

/// The load's schedule over the phases: each phase's own `rate:`/`ramp:`,
/// else the load's rate.
fn schedule_load(cx: &mut Ctx, load: Option<&mut LoadPlan>, phases: &[PhaseSpan], seed: u64) {
    let shaped = phases.iter().position(|p| p.rate.is_some());
    let Some(load) = load else {
        if let Some(i) = shaped {
            cx.err(
                &format!("timeline.phases[{i}]"),
                "a phase sets a load rate, but there is no `load:` section",
                Some("add `load:` or remove the phase's `rate`/`ramp`".into()),
            );
        }
        return;
    };
    if load.connections.is_some() {
        if let Some(i) = shaped {
            cx.err(
                &format!("timeline.phases[{i}]"),
                "`rate: max` runs a closed loop: phases cannot set a rate",
                Some("give `load.rate` a number to shape the load by phase".into()),
            );
        }
        load.finish(None);
        return;
    }
    let schedule = (!phases.is_empty()).then(|| crate::load::Schedule {
        segments: phases
            .iter()
            .map(|p| {
                let (from, to) = p.rate.unwrap_or((load.rate, load.rate));
                crate::load::schedule::Segment { start: p.start, end: p.end, from, to }
            })
            .collect(),
        arrivals: load.arrivals,
        seed,
    });
    load.finish(schedule);
}

#[cfg(test)]
mod tests_include;
#[cfg(test)]
mod tests_overrides;

#[cfg(test)]
mod tests {
    //! Compiler tests on whole documents: valid plans, and every error reported at once.

    use std::path::Path;

    use super::*;

    pub(super) const GOOD: &str = r#"
name: demo
seed: 7
stack:
  services:
    worker:
      command: ../bin/worker
      env: { LISTEN: "127.0.0.1:{{self.port}}", LLM: "{{mocks.llm.url}}/v1", RETRIES: 3 }
      ready: { path: /health/live }
      metrics: /metrics
      health: { live: /health/live, ready: /health/ready }
    coordinator:
      command: coord
      env: { WORKERS: "{{services.worker.url}}" }
      depends_on: [worker]
      health: { ready: /health/ready }
mocks:
  llm: { kind: openai }
load:
  target: coordinator
  rate: 10
  requests:
    - { name: task, method: POST, path: /v1/tasks, body: { type: analysis } }
timeline:
  phases:
    - { name: steady, duration: 2s }
    - { name: outage, duration: 3s }
    - { name: recovery, duration: 5s }
  faults:
    - { mock: llm, during: outage, fault: { error: { status: 503 } } }
expect:
  - kind: metric
    metric: tasks_total
    labels: { status: failed }
    increase: "> 0"
    during: outage
  - kind: breaker
    service: coordinator
    gauge: breaker_state
    fault: outage
    opens_within: 2s
  - kind: health
    service: coordinator
    endpoint: ready
    state: up
    after: recovery+3s
  - kind: load
    error_ratio: "== 0"
    during: steady
"#;

    fn errors(text: &str) -> Vec<Diagnostic> {
        compile(text, Path::new("dir/s.yaml")).unwrap_err().0
    }

    #[test]
    fn compiles_a_full_scenario() {
        let plan = compile(GOOD, Path::new("scenarios/demo.yaml")).unwrap();
        assert_eq!(plan.name, "demo");
        assert_eq!(plan.seed, 7);
        let order: Vec<&str> = plan.stack.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["worker", "coordinator"]);
        assert_eq!(plan.stack.services[0].command, "../bin/worker");
        assert_eq!(plan.stack.services[1].command, "coord");
        assert_eq!(plan.stack.services[0].env["RETRIES"], "3");
        assert_eq!(plan.duration().as_secs(), 10);
        assert_eq!(plan.expectations.len(), 4);
        assert_eq!(plan.expectations[1].kind(), "breaker");
        let load = plan.load.unwrap();
        assert_eq!(load.max_in_flight, 100, "rate 10 x timeout 10s");
        assert_eq!(load.requests[0].body.as_deref(), Some(br#"{"type":"analysis"}"#.as_slice()));
    }

    #[test]
    fn the_format_version_is_checked() {
        assert!(compile(&format!("ordeal: 1\n{GOOD}"), Path::new("dir/s.yaml")).is_ok());
        let errs = errors(&format!("ordeal: 2\n{GOOD}"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].path.as_str(), errs[0].message.as_str()), ("ordeal", "unknown scenario format 2"));
        assert!(errs[0].hint.as_deref().unwrap().contains("write `ordeal: 1`"));
    }

    #[test]
    fn one_root_error_does_not_cascade() {
        // A misspelt section: one error, not one per window naming its phases, nor "missing `timeline:`".
        let errs = errors(&GOOD.replace("timeline:", "timelime:"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].hint.as_deref(), Some("did you mean `timeline`?"));
        // A broken mock: its own error, not "unknown template {{mocks.llm.url}}" nor "no mock named" in the fault.
        let errs = errors(&GOOD.replace("llm: { kind: openai }", "llm: { kind: openai, latncy: 5ms }"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].path.starts_with("mocks.llm"), "{errs:#?}");
        // A broken phase: its error, not the windows that name it.
        let errs = errors(&GOOD.replace("{ name: outage, duration: 3s }", "{ name: outage, duraton: 3s }"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        // A misspelt stack: no "missing `stack:`", no unknown load target.
        let errs = errors(&GOOD.replace("\nstack:", "\nstak:"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
    }

    #[test]
    fn misspelled_field_names_line_field_and_suggestion() {
        let bad = GOOD.replace("      metrics: /metrics", "      metrcs: /metrics");
        let errs = errors(&bad);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let e = &errs[0];
        assert_eq!(e.line, 10);
        assert_eq!(e.path, "stack.services.worker.metrcs");
        assert_eq!(e.hint.as_deref(), Some("did you mean `metrics`?"));
        assert!(e.to_string().starts_with("dir/s.yaml:10:"), "{e}");
    }

    #[test]
    fn reports_all_errors_at_once() {
        let bad = GOOD
            .replace("rate: 10", "rate: -1")
            .replace("during: outage\n  - kind: breaker", "during: outgae\n  - kind: breaker")
            .replace("endpoint: ready", "endpoint: live")
            .replace("{{mocks.llm.url}}", "{{mocks.lm.url}}")
            .replace("kind: load", "kind: lod");
        let errs = errors(&bad);
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(errs.len(), 5, "{paths:?}");
        for (want, line) in [
            ("stack.services.worker.env.LLM", 8),
            ("load.rate", 21),
            ("expect[0].during", 36),
            ("expect[2].endpoint", 44),
            ("expect[3].kind", 47),
        ] {
            let e = errs.iter().find(|e| e.path == want).unwrap_or_else(|| panic!("no error for {want}: {paths:?}"));
            assert_eq!(e.line, line, "{e}");
        }
        let window = errs.iter().find(|e| e.path == "expect[0].during").unwrap();
        assert_eq!(window.hint.as_deref(), Some("did you mean `outage`?"));
    }

    #[test]
    fn unknown_top_level_and_missing_sections() {
        let errs = errors("name: x\nstak: {}\n");
        assert!(errs.iter().any(|e| e.path == "stak" && e.hint.as_deref() == Some("did you mean `stack`?")), "{errs:#?}");
        assert!(errs.iter().any(|e| e.message.contains("missing `timeline:`")));
    }

    #[test]
    fn yaml_syntax_error_has_a_position() {
        let errs = errors("name: [unclosed\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].line >= 1 && errs[0].message.contains("not valid YAML"));
    }

    #[test]
    fn dependency_cycle_is_an_error() {
        let bad = GOOD.replace(
            "    worker:\n      command: ../bin/worker",
            "    worker:\n      depends_on: [coordinator]\n      command: ../bin/worker",
        );
        assert!(errors(&bad).iter().any(|e| e.message.contains("dependency cycle")));
    }

    #[test]
    fn metric_needs_exactly_one_check() {
        let bad = GOOD.replace("increase: \"> 0\"", "increase: \"> 0\"\n    rate: \"> 1\"");
        let errs = errors(&bad);
        assert!(errs[0].message.contains("several checks"), "{errs:#?}");
        let bad = GOOD.replace("increase: \"> 0\"", "increase: \"lots\"");
        assert_eq!(errors(&bad)[0].path, "expect[0].increase");
    }
}

#[cfg(test)]
mod tests_alerting {
    //! Compiler tests for `alerting:` and the alert expectation kinds.

    use std::path::PathBuf;

    use super::*;
    use crate::expect::Check;
    use crate::scenario::AlertingMode;

    /// A file in the repo's scenarios/ dir, so `../fixtures/...` resolves.
    fn file() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/test.yaml")
    }

    fn doc(alerting: &str, expect: &str) -> String {
        format!(
            r#"
stack:
  services:
    app: {{ command: app, metrics: /metrics }}
timeline:
  phases:
    - {{ name: steady, duration: 5s }}
    - {{ name: outage, duration: 5s }}
    - {{ name: recovery, duration: 10s }}
{alerting}
expect:
{expect}
"#
        )
    }

    const ALERTING: &str =
        "alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  alertmanager: { config: ../fixtures/alertmanager.yml }";

    fn errors(text: &str) -> Vec<String> {
        compile(text, &file())
            .unwrap_err()
            .0
            .iter()
            .map(|d| format!("{}: {} ({})", d.path, d.message, d.hint.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn compiles_alerting_and_reads_receivers_and_alert_names() {
        let text = doc(
            ALERTING,
            "  - { kind: alert, alert: HighErrorRate, fault: outage, fires_within: 5s, resolves_within: 10s }\n  - { kind: alert_delivered, alert: HighErrorRate, receiver: pager }\n  - { kind: no_alert, during: steady }\n  - { kind: promql, query: 'sum(up)', value: '> 0' }\n  - { kind: contract }",
        );
        let plan = compile(&text, &file()).unwrap();
        let a = plan.alerting.unwrap();
        assert!(a.alert_names.contains(&"HighErrorRate".to_string()));
        assert_eq!(a.interval, std::time::Duration::from_secs(1));
        let m = a.managed().unwrap();
        assert_eq!(m.receivers, ["default", "pager", "chat"]);
        assert_eq!(m.prometheus_bin, "prometheus");
        let Check::Contract(c) = &plan.expectations[4].check else { panic!() };
        assert_eq!(c.spec.queries.len(), 1, "the promql query is linted too");
        assert_eq!(c.spec.rules.len(), 1);
    }

    #[test]
    fn unknown_alert_receiver_and_unobservable_resolution_are_errors() {
        let text = doc(
            ALERTING,
            "  - { kind: alert, alert: HighErorRate, fault: outage, fires_within: 5s, resolves_within: 15s }\n  - { kind: alert_delivered, alert: HighErrorRate, receiver: pagr }",
        );
        let e = errors(&text).join("\n");
        assert!(e.contains("no alert named `HighErorRate` in the rule files (did you mean `HighErrorRate`?)"), "{e}");
        assert!(e.contains("resolution within 15s cannot be observed"), "{e}");
        assert!(e.contains("no receiver named `pagr`") && e.contains("did you mean `pager`?"), "{e}");
    }

    #[test]
    fn alert_kinds_need_an_alerting_section_and_bad_files_are_named() {
        let e = errors(&doc("", "  - { kind: no_alert }")).join("\n");
        assert!(e.contains("needs an `alerting:` section"), "{e}");
        let e = errors(&doc("alerting:\n  rules: [nope.yaml]\n  dashboards: [nope.json]", "  - { kind: no_alert }")).join("\n");
        assert!(e.contains("alerting.rules[0]: cannot read rule file `nope.yaml`"), "{e}");
        assert!(e.contains("alerting.dashboards[0]: cannot read dashboard `nope.json`"), "{e}");
        let e = errors(&doc("alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  external: { prometheus: 'prom:9090' }\n  alertmanager: { route: { receiver: x } }", "  - { kind: no_alert }")).join("\n");
        assert!(e.contains("applies to managed mode only"), "{e}");
    }

    #[test]
    fn external_mode_takes_templated_urls() {
        let text = doc(
            "alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  external: { prometheus: '{{services.app.url}}' }",
            "  - { kind: no_alert }",
        );
        let plan = compile(&text, &file()).unwrap();
        assert!(matches!(plan.alerting.unwrap().mode, AlertingMode::External { .. }));
        let e = errors(&doc("alerting:\n  external: { prometheus: '{{services.nope.url}}' }", "  - { kind: no_alert }")).join("\n");
        assert!(e.contains("alerting.external.prometheus"), "{e}");
    }
}

#[cfg(test)]
mod tests_overhead;
