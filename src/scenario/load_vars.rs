//! `load.data` and the per-send values of load requests (`{{seq}}`,
//! `{{uuid}}`, `{{rand.int(A,B)}}`, `{{data.FIELD}}`): reads the data file
//! and checks every template against it at compile time, so no request can
//! fail to build at run time (see `crate::load::vars`).

use std::collections::BTreeMap;
use std::path::Path;

use super::ctx::{Ctx, Scalar};
use super::load::{RawData, RequestPlan};
use crate::load::vars::{Body, DataSet, Names, Text, Varying};

/// Read and parse the data file; errors point at `load.data`.
pub fn compile_data(cx: &mut Ctx, raw: RawData, dir: &Path) -> Option<DataSet> {
    let (file, order) = match raw {
        RawData::File(f) => (f, Default::default()),
        RawData::Full { file, order } => (file, order),
    };
    let p = dir.join(&file);
    let bytes = match crate::files::read(&p) {
        Ok(b) => b,
        Err(e) => {
            cx.err_value("load.data", format!("cannot read {}: {e}", p.display()), Some("paths are relative to the scenario file".into()));
            return None;
        }
    };
    match DataSet::parse(&p, &bytes, order) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err_value("load.data", e, None);
            None
        }
    }
}

/// What a request's templates may name.
pub struct Scope<'a> {
    /// The load's shared headers (the first `common.len()` of a request's).
    pub common: &'a BTreeMap<String, Scalar>,
    /// Errors in the shared headers are reported once, with the first request.
    pub first: bool,
    pub data: Option<&'a DataSet>,
    /// The earlier steps of a sequence (`{{steps.NAME.FIELD}}`).
    pub steps: &'a [String],
}

/// The request's templated parts, each checked; a data field a request uses
/// must be in every row, and a row must not make a header unsendable.
/// `req.headers` starts with the load's `common` ones: their errors are
/// reported once, with the first request.
pub fn compile_varying(cx: &mut Ctx, path: &str, req: &RequestPlan, scope: &Scope) -> Varying {
    let (common, first, data) = (scope.common, scope.first, scope.data);
    let names = Names { fields: data.map(|d| d.fields.as_slice()), steps: scope.steps };
    let mut v = Varying::default();
    let parse = |cx: &mut Ctx, field: &str, text: &str| match Text::parse(text, &names) {
        Ok(t) => (!t.is_static()).then_some(t),
        Err(e) => {
            cx.err_value(field, e, None);
            None
        }
    };
    v.path = parse(cx, &format!("{path}.path"), &req.path);
    for (i, (k, value)) in req.headers.iter().enumerate() {
        let shared = i < common.len();
        let field = if shared { format!("load.headers.{k}") } else { format!("{path}.headers.{k}") };
        if shared && !first {
            // Reported with the first request; parsed quietly for this one.
            if let Ok(t) = Text::parse(value, &names)
                && !t.is_static()
            {
                v.headers.push((k.clone(), t));
            }
            continue;
        }
        if let Some(t) = parse(cx, &field, value) {
            check_header_rows(cx, &field, k, &t, data);
            v.headers.push((k.clone(), t));
        }
    }
    if let Some(bytes) = &req.body
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        match Body::parse(&json, &names) {
            Ok(b) if !b.is_static() => v.body = Some(b),
            Ok(_) => {}
            Err(e) => cx.err_value(&format!("{path}.body"), e, None),
        }
    }
    if let Some(d) = data {
        for f in v.fields() {
            if let Some(line) = d.missing(f) {
                cx.err_value(
                    "load.data",
                    format!("the row on line {line} has no `{}`, which request `{}` uses", d.fields[f], req.name),
                    Some("give every row the field (a JSON line may not leave it out)".into()),
                );
            }
        }
    }
    v
}

/// Every row's value of the data fields a header uses must be sendable.
fn check_header_rows(cx: &mut Ctx, field: &str, header: &str, t: &Text, data: Option<&DataSet>) {
    let Some(d) = data else { return };
    for f in t.fields() {
        if let Some((line, _)) = d.find(f, |v| reqwest::header::HeaderValue::from_str(v).is_ok()) {
            cx.err_value(
                field,
                format!(
                    "the data row on line {line} puts a value header `{header}` cannot carry in `{}` (control characters such as CR or LF)",
                    d.fields[f]
                ),
                Some("remove line breaks and control characters from that field".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::diag::Diagnostic;

    const DOC: &str = r#"
name: data
stack:
  services:
    api: { command: api, env: { LISTEN: "127.0.0.1:{{self.port}}" } }
load:
  target: api
  rate: 10
  DATA
  requests:
    - name: get
      path: PATH
      headers: { X-Tenant: "{{data.tenant}}" }
      body: { id: "{{seq}}", n: "{{rand.int(1,3)}}" }
timeline:
  phases:
    - { name: steady, duration: 2s }
expect:
  - { kind: load, error_ratio: "== 0" }
"#;

    /// Compile DOC with `data` as the data line, `path` as the request path and `file` as d.csv.
    fn compile(data: &str, path: &str, file: &str) -> Result<crate::plan::Plan, Vec<Diagnostic>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.csv"), file).unwrap();
        let text = DOC.replace("DATA", data).replace("PATH", path);
        crate::plan::compile(&text, &dir.path().join("s.yaml")).map_err(|e| e.0)
    }

    #[test]
    fn the_canary_header_and_env_keys_compile() {
        let with = |canary: &str| compile(&format!("data: d.csv\n  canary: {canary}"), "/x", "user,tenant\na,t1\n");
        assert_eq!(with("true").unwrap().load.unwrap().canary.as_deref(), Some("Authorization"));
        assert_eq!(with("{ header: X-Api-Key }").unwrap().load.unwrap().canary.as_deref(), Some("X-Api-Key"));
        assert_eq!(with("false").unwrap().load.unwrap().canary, None);
        let errs = with("{ header: \"bad header\" }").unwrap_err();
        assert_eq!(errs[0].path, "load.canary.header", "{errs:?}");
        for bad in ["{ header: X-Api-Key, extra: 1 }", "\"yes\""] {
            let errs = with(bad).unwrap_err();
            assert_eq!(errs[0].path, "load.canary", "{bad}: {errs:?}");
            assert!(errs[0].message.contains("{ header: NAME }"), "{bad}: {errs:?}");
        }
        let headers = "data: d.csv\n  headers: { Authorization: \"Bearer {{env.ORDEAL_SURELY_UNSET_GW_KEY:-sk-gw-0123456789}}\" }";
        let plan = compile(headers, "/x", "user,tenant\na,t1\n").unwrap();
        let load = plan.load.unwrap();
        let (k, t) = &load.requests[0].varying.headers[0];
        assert_eq!(k, "Authorization");
        assert_eq!(t.render(&crate::load::vars::Send::new(0, 1, None), crate::load::vars::url_escape), "Bearer sk-gw-0123456789");
    }

    #[test]
    fn a_data_file_and_builtins_compile() {
        let plan = compile("data: d.csv", "/users/{{data.user}}/{{seq}}", "user,tenant\na,t1\nb,t2\n").unwrap();
        let load = plan.load.unwrap();
        assert_eq!(load.data.as_ref().unwrap().rows.len(), 2);
        let v = &load.requests[0].varying;
        assert!(v.path.is_some() && v.body.is_some());
        assert_eq!(v.headers.len(), 1);
    }

    #[test]
    fn template_errors_point_at_the_field() {
        let errs = compile("data: d.csv", "/users/{{data.usr}}", "user,tenant\na,t1\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].path, "load.requests[0].path");
        assert!(errs[0].message.contains("did you mean `user`"), "{errs:#?}");
        assert_eq!(errs[0].line, 12, "{errs:#?}");
        // No data file: every `{{data.F}}` says what to add.
        let errs = compile("", "/x", "").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].message.contains("needs a data file"), "{errs:#?}");
    }

    #[test]
    fn data_rows_are_checked_before_the_run() {
        // A row whose value a header cannot carry, named by its line.
        let errs = compile("data: d.csv", "/x", "user,tenant\na,t1\nb,\"t\r\n2\"\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].path, "load.requests[0].headers.X-Tenant");
        assert!(errs[0].message.contains("line 3"), "{errs:#?}");
        // A CSV row with a missing column.
        let errs = compile("data: d.csv", "/x", "user,tenant\na\n").unwrap_err();
        assert!(errs[0].message.contains("line 2"), "{errs:#?}");
        assert_eq!(errs[0].path, "load.data");
        // A missing file.
        let errs = compile("data: nope.csv", "/x", "").unwrap_err();
        assert!(errs[0].message.contains("cannot read"), "{errs:#?}");
        let errs = compile("data: { file: d.csv, order: shuffled }", "/x", "tenant\na\n").unwrap_err();
        assert_eq!(errs[0].path, "load.data", "{errs:#?}");
    }

    const SEQ: &str = r#"
name: seq
stack:
  services:
    api: { command: api, env: { LISTEN: "127.0.0.1:{{self.port}}" } }
load:
  target: api
  rate: 10
  requests:
    - name: flow
      STEPS
timeline:
  phases:
    - { name: steady, duration: 2s }
expect:
  - { kind: load, request: CHECKED, error_ratio: "== 0" }
"#;

    fn sequence(steps: &str, checked: &str) -> Result<crate::plan::Plan, Vec<Diagnostic>> {
        let text = SEQ.replace("STEPS", steps).replace("CHECKED", checked);
        crate::plan::compile(&text, std::path::Path::new("/tmp/s.yaml")).map_err(|e| e.0)
    }

    #[test]
    fn sequences_compile_and_name_their_steps() {
        let ok = "steps:\n        - { name: submit, method: POST, path: /tasks }\n        - { name: result, path: \"/tasks/{{steps.submit.id}}\" }";
        let plan = sequence(ok, "flow.result").unwrap();
        let load = plan.load.unwrap();
        let names: Vec<&str> = load.names().collect();
        assert_eq!(names, ["flow", "flow.submit", "flow.result"]);
        assert!(load.requests[0].steps[1].varying.path.is_some());
        // A step may only use an earlier one; names are checked.
        let back = "steps:\n        - { name: a, path: \"/x/{{steps.b.id}}\" }\n        - { name: b, path: /y }";
        let errs = sequence(back, "flow").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].path, "load.requests[0].steps[0].path");
        assert!(errs[0].message.contains("later step of a sequence"), "{errs:#?}");
        let errs = sequence(ok, "flow.resutl").unwrap_err();
        assert!(
            errs[0].message.contains("no request named `flow.resutl`") && errs[0].hint.as_deref() == Some("did you mean `flow.result`?"),
            "{errs:#?}"
        );
        // A sequence carries no path of its own; a plain request needs one.
        let errs = sequence(&format!("path: /x\n      {ok}"), "flow").unwrap_err();
        assert_eq!(errs[0].path, "load.requests[0].path", "{errs:#?}");
        let errs = sequence("method: GET", "flow").unwrap_err();
        assert!(errs[0].message.contains("has no `path`"), "{errs:#?}");
        let errs = sequence("steps: []", "flow").unwrap_err();
        assert!(errs[0].message.contains("at least one step"), "{errs:#?}");
        let twice = "steps:\n        - { name: a, path: /x }\n        - { name: a, path: /y }";
        assert!(sequence(twice, "flow").unwrap_err()[0].message.contains("two steps are named `a`"));
        // A sequence's headers go with every step; its method would be ignored, so it is refused.
        let plan = sequence(&format!("headers: {{ X-T: t1 }}\n      {ok}"), "flow").unwrap();
        let steps = &plan.load.unwrap().requests[0].steps;
        assert!(steps.iter().all(|s| s.headers.contains(&("X-T".to_string(), "t1".to_string()))), "{steps:#?}");
        let errs = sequence(&format!("method: POST\n      {ok}"), "flow").unwrap_err();
        assert_eq!(errs[0].path, "load.requests[0].method", "{errs:#?}");
        assert!(sequence("path: \"\"", "flow").unwrap_err()[0].message.contains("the path is empty"));
    }
}
