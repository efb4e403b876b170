//! The document's top level: which sections it has (unknown ones reported),
//! the scenario's name (which names its report directory), and the rules an
//! overhead scenario's sections follow.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

use crate::faults::MockConfig;
use crate::scenario::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::scenario::{Ctx, PhaseSpan, StackPlan};

/// The top-level fields a scenario may have (besides `x-` anchors).
pub const TOP_LEVEL: [&str; 14] = [
    "ordeal",
    "include",
    "vars",
    "name",
    "description",
    "seed",
    "runtime",
    "stack",
    "mocks",
    "load",
    "timeline",
    "alerting",
    "overhead",
    "expect",
];

/// The scenario format this ordeal reads (`ordeal: 1`; docs/CHANGELOG.md
/// lists what changed a verdict between releases).
pub const FORMAT: u64 = 1;

/// The document's top-level sections by name; unknown names are reported.
/// Text that is not YAML, or not a mapping, stops compilation here.
pub(super) fn top_level(cx: &mut Ctx, text: &str, file: &Path, o: &super::Overrides) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let Value::Mapping(map) = parse(text, file)? else {
        cx.err("", "the scenario must be a YAML mapping (name:, stack:, timeline:, ...)", None);
        return Err(Diagnostics(std::mem::take(&mut cx.diags)));
    };
    let mut map = super::include::expand(cx, map, file)?;
    super::overrides::apply(cx, &mut map, o)?;
    let mut sections = BTreeMap::new();
    for (k, v) in map {
        let key = match k {
            Value::String(s) => s,
            other => format!("{other:?}"),
        };
        if key.starts_with("x-") {
            continue; // a place for anchors (`x-service: &svc {...}`)
        }
        if !TOP_LEVEL.contains(&key.as_str()) {
            let close = did_you_mean(&key, TOP_LEVEL);
            if let Some(s) = close {
                // A misspelt section: this error is the root; its absence and references to it are not reported.
                cx.broken.insert(s.to_string());
            }
            let hint = close.map(|s| format!("did you mean `{s}`?"));
            cx.err(&key, format!("unknown top-level field `{key}`"), hint.or(Some(format!("valid: {}", TOP_LEVEL.join(", ")))));
            continue;
        }
        sections.insert(key, v);
    }
    Ok(sections)
}

/// The document ordeal compiles from `file`: its includes merged in, merge
/// keys applied and `{{vars.NAME}}` filled with the defaults of `vars:`
/// (what the strict scenario schema describes).
pub fn merged_document(file: &Path) -> Result<serde_norway::Mapping, Diagnostics> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            path: String::new(),
            message: format!("cannot read the scenario: {e}"),
            hint: None,
        }])
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut cx = Ctx::new(file, text);
    let Value::Mapping(map) = parse(text, file)? else {
        return Err(Diagnostics(vec![Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            path: String::new(),
            message: "the scenario must be a YAML mapping".into(),
            hint: None,
        }]));
    };
    let mut map = super::include::expand(&mut cx, map, file)?;
    super::overrides::apply(&mut cx, &mut map, &super::Overrides::default())?;
    Ok(map)
}

/// YAML text -> a value, or the located reason it is not YAML.
pub(super) fn parse(text: &str, file: &Path) -> Result<Value, Diagnostics> {
    if let Some((line, col)) = too_deep(text) {
        return Err(Diagnostics(vec![Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            path: String::new(),
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
            hint: Some("a scenario needs a few levels; check for unbalanced `[` or `{`".into()),
        }]));
    }
    serde_norway::from_str(text).map_err(|e| {
        let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        Diagnostics(vec![duplicate_key(file, text, &e.to_string(), line, col).unwrap_or_else(|| Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            path: String::new(),
            message: format!("not valid YAML: {e}"),
            hint: Some("check indentation and quoting around this line".into()),
        })])
    })
}

/// `name:`, or the file's stem. It names the report directory, so it cannot
/// climb out of `reports/`.
/// The timeline's phases (none in an overhead scenario); a timeline with an
/// error is marked broken, so windows naming its phases are not reported too.
pub(super) fn phases(cx: &mut Ctx, overhead: bool, timeline: Option<&Value>) -> Vec<PhaseSpan> {
    match (overhead, timeline) {
        (true, Some(_)) => {
            cx.err(
                "timeline",
                "an overhead scenario has no timeline",
                Some("remove `timeline:`; rounds, warm-up and measured time are set under `overhead:`".into()),
            );
            Vec::new()
        }
        (true, None) => Vec::new(),
        (false, _) => {
            let before = cx.diags.len();
            let phases = crate::scenario::timeline::compile_phases(cx, timeline);
            if cx.diags.len() > before {
                cx.broken.insert("timeline".into());
            }
            phases
        }
    }
}

/// `stack:`; when it is missing, misspelt or invalid, references to its services are not reported again.
pub(super) fn stack_section(cx: &mut Ctx, v: Option<Value>, mocks: &BTreeMap<String, MockConfig>) -> Option<StackPlan> {
    let stack = match v {
        Some(v) => crate::scenario::stack::compile_stack(cx, v, mocks),
        None if cx.broken.contains("stack") => None,
        None => {
            cx.err("", "missing `stack:` section", Some("declare the services to start under `stack: services:`".into()));
            None
        }
    };
    if stack.is_none() {
        cx.broken.insert("stack".into());
        cx.broken.insert("services".into());
    }
    stack
}

/// `ordeal:`, the scenario format version: optional; when given, it must be one this ordeal reads.
pub(super) fn format_version(cx: &mut Ctx, v: Option<Value>) {
    if let Some(version) = v.and_then(|v| cx.de::<u64>("ordeal", v))
        && version != FORMAT
    {
        let hint = format!("this ordeal reads format {FORMAT}: write `ordeal: {FORMAT}` (docs/CHANGELOG.md says what changed)");
        cx.err_value("ordeal", format!("unknown scenario format {version}"), Some(hint));
    }
}

pub(super) fn scenario_name(cx: &mut Ctx, v: Option<Value>, file: &Path) -> String {
    let name = v
        .and_then(|v| cx.de::<String>("name", v))
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into()));
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name.contains("..") {
        let hint = "use letters, digits, `-` and `_`; the name names the report directory";
        cx.err_value("name", format!("`{name}` cannot name a scenario"), Some(hint.into()));
    }
    name
}

/// An overhead scenario drives a load in every round and runs no alerting.
pub(super) fn overhead_scenario_rules(cx: &mut Ctx, has_load: bool, has_alerting: bool) {
    if !has_load && !cx.diags.iter().any(|d| d.path.starts_with("load")) {
        cx.err(
            "",
            "an overhead scenario needs a `load:` section",
            Some("every round drives the same load; declare it under `load:`".into()),
        );
    }
    if has_alerting {
        cx.err(
            "alerting",
            "`alerting:` does not apply to an overhead scenario",
            Some("remove it; overhead rounds measure the stack alone".into()),
        );
    }
}

/// Deepest flow nesting (`[`, `{`) a scenario may have: deeper input is
/// refused before the YAML parser, whose time grows quadratically with it.
const MAX_DEPTH: usize = 64;

/// The YAML parser reports a duplicate key at the *first* definition
/// ("stack.services: duplicate entry with key \"a\" at line 4 column 5"); the
/// mistake is the second. Finds it (the next line at the same indentation
/// naming the key, before the mapping ends) and says so; `None` for any other
/// error or a duplicate inside a flow mapping.
fn duplicate_key(file: &Path, text: &str, message: &str, line: usize, col: usize) -> Option<Diagnostic> {
    let (path, rest) = message.split_once(": duplicate entry with key \"")?;
    let key = rest.split('"').next()?;
    let indent = col.checked_sub(1)?;
    for (n, l) in text.lines().enumerate().skip(line) {
        let body = l.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let here = l.len() - body.len();
        if here < indent {
            return None;
        }
        let named = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")].iter().any(|k| body.starts_with(k.as_str()));
        if here == indent && named {
            return Some(Diagnostic {
                file: file.to_path_buf(),
                line: n + 1,
                col,
                path: format!("{path}.{key}"),
                message: format!("`{key}` is declared twice in `{path}` (first at line {line})"),
                hint: Some("rename one of them, or merge the two".into()),
            });
        }
    }
    None
}

/// Where flow nesting first exceeds [`MAX_DEPTH`] (1-based line and column),
/// ignoring quoted text and comments; block nesting counts by indentation.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 2 * MAX_DEPTH {
            return Some((n + 1, indent + 1));
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, ch) in line.char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((n + 1, col + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = ch;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("stack: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let t = std::time::Instant::now();
        assert_eq!(super::too_deep(&deep), Some((1, 7 + super::MAX_DEPTH + 1)));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(super::too_deep("a: [[1, 2], {b: \"[[[[\"}] # [[[[\n"), None);
        assert!(super::too_deep(&format!("a:\n{}b: 1\n", " ".repeat(200))).is_some());
    }

    #[test]
    fn a_duplicate_key_is_reported_at_its_second_definition() {
        let text = "stack:\n  services:\n    a: { command: x }\n    b:\n      a: 1\n    # a: comment\n    a: { command: z }\n";
        let e = serde_norway::from_str::<serde_norway::Value>(text).unwrap_err();
        let l = e.location().unwrap();
        let f = std::path::Path::new("s.yaml");
        let d = super::duplicate_key(f, text, &e.to_string(), l.line(), l.column()).unwrap_or_else(|| panic!("{e}"));
        assert_eq!((d.line, d.col, d.path.as_str()), (7, 5, "stack.services.a"), "{e}");
        assert_eq!(d.message, "`a` is declared twice in `stack.services` (first at line 3)");
        assert!(super::duplicate_key(f, text, "something else", 1, 1).is_none());
    }
}
