//! `include:` and merge keys: a scenario built on shared files. The bundled
//! scenarios share one stack (`scenarios/_reference-stack.yaml`) and change
//! only what differs.
//!
//! `include: FILE` or `include: [A, B]` (relative to the including file) loads
//! each file (which may include others), and the scenario is merged over
//! them: mappings merge key by key at any depth, `timeline.phases` merges by
//! `name:`, every other list and scalar is replaced — the later include wins
//! over the earlier, the including file over all; a field set to null
//! (`health: null`) removes what an include set. Within each file, YAML
//! merge keys (`<<: *anchor`) are applied first; top-level keys starting with
//! `x-` are a place for anchors and are ignored.
//!
//! Every file's line index is kept in [`Ctx::included`], so an error in a
//! field an include wrote is reported at that file's line.

use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use crate::scenario::Ctx;
use crate::scenario::diag::{Diagnostic, Diagnostics};
use crate::scenario::locate::LineIndex;

/// Lists that merge item by item, matched by their `name:`.
const NAMED_LISTS: [&str; 1] = ["timeline.phases"];
/// Includes nest at most this deep, and a scenario reads at most `MAX_FILES`.
const MAX_DEPTH: usize = 8;
const MAX_FILES: usize = 32;

/// The scenarios in `dir`, sorted: `*.yaml` and `*.yml` files, except those
/// whose name starts with `_` (files to include, such as
/// `_reference-stack.yaml`, are not scenarios of their own).
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('_')))
        .collect();
    files.sort();
    Ok(files)
}

/// The document with its includes merged in and merge keys applied.
pub(super) fn expand(cx: &mut Ctx, mut root: Mapping, file: &Path) -> Result<Mapping, Diagnostics> {
    apply_merge_keys(&mut root, file, "")?;
    let mut chain = vec![canonical(file)];
    let mut included = std::mem::take(&mut cx.included);
    let base = includes(&cx.index, &mut included, &mut root, file, "", &mut chain);
    cx.included = included;
    Ok(match base? {
        Some(base) => merge_maps(base, root, ""),
        None => root,
    })
}

/// The merged content of `doc`'s `include:` (removed from `doc`), or `None`
/// when it has none; each file read is added to `included` with its line
/// index. `index` locates `file`'s own fields; `via` names the include chain
/// for messages.
fn includes(
    index: &LineIndex,
    included: &mut Vec<(PathBuf, LineIndex)>,
    doc: &mut Mapping,
    file: &Path,
    via: &str,
    chain: &mut Vec<PathBuf>,
) -> Result<Option<Mapping>, Diagnostics> {
    let Some(spec) = doc.remove("include") else { return Ok(None) };
    let list: Vec<(String, Value)> = match spec {
        Value::Sequence(items) => items.into_iter().enumerate().map(|(i, v)| (format!("include[{i}]"), v)).collect(),
        one => vec![("include".to_string(), one)],
    };
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut merged: Option<Mapping> = None;
    for (path, v) in list {
        let Value::String(name) = v else {
            return Err(at(index, file, via, &path, "`include` takes a file name or a list of them", "write `include: shared.yaml`"));
        };
        let target = dir.join(&name);
        let key = canonical(&target);
        if chain.contains(&key) {
            let hint = "an included file cannot include the file that includes it";
            return Err(at(index, file, via, &path, format!("`{name}` is already being included (a cycle)"), hint));
        }
        if chain.len() > MAX_DEPTH || included.len() >= MAX_FILES {
            let msg = format!("includes nest deeper than {MAX_DEPTH} or read more than {MAX_FILES} files");
            return Err(at(index, file, via, &path, msg, "flatten the shared files"));
        }
        let text = crate::files::read_to_string(&target).map_err(|e| {
            let hint = "the path is relative to the file that includes it";
            at(index, file, via, &path, format!("cannot read included file `{}`: {e}", target.display()), hint)
        })?;
        let Value::Mapping(mut doc) = super::document::parse(&text, &target)? else {
            let msg = format!("included file `{}` must be a YAML mapping (stack:, mocks:, ...)", target.display());
            return Err(at(index, file, via, &path, msg, "an included file has the sections of a scenario"));
        };
        apply_merge_keys(&mut doc, &target, &text)?;
        let doc_index = LineIndex::build(&text);
        chain.push(key);
        let base = includes(&doc_index, included, &mut doc, &target, &format!("{via}{} -> ", file.display()), chain)?;
        chain.pop();
        included.push((target.clone(), doc_index));
        let doc = match base {
            Some(base) => merge_maps(base, doc, ""),
            None => doc,
        };
        merged = Some(match merged {
            Some(earlier) => merge_maps(earlier, doc, ""),
            None => doc,
        });
    }
    Ok(merged)
}

/// An error about the `include:` field at `path` of `file`.
fn at(index: &LineIndex, file: &Path, via: &str, path: &str, message: impl Into<String>, hint: &str) -> Diagnostics {
    let pos = index.locate_value(path);
    let message = message.into();
    Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line: pos.map_or(0, |p| p.line),
        col: pos.map_or(0, |p| p.col),
        path: path.to_string(),
        message: if via.is_empty() { message } else { format!("{message} (included via {via}{})", file.display()) },
        hint: Some(hint.to_string()),
    }])
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`): keys the mapping has win.
/// Repeated until none is left, since a merged anchor may carry its own.
fn apply_merge_keys(doc: &mut Mapping, file: &Path, text: &str) -> Result<(), Diagnostics> {
    let mut value = Value::Mapping(std::mem::take(doc));
    for _ in 0..MAX_DEPTH {
        if !has_merge_key(&value) {
            break;
        }
        value.apply_merge().map_err(|e| {
            let line = text.lines().position(|l| l.trim_start().starts_with("<<")).map_or(0, |n| n + 1);
            Diagnostics(vec![Diagnostic {
                file: file.to_path_buf(),
                line,
                col: 0,
                path: String::new(),
                message: format!("a merge key cannot be applied: {e}"),
                hint: Some("`<<:` takes an alias of a mapping (`<<: *defaults`) or a list of them".into()),
            }])
        })?;
    }
    if let Value::Mapping(m) = value {
        *doc = m;
    }
    Ok(())
}

fn has_merge_key(v: &Value) -> bool {
    match v {
        Value::Mapping(m) => m.contains_key("<<") || m.values().any(has_merge_key),
        Value::Sequence(s) => s.iter().any(has_merge_key),
        Value::Tagged(t) => has_merge_key(&t.value),
        _ => false,
    }
}

/// `over` merged onto `base` (keys keep `base`'s order; new ones follow); a
/// key `over` sets to null is removed.
fn merge_maps(mut base: Mapping, over: Mapping, path: &str) -> Mapping {
    for (k, v) in over {
        if v.is_null() {
            base.remove(&k);
            continue;
        }
        let here = match &k {
            Value::String(s) if path.is_empty() => s.clone(),
            Value::String(s) => format!("{path}.{s}"),
            _ => String::new(),
        };
        match base.get_mut(&k) {
            Some(slot) => {
                let old = std::mem::take(slot);
                *slot = merge(old, v, &here);
            }
            None => {
                base.insert(k, v);
            }
        }
    }
    base
}

fn merge(base: Value, over: Value, path: &str) -> Value {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => Value::Mapping(merge_maps(b, o, path)),
        (Value::Sequence(b), Value::Sequence(o)) if NAMED_LISTS.contains(&path) => Value::Sequence(merge_named(b, o, path)),
        (_, over) => over,
    }
}

/// Items with the same `name:` merge in place; new names are appended.
fn merge_named(mut base: Vec<Value>, over: Vec<Value>, path: &str) -> Vec<Value> {
    for item in over {
        let name = item.get("name").cloned();
        match base.iter_mut().find(|b| name.is_some() && b.get("name") == name.as_ref()) {
            Some(slot) => {
                let old = std::mem::take(slot);
                *slot = merge(old, item, path);
            }
            None => base.push(item),
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Mapping {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn maps_merge_deeply_named_phases_by_name_other_lists_are_replaced() {
        let base = yaml(
            "stack:\n  services:\n    w: { command: a, env: { A: 1, B: 2 }, args: [x] }\n\
             timeline:\n  phases:\n    - { name: steady, duration: 3s }\n    - { name: outage, duration: 6s }\n",
        );
        let over = yaml(
            "stack:\n  services:\n    w: { env: { B: 3, A: null }, args: [y] }\n    c: { command: c }\n\
             timeline:\n  phases:\n    - { name: outage, duration: 9s }\n    - { name: after, duration: 1s }\n",
        );
        let m = merge_maps(base, over, "");
        let w = &m["stack"]["services"]["w"];
        assert_eq!(w["command"], Value::from("a"));
        assert_eq!((w["env"].get("A"), w["env"]["B"].as_u64()), (None, Some(3)), "null removes, the including file wins");
        assert_eq!(w["args"], serde_norway::from_str::<Value>("[y]").unwrap());
        assert!(m["stack"]["services"]["c"].is_mapping());
        let phases: Vec<(String, String)> = m["timeline"]["phases"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().into(), p["duration"].as_str().unwrap().into()))
            .collect();
        let want = [("steady", "3s"), ("outage", "9s"), ("after", "1s")];
        assert_eq!(phases, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn merge_keys_are_applied_and_the_mapping_wins() {
        let mut m = yaml("x-svc: &svc { command: a, ready: { path: /r } }\nstack:\n  services:\n    w: { <<: *svc, command: b }\n");
        apply_merge_keys(&mut m, Path::new("s.yaml"), "").unwrap();
        let w = &m["stack"]["services"]["w"];
        assert_eq!((w["command"].as_str(), w["ready"]["path"].as_str()), (Some("b"), Some("/r")));
        assert!(!has_merge_key(&Value::Mapping(m)));
        let mut bad = yaml("a: { <<: 1 }\n");
        let e = apply_merge_keys(&mut bad, Path::new("s.yaml"), "a: { <<: 1 }\n").unwrap_err();
        assert!(e.0[0].message.contains("merge key"), "{e}");
    }
}
