//! Overrides from the command line, applied to the document after its
//! includes are merged and checked like the file:
//!
//! - `--set PATH=VALUE` changes or adds one field: `load.rate=100`,
//!   `timeline.phases.outage.duration=30s` (list items by `name:` or index),
//!   the value read as YAML (`100` a number, `30s` a string, `[a, b]` a list);
//! - `--var NAME=VALUE` fills `{{vars.NAME}}` in any value, over the defaults
//!   of the scenario's `vars:`; a value that is only the template takes the
//!   value's YAML type;
//! - `--only NAME|KIND|TAG` keeps the expectations with that name, kind or tag.
//!
//! An error in an overridden field names the `--set` argument instead of a
//! line (see [`Ctx::overrides`]); an unknown path gets a "did you mean".

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_norway::{Mapping, Value};

use crate::expect::expectations::Expectation;
use crate::scenario::Ctx;
use crate::scenario::diag::{Diagnostic, Diagnostics, did_you_mean};

/// What the command line changes in a scenario.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `PATH=VALUE` arguments of `--set`.
    pub set: Vec<String>,
    /// `NAME=VALUE` arguments of `--var`.
    pub vars: Vec<String>,
    /// `--only` arguments: expectation names, kinds or tags.
    pub only: Vec<String>,
}

impl Overrides {
    /// The arguments as given (`--set load.rate=100`), for the report.
    pub fn args(&self) -> Vec<String> {
        let flag = |f: &'static str| move |a: &String| format!("{f} {a}");
        self.set.iter().map(flag("--set")).chain(self.vars.iter().map(flag("--var"))).chain(self.only.iter().map(flag("--only"))).collect()
    }
}

/// A problem with one command-line argument (`--set load.rate=x`).
fn arg_err(flag: &str, arg: &str, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
    Diagnostic { file: PathBuf::from(format!("{flag} {arg}")), line: 0, col: 0, path: String::new(), message: message.into(), hint }
}

fn split_arg<'a>(flag: &str, arg: &'a str, what: &str) -> Result<(&'a str, &'a str), Diagnostic> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(arg_err(
            flag,
            arg,
            format!("expected {what}=VALUE"),
            Some(format!("write `{flag} {what}=VALUE`, e.g. `--set load.rate=100`")),
        )),
    }
}

/// A command-line value read as YAML; text that is not YAML stays text.
fn yaml_value(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `{{vars.NAME}}` filled in every value, then every `--set` applied.
pub(super) fn apply(cx: &mut Ctx, doc: &mut Mapping, o: &Overrides) -> Result<(), Diagnostics> {
    let mut errs = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if let Some(declared) = doc.remove("vars") {
        match cx.de::<BTreeMap<String, crate::scenario::Scalar>>("vars", declared) {
            Some(d) => vars.extend(d.into_iter().map(|(k, v)| (k, v.0))),
            None => return Err(Diagnostics(std::mem::take(&mut cx.diags))),
        }
    }
    let mut given = Vec::new();
    for arg in &o.vars {
        match split_arg("--var", arg, "NAME") {
            Ok((k, v)) => {
                vars.insert(k.to_string(), v.to_string());
                given.push((k.to_string(), arg.clone()));
            }
            Err(d) => errs.push(d),
        }
    }
    let mut used = Vec::new();
    for (key, value) in doc.iter_mut() {
        let path = key.as_str().unwrap_or("?").to_string();
        fill(cx, value, &path, &vars, &mut used);
    }
    for (name, arg) in given {
        if !used.contains(&name) {
            let hint = did_you_mean(&name, used.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            let hint = hint.or(Some("write `{{vars.NAME}}` where the value goes".into()));
            errs.push(arg_err("--var", &arg, format!("the scenario has no `{{{{vars.{name}}}}}`"), hint));
        }
    }
    for arg in &o.set {
        match split_arg("--set", arg, "PATH")
            .and_then(|(path, value)| set(doc, path, yaml_value(value)).map_err(|(m, h)| arg_err("--set", arg, m, h)))
        {
            Ok(logical) => cx.overrides.push((logical, format!("--set {arg}"))),
            Err(d) => errs.push(d),
        }
    }
    if errs.is_empty() && cx.diags.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(errs.into_iter().chain(std::mem::take(&mut cx.diags)).collect()))
    }
}

/// Templates `{{vars.NAME}}` in string values under `path`, filled.
fn fill(cx: &mut Ctx, v: &mut Value, path: &str, vars: &BTreeMap<String, String>, used: &mut Vec<String>) {
    match v {
        Value::String(s) if s.contains("{{vars.") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{vars.") {
                let Some(len) = rest[start..].find("}}") else { break };
                let name = rest[start + 7..start + len].trim().to_string();
                out.push_str(&rest[..start]);
                match vars.get(&name) {
                    Some(value) => out.push_str(value),
                    None => {
                        let hint = format!("pass `--var {name}=VALUE`, or give a default under `vars:` ({name}: ...)");
                        cx.err_value(path, format!("`{{{{vars.{name}}}}}` is not set"), Some(hint));
                        out.push_str(&rest[start..start + len + 2]);
                    }
                }
                if !used.contains(&name) {
                    used.push(name);
                }
                rest = &rest[start + len + 2..];
            }
            out.push_str(rest);
            let whole = s.trim().starts_with("{{vars.") && s.trim().ends_with("}}") && s.matches("{{").count() == 1;
            *v = if whole { yaml_value(&out) } else { Value::String(out) };
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let p = format!("{path}.{}", k.as_str().unwrap_or("?"));
                fill(cx, item, &p, vars, used);
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                fill(cx, item, &format!("{path}[{i}]"), vars, used);
            }
        }
        _ => {}
    }
}

/// Sets `path` (dot-separated; list items by `name:` or index) to `value`;
/// the field's path as diagnostics name it (`timeline.phases[1].duration`).
fn set(doc: &mut Mapping, path: &str, value: Value) -> Result<String, (String, Option<String>)> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err((format!("`{path}` is not a field path"), Some("write dot-separated names: `load.rate`".into())));
    }
    let mut root = Value::Mapping(std::mem::take(doc));
    let result = set_in(&mut root, &segments, value, String::new());
    if let Value::Mapping(m) = root {
        *doc = m;
    }
    result
}

fn set_in(node: &mut Value, segments: &[&str], value: Value, at: String) -> Result<String, (String, Option<String>)> {
    let (seg, rest) = (segments[0], &segments[1..]);
    let here = if at.is_empty() { "the scenario".to_string() } else { format!("`{at}`") };
    match node {
        Value::Mapping(m) => {
            let path = if at.is_empty() { seg.to_string() } else { format!("{at}.{seg}") };
            if rest.is_empty() {
                m.insert(Value::String(seg.to_string()), value);
                return Ok(path);
            }
            let keys: Vec<String> = m.keys().filter_map(|k| k.as_str().map(String::from)).collect();
            match m.get_mut(seg) {
                Some(child) => set_in(child, rest, value, path),
                None => Err(missing(seg, &here, &keys)),
            }
        }
        Value::Sequence(items) => {
            let name_of = |i: &Value| i.get("name").and_then(Value::as_str).map(String::from);
            let names: Vec<String> = items.iter().filter_map(name_of).collect();
            let index = items
                .iter()
                .position(|i| name_of(i).as_deref() == Some(seg))
                .or_else(|| seg.parse().ok().filter(|&n: &usize| n < items.len()));
            let Some(index) = index else { return Err(missing(seg, &here, &names)) };
            let path = format!("{at}[{index}]");
            if rest.is_empty() {
                items[index] = value;
                return Ok(path);
            }
            set_in(&mut items[index], rest, value, path)
        }
        _ => Err((format!("{here} is a single value: it has no `{seg}`"), Some(format!("set `{at}` itself")))),
    }
}

fn missing(seg: &str, here: &str, known: &[String]) -> (String, Option<String>) {
    let hint = did_you_mean(seg, known.iter().map(String::as_str))
        .map(|s| format!("did you mean `{s}`?"))
        .or_else(|| (!known.is_empty()).then(|| format!("{here} has: {}", known.join(", "))));
    (format!("{here} has no `{seg}`"), hint)
}

/// The expectations `--only` keeps: those with a name, kind or tag it gives;
/// an argument that matches none is an error with a "did you mean".
pub(super) fn only(expectations: Vec<Expectation>, only: &[String]) -> Result<Vec<Expectation>, Diagnostics> {
    if only.is_empty() {
        return Ok(expectations);
    }
    let labels =
        |e: &Expectation| -> Vec<String> { [e.name.clone(), e.kind().to_string()].into_iter().chain(e.tags.iter().cloned()).collect() };
    let mut errs = Vec::new();
    for arg in only {
        if !expectations.iter().any(|e| labels(e).contains(arg)) {
            let all: Vec<String> = expectations.iter().flat_map(labels).collect();
            let hint = did_you_mean(arg, all.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .or(Some("give an expectation's name, its kind, or one of its `tags:`".into()));
            errs.push(arg_err("--only", arg, "no expectation has this name, kind or tag", hint));
        }
    }
    if !errs.is_empty() {
        return Err(Diagnostics(errs));
    }
    Ok(expectations.into_iter().filter(|e| labels(e).iter().any(|l| only.contains(l))).collect())
}
