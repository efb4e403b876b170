//! A whole scenario file -> an immutable [`Plan`]: what every later stage
//! consumes. The top floor of compilation: it calls each section's compile
//! step (`scenario::{stack, mocks, load, timeline, alerting, overhead}`) and
//! the expectation registry (`expect::registry`), collecting every error.
//!
//! Sections are deserialized separately (and list items one by one) with
//! `serde_path_to_error`, so one typo does not hide the next; field paths
//! are mapped back to lines (`scenario::locate`). Semantic checks (names
//! that must exist, windows, templates, files) run on whatever parsed. A
//! `Plan` exists only if the file had no errors; names it holds are known to
//! refer to declared services, mocks and phases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_norway::Value;

use crate::expect::registry::{Expectation, compile_expectations};
use crate::faults::MockConfig;
use crate::scenario::alerting::{self, AlertingPlan};
use crate::scenario::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::scenario::overhead::{self, OverheadPlan};
use crate::scenario::{Ctx, FaultPlan, LoadPlan, Names, PhaseSpan, RuntimeKind, ServiceFaultPlan, StackPlan, load, mocks, stack, timeline};

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
}

impl Plan {
    /// Length of the whole timeline.
    pub fn duration(&self) -> Duration {
        self.phases.last().map(|p| p.end).unwrap_or_default()
    }
}

/// Read and compile a scenario file.
pub fn load(path: &Path) -> Result<Plan, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            path: String::new(),
            message: format!("cannot read the scenario: {e}"),
            hint: Some("check the path; `ordeal list` shows the scenarios in a directory".into()),
        }])
    })?;
    compile(&text, path)
}

const TOP_LEVEL: [&str; 11] =
    ["name", "description", "seed", "runtime", "stack", "mocks", "load", "timeline", "alerting", "overhead", "expect"];

/// Compile scenario text. `file` is used for messages and relative paths.
pub fn compile(text: &str, file: &Path) -> Result<Plan, Diagnostics> {
    let mut cx = Ctx::new(file, text);
    let root: Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            return Err(Diagnostics(vec![Diagnostic {
                file: file.to_path_buf(),
                line,
                col,
                path: String::new(),
                message: format!("not valid YAML: {e}"),
                hint: Some("check indentation and quoting around this line".into()),
            }]));
        }
    };
    let Value::Mapping(map) = root else {
        cx.err("", "the scenario must be a YAML mapping (name:, stack:, timeline:, ...)", None);
        return Err(Diagnostics(cx.diags));
    };
    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in map {
        let key = match k {
            Value::String(s) => s,
            other => format!("{other:?}"),
        };
        if !TOP_LEVEL.contains(&key.as_str()) {
            let hint = did_you_mean(&key, TOP_LEVEL).map(|s| format!("did you mean `{s}`?"));
            cx.err(&key, format!("unknown top-level field `{key}`"), hint.or(Some(format!("valid: {}", TOP_LEVEL.join(", ")))));
            continue;
        }
        sections.insert(key, v);
    }
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };

    let name = sections
        .remove("name")
        .and_then(|v| cx.de::<String>("name", v))
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into()));
    let description = sections.remove("description").and_then(|v| cx.de::<String>("description", v));
    let seed = sections.remove("seed").and_then(|v| cx.de::<u64>("seed", v)).unwrap_or(1);
    let runtime = sections.remove("runtime").and_then(|v| cx.de::<RuntimeKind>("runtime", v)).unwrap_or_default();

    let mocks = mocks::compile_mocks(&mut cx, sections.remove("mocks"), &dir);
    let phases_and_faults = sections.remove("timeline");
    let overhead_raw = sections.remove("overhead");
    let phases = match (&overhead_raw, &phases_and_faults) {
        (Some(_), Some(_)) => {
            cx.err(
                "timeline",
                "an overhead scenario has no timeline",
                Some("remove `timeline:`; rounds, warm-up and measured time are set under `overhead:`".into()),
            );
            Vec::new()
        }
        (Some(_), None) => Vec::new(),
        (None, _) => timeline::compile_phases(&mut cx, phases_and_faults.as_ref()),
    };
    let stack = match sections.remove("stack") {
        Some(v) => stack::compile_stack(&mut cx, v, &mocks),
        None => {
            cx.err("", "missing `stack:` section", Some("declare the services to start under `stack: services:`".into()));
            None
        }
    };
    let service_names: Vec<String> = stack.iter().flat_map(|s| s.services.iter().map(|s| s.name.clone())).collect();
    let (faults, service_faults) = timeline::compile_faults(&mut cx, phases_and_faults, &phases, &mocks, &service_names);
    let load = sections.remove("load").and_then(|v| load::compile_load(&mut cx, v, &dir, stack.as_ref()));
    let alerting = sections.remove("alerting").and_then(|v| alerting::section(&mut cx, v, &dir, &service_names));
    let overhead = overhead_raw.and_then(|v| overhead::section(&mut cx, v, &service_names));
    if overhead.is_some() {
        if load.is_none() && !cx.diags.iter().any(|d| d.path.starts_with("load")) {
            cx.err(
                "",
                "an overhead scenario needs a `load:` section",
                Some("every round drives the same load; declare it under `load:`".into()),
            );
        }
        if alerting.is_some() {
            cx.err(
                "alerting",
                "`alerting:` does not apply to an overhead scenario",
                Some("remove it; overhead rounds measure the stack alone".into()),
            );
        }
    }
    let expectations = compile_expectations(
        &mut cx,
        sections.remove("expect"),
        &Names {
            phases: &phases,
            stack: stack.as_ref(),
            mocks: &mocks,
            load: load.as_ref(),
            alerting: alerting.as_ref(),
            overhead: overhead.as_ref(),
        },
    );

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
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_alerting;

#[cfg(test)]
mod tests_overhead;
