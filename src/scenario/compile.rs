//! One pass from YAML text to a [`Plan`], collecting every error.
//!
//! Sections are deserialized separately (and list items one by one) with
//! `serde_path_to_error`, so one typo does not hide the next; field paths
//! are mapped back to lines through [`LineIndex`]. Semantic checks (names
//! that must exist, windows, templates, files) run on whatever parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::diag::{Diagnostic, Diagnostics, did_you_mean};
use super::locate::LineIndex;
use super::plan::*;
use super::raw::*;
use super::template::{self, Scope};
use super::window::{PhaseSpan, WindowExpr};

pub(super) const TOP_LEVEL: [&str; 11] =
    ["name", "description", "seed", "runtime", "stack", "mocks", "load", "timeline", "alerting", "overhead", "expect"];
const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// Error collector with the file's line index.
pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    pub index: LineIndex,
    pub diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub fn err(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let pos = self.index.locate(path);
        self.push(path, pos, message.into(), hint);
    }

    /// Like `err` but points at the value rather than its key.
    pub fn err_value(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let pos = self.index.locate_value(path);
        self.push(path, pos, message.into(), hint);
    }

    fn push(&mut self, path: &str, pos: Option<super::locate::Pos>, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.map_or(0, |p| p.line),
            col: pos.map_or(0, |p| p.col),
            path: path.to_string(),
            message,
            hint,
        });
    }

    /// Deserialize `value` (found at `path`) into `T`, recording a located error on failure.
    pub fn de<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.inner().to_string();
                let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
                let sub = e.path().to_string();
                let mut full = match sub.as_str() {
                    "." => path.to_string(),
                    s if path.is_empty() => s.to_string(),
                    s if s.starts_with('[') => format!("{path}{s}"),
                    s => format!("{path}.{s}"),
                };
                let mut hint = None;
                if let Some(field) = between(&inner, "unknown field `", "`") {
                    // serde leaves the unknown field itself out of the path.
                    if !full.ends_with(field) {
                        full = if full.is_empty() { field.to_string() } else { format!("{full}.{field}") };
                    }
                    let expected = expected_fields(&inner);
                    hint = Some(match did_you_mean(field, expected.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if !expected.is_empty() => format!("valid fields here: {}", expected.join(", ")),
                        None => "remove this field".to_string(),
                    });
                } else if let Some(field) = between(&inner, "missing field `", "`") {
                    hint = Some(format!("add `{field}:` here (see the scenario reference in README.md)"));
                } else if inner.contains("invalid type") {
                    hint = Some("check the value's type against the scenario reference in README.md".into());
                }
                self.err(&full, inner, hint);
                None
            }
        }
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(&s[i..i + j])
}

fn expected_fields(msg: &str) -> Vec<String> {
    msg.split_once("expected one of ")
        .map(|(_, list)| list.split(", ").map(|f| f.trim_matches('`').to_string()).collect())
        .unwrap_or_default()
}

/// Compile scenario text. `file` is used for messages and relative paths.
pub fn compile(text: &str, file: &Path) -> Result<Plan, Diagnostics> {
    let mut cx = Ctx { file, index: LineIndex::build(text), diags: Vec::new() };
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

    let mocks = compile_mocks(&mut cx, sections.remove("mocks"), &dir);
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
        (None, _) => compile_phases(&mut cx, phases_and_faults.as_ref()),
    };
    let stack = match sections.remove("stack") {
        Some(v) => compile_stack(&mut cx, v, &mocks),
        None => {
            cx.err("", "missing `stack:` section", Some("declare the services to start under `stack: services:`".into()));
            None
        }
    };
    let service_names: Vec<String> = stack.iter().flat_map(|s| s.services.iter().map(|s| s.name.clone())).collect();
    let (faults, service_faults) = compile_faults(&mut cx, phases_and_faults, &phases, &mocks, &service_names);
    let load = sections.remove("load").and_then(|v| compile_load(&mut cx, v, &dir, stack.as_ref()));
    let alerting = sections.remove("alerting").and_then(|v| super::compile_alerting::section(&mut cx, v, &dir, &service_names));
    let overhead = overhead_raw.and_then(|v| super::compile_overhead::section(&mut cx, v, &service_names));
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
    let expectations = super::compile_expect::compile_expectations(
        &mut cx,
        sections.remove("expect"),
        &super::compile_expect::Names {
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

fn compile_mocks(cx: &mut Ctx, v: Option<Value>, dir: &Path) -> BTreeMap<String, crate::faults::MockConfig> {
    use crate::faults::MockConfig;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Some(v) = v else { return BTreeMap::new() };
    let Some(raw) = cx.de::<BTreeMap<String, Value>>("mocks", v) else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        let path = format!("mocks.{name}");
        let Some(mut m) = cx.de::<MockConfig>(&path, v) else { continue };
        // Files are relative to the scenario, like every other path in it.
        match &mut m {
            MockConfig::Openai(c) => {
                if let Some(f) = c.responses_file.as_mut().filter(|f| f.is_relative()) {
                    *f = dir.join(&*f);
                }
            }
            MockConfig::Http(c) => {
                for r in &mut c.routes {
                    if let Some(f) = r.body_file.as_mut().filter(|f| f.is_relative()) {
                        *f = dir.join(&*f);
                    }
                }
            }
        }
        for problem in crate::faults::validate_mock(&m) {
            cx.err(&path, problem, None);
        }
        out.insert(name, m);
    }
    out
}

pub(super) fn parse_window(cx: &mut Ctx, path: &str, text: &str, phases: &[PhaseSpan], after: bool) -> Option<WindowExpr> {
    let parsed = if after { WindowExpr::after(text) } else { WindowExpr::parse(text) };
    let w = match parsed {
        Ok(w) => w,
        Err(e) => {
            cx.err_value(
                path,
                format!("bad window `{text}`: {e}"),
                Some("e.g. `outage`, `outage+2s..recovery`, `recovery.start+5s..end`".into()),
            );
            return None;
        }
    };
    let mut ok = true;
    for p in w.phases() {
        if !phases.iter().any(|s| s.name == p) {
            ok = false;
            let names: Vec<&str> = phases.iter().map(|s| s.name.as_str()).collect();
            let hint = did_you_mean(p, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("phases are: {}", names.join(", ")));
            cx.err_value(path, format!("unknown phase `{p}` in window `{text}`"), Some(hint));
        }
    }
    ok.then_some(w)
}

fn compile_phases(cx: &mut Ctx, timeline: Option<&Value>) -> Vec<PhaseSpan> {
    let Some(Value::Mapping(m)) = timeline else {
        cx.err("", "missing `timeline:` section", Some("add `timeline: { phases: [{ name: steady, duration: 10s }] }`".into()));
        return Vec::new();
    };
    for k in m.keys() {
        if let Value::String(k) = k
            && k != "phases"
            && k != "faults"
        {
            let hint = did_you_mean(k, ["phases", "faults"]).map(|s| format!("did you mean `{s}`?"));
            cx.err(&format!("timeline.{k}"), format!("unknown field `{k}`"), hint.or(Some("valid fields: phases, faults".into())));
        }
    }
    let Some(v) = m.get("phases").cloned() else {
        cx.err("timeline", "missing field `phases`", Some("list the phases in order, e.g. `- { name: steady, duration: 10s }`".into()));
        return Vec::new();
    };
    let Some(items) = cx.de::<Vec<Value>>("timeline.phases", v) else { return Vec::new() };
    let mut out: Vec<PhaseSpan> = Vec::new();
    let mut at = Duration::ZERO;
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("timeline.phases[{i}]");
        let Some(p) = cx.de::<RawPhase>(&path, item) else { continue };
        if p.duration.is_zero() {
            cx.err_value(&format!("{path}.duration"), "a phase must last longer than zero", None);
        }
        if ["start", "end"].contains(&p.name.as_str()) || p.name.contains(['.', '+', '-', ' ']) {
            cx.err_value(
                &format!("{path}.name"),
                format!("`{}` cannot name a phase", p.name),
                Some("use letters, digits and `_`; `start` and `end` are reserved".into()),
            );
        }
        if out.iter().any(|s| s.name == p.name) {
            cx.err_value(&format!("{path}.name"), format!("phase `{}` is declared twice", p.name), None);
        }
        out.push(PhaseSpan { name: p.name, start: at, end: at + p.duration });
        at += p.duration;
    }
    if out.is_empty() && !cx.diags.iter().any(|d| d.path.starts_with("timeline")) {
        cx.err("timeline.phases", "at least one phase is needed", None);
    }
    out
}

fn compile_faults(
    cx: &mut Ctx,
    timeline: Option<Value>,
    phases: &[PhaseSpan],
    mocks: &BTreeMap<String, crate::faults::MockConfig>,
    services: &[String],
) -> (Vec<FaultPlan>, Vec<ServiceFaultPlan>) {
    let Some(Value::Mapping(mut m)) = timeline else { return Default::default() };
    let Some(v) = m.remove("faults") else { return Default::default() };
    let Some(items) = cx.de::<Vec<Value>>("timeline.faults", v) else { return Default::default() };
    let mut out = Vec::new();
    let mut on_services = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("timeline.faults[{i}]");
        if item.as_mapping().is_some_and(|m| m.contains_key("service")) {
            on_services.extend(compile_service_fault(cx, &path, item, phases, services, i));
            continue;
        }
        let Some(f) = cx.de::<RawFault>(&path, item) else { continue };
        let window = parse_window(cx, &format!("{path}.during"), &f.during, phases, false);
        let Some(mock) = mocks.get(&f.mock) else {
            let hint = did_you_mean(&f.mock, mocks.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(&format!("{path}.mock"), format!("no mock named `{}`", f.mock), hint.or(Some("declare it under `mocks:`".into())));
            continue;
        };
        for problem in crate::faults::validate(mock, &f.fault) {
            cx.err(&format!("{path}.fault"), problem, None);
        }
        if let Some(r) = &f.route {
            match r.parse::<crate::faults::RouteFilter>() {
                Ok(filter) => {
                    for problem in crate::faults::validate_route(mock, &filter) {
                        cx.err_value(&format!("{path}.route"), problem, None);
                    }
                }
                Err(e) => {
                    cx.err_value(&format!("{path}.route"), e.to_string(), Some("write `METHOD /path`, e.g. `GET /items/{id}`".into()))
                }
            }
        }
        if let Some(window) = window {
            out.push(FaultPlan { id: f.name.unwrap_or_else(|| format!("fault-{i}")), mock: f.mock, route: f.route, window, spec: f.fault });
        }
    }
    (out, on_services)
}

/// `{ service: worker, action: kill, during: crash }`: a fault on the stack itself.
fn compile_service_fault(
    cx: &mut Ctx,
    path: &str,
    item: Value,
    phases: &[PhaseSpan],
    services: &[String],
    i: usize,
) -> Option<ServiceFaultPlan> {
    let f = cx.de::<super::raw::RawServiceFault>(path, item)?;
    let window = parse_window(cx, &format!("{path}.during"), &f.during, phases, false);
    if !services.contains(&f.service) {
        let hint = did_you_mean(&f.service, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(
            &format!("{path}.service"),
            format!("no service named `{}`", f.service),
            hint.or(Some("name one under `stack.services`".into())),
        );
        return None;
    }
    if f.restart.is_some() && !matches!(f.action, ServiceAction::Kill | ServiceAction::Stop) {
        cx.err(
            &format!("{path}.restart"),
            format!("`restart` only applies to `kill` and `stop`, not `{}`", f.action.as_str()),
            Some("remove it".into()),
        );
    }
    Some(ServiceFaultPlan {
        id: f.name.unwrap_or_else(|| format!("fault-{i}")),
        service: f.service,
        window: window?,
        action: f.action,
        restart: f.restart.unwrap_or(true),
    })
}

pub(super) fn check_route(r: &str) -> Result<(), String> {
    r.parse::<crate::faults::RouteFilter>().map(|_| ()).map_err(|e| e.to_string())
}

fn compile_stack(cx: &mut Ctx, v: Value, mocks: &BTreeMap<String, crate::faults::MockConfig>) -> Option<StackPlan> {
    let raw: RawStack = cx.de("stack", v)?;
    if raw.services.is_empty() {
        cx.err("stack.services", "declare at least one service", None);
    }
    let scope = Scope {
        services: raw.services.keys().cloned().collect(),
        mocks: mocks.keys().cloned().collect(),
        // The built-in OTLP receiver's endpoints (gRPC, and HTTP base URL).
        extra: vec!["otlp.grpc".into(), "otlp.http".into()],
    };
    for (i, cmd) in raw.prepare.iter().enumerate() {
        if cmd.is_empty() {
            cx.err_value(
                &format!("stack.prepare[{i}]"),
                "empty command",
                Some("write the program and its arguments, e.g. `[make, build]`".into()),
            );
        }
    }
    let mut services = Vec::new();
    let mut ports = BTreeSet::new();
    for (name, s) in &raw.services {
        let path = format!("stack.services.{name}");
        let check_templates = |cx: &mut Ctx, field: String, text: &str| match template::refs(text) {
            Ok(refs) => {
                for r in refs {
                    if let Err(e) = scope.check(&r) {
                        cx.err_value(&field, e, None);
                    }
                }
            }
            Err(e) => cx.err_value(&field, e, None),
        };
        check_templates(cx, format!("{path}.command"), &s.command);
        for (i, a) in s.args.iter().enumerate() {
            check_templates(cx, format!("{path}.args[{i}]"), a);
        }
        for (k, v) in &s.env {
            check_templates(cx, format!("{path}.env.{k}"), &v.0);
        }
        if s.command.trim().is_empty() {
            cx.err_value(&format!("{path}.command"), "empty command", None);
        }
        for d in &s.depends_on {
            if !raw.services.contains_key(d) {
                let hint = did_you_mean(d, raw.services.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
                cx.err(&format!("{path}.depends_on"), format!("no service named `{d}`"), hint);
            }
        }
        if let Some(p) = s.port
            && !ports.insert(p)
        {
            cx.err_value(&format!("{path}.port"), format!("port {p} is used by another service"), None);
        }
        let http_paths = s
            .ready
            .iter()
            .map(|r| ("ready.path".to_string(), r.path.clone()))
            .chain(s.metrics.iter().map(|m| ("metrics".to_string(), m.clone())))
            .chain(s.health.iter().map(|(k, v)| (format!("health.{k}"), v.clone())));
        for (field, p) in http_paths {
            if !p.starts_with('/') {
                cx.err_value(
                    &format!("{path}.{field}"),
                    format!("`{p}` is not an HTTP path"),
                    Some(format!("start it with `/`, e.g. `/{p}`")),
                );
            }
        }
        services.push(ServicePlan {
            name: name.clone(),
            command: s.command.clone(),
            image: s.image.clone(),
            mounts: Vec::new(),
            args: s.args.clone(),
            env: s.env.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            port: s.port,
            ready: s.ready.as_ref().map(|r| ReadyProbe { path: r.path.clone(), timeout: r.timeout.unwrap_or(Duration::from_secs(30)) }),
            metrics: s.metrics.clone(),
            health: s.health.clone(),
            depends_on: s.depends_on.clone(),
            stop_timeout: s.stop_timeout.unwrap_or(Duration::from_secs(5)),
        });
    }
    let services = match start_order(services) {
        Ok(s) => s,
        Err(cycle) => {
            cx.err(
                "stack.services",
                format!("dependency cycle: {}", cycle.join(" -> ")),
                Some("remove one `depends_on` entry of the cycle".into()),
            );
            return None;
        }
    };
    Some(StackPlan {
        prepare: raw.prepare,
        services,
        scrape_interval: raw.scrape_interval.unwrap_or(DEFAULT_INTERVAL),
        probe_interval: raw.probe_interval.unwrap_or(DEFAULT_INTERVAL),
        probe_timeout: raw.probe_timeout.unwrap_or(Duration::from_secs(2)),
    })
}

/// Topological order by `depends_on` (unknown names ignored: reported elsewhere).
fn start_order(mut pending: Vec<ServicePlan>) -> Result<Vec<ServicePlan>, Vec<String>> {
    let names: BTreeSet<String> = pending.iter().map(|s| s.name.clone()).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|s| s.depends_on.iter().all(|d| done.contains(d) || !names.contains(d)));
        match ready {
            Some(i) => {
                let s = pending.remove(i);
                done.insert(s.name.clone());
                out.push(s);
            }
            None => return Err(pending.iter().map(|s| s.name.clone()).collect()),
        }
    }
    Ok(out)
}

fn compile_load(cx: &mut Ctx, v: Value, dir: &Path, stack: Option<&StackPlan>) -> Option<LoadPlan> {
    let raw: RawLoad = cx.de("load", v)?;
    if let Some(stack) = stack
        && !stack.services.iter().any(|s| s.name == raw.target)
    {
        let hint = did_you_mean(&raw.target, stack.services.iter().map(|s| s.name.as_str())).map(|s| format!("did you mean `{s}`?"));
        cx.err_value("load.target", format!("no service named `{}`", raw.target), hint);
    }
    if !(raw.rate > 0.0 && raw.rate.is_finite()) {
        cx.err_value("load.rate", "the rate must be a positive number of requests per second", Some("e.g. `rate: 20`".into()));
    }
    if raw.requests.is_empty() {
        cx.err("load.requests", "the request mix is empty", Some("add at least one `- { name: ..., method: POST, path: /... }`".into()));
    }
    let timeout = raw.timeout.unwrap_or(Duration::from_secs(10));
    let common: Vec<(String, String)> = raw.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let mut requests = Vec::new();
    for (i, r) in raw.requests.into_iter().enumerate() {
        let path = format!("load.requests[{i}]");
        if r.weight == 0 {
            cx.err_value(&format!("{path}.weight"), "weight must be at least 1", None);
        }
        if reqwest::Method::from_bytes(r.method.as_bytes()).is_err() {
            cx.err_value(&format!("{path}.method"), format!("`{}` is not an HTTP method", r.method), None);
        }
        if !r.path.starts_with('/') {
            cx.err_value(&format!("{path}.path"), format!("`{}` is not an HTTP path", r.path), Some("start it with `/`".into()));
        }
        let body = match (r.body, r.body_file) {
            (Some(_), Some(_)) => {
                cx.err(&path, "both `body` and `body_file` are set", Some("keep one of them".into()));
                None
            }
            (Some(b), None) => Some(serde_json::to_vec(&b).unwrap_or_default()),
            (None, Some(f)) => {
                let p = dir.join(&f);
                match std::fs::read(&p) {
                    Ok(bytes) => {
                        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                            cx.err_value(&format!("{path}.body_file"), format!("{} is not valid JSON: {e}", p.display()), None);
                        }
                        Some(bytes)
                    }
                    Err(e) => {
                        cx.err_value(
                            &format!("{path}.body_file"),
                            format!("cannot read {}: {e}", p.display()),
                            Some("paths are relative to the scenario file".into()),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        };
        let mut headers = common.clone();
        headers.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())));
        requests.push(RequestPlan { name: r.name, weight: r.weight, method: r.method.to_ascii_uppercase(), path: r.path, headers, body });
    }
    // Enough users to hold the rate even if every request takes the full timeout.
    let users = raw.users.unwrap_or_else(|| ((raw.rate * timeout.as_secs_f64()).ceil() as usize).clamp(4, 2000));
    Some(LoadPlan { target: raw.target, rate: raw.rate, users, timeout, requests, canary: raw.canary })
}
