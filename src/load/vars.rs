//! Per-request values: a load request's path, header values and JSON body
//! may hold `{{seq}}` (the send's number, from 0), `{{uuid}}` (a random v4
//! UUID), `{{rand.int(A,B)}}` (seeded, A..=B) and `{{data.FIELD}}` (a field of
//! the data file's current row: CSV with a header row, or JSON lines).
//!
//! Everything is parsed and checked when the scenario compiles (unknown names,
//! fields missing from a row, header values a row would make unsendable), so
//! a send only fills holes: no request fails at run time because of its data.
//! Rows are used in file order, one per send, cycling (`order: random`
//! picks a seeded row instead). `rand.int` values and random rows depend only on the
//! run's seed and the send's number, so a run with the same seed sends the
//! same data; `{{uuid}}` is unique across runs.
//!
//! In a request sequence, `{{steps.NAME.FIELD}}` is a field of an earlier
//! step's JSON answer (`FIELD` may be a dotted path, numbers index arrays:
//! `{{steps.submit.items.0.id}}`). Whether the answer has it is only known at
//! run time: a step whose value is missing is not sent, and the sequence fails
//! naming the field ([`Varying::unresolved`]).

use std::path::Path;

use serde_json::Value;

/// A hole in a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Hole {
    Seq,
    Uuid,
    RandInt(i64, i64),
    /// Index of the field in [`DataSet::fields`].
    Data(usize),
    /// A field of an earlier step's answer: the step's index, the path into its JSON.
    Step(usize, Vec<String>),
}

/// What templates may name: the data file's fields (None: no data file) and
/// the earlier steps of a sequence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    pub fields: Option<&'a [String]>,
    pub steps: &'a [String],
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    /// `{{env.NAME}}`, read when the scenario compiled: sent as it is, but not
    /// written as it is (the request is rendered, so the raw template never goes out).
    Env(String),
    Hole(Hole),
}

/// A string with holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(Vec<Part>);

/// The built-ins, for "valid:" hints.
pub const BUILTINS: &str = "{{seq}}, {{uuid}}, {{rand.int(1,100)}}, {{data.FIELD}}, {{steps.STEP.FIELD}}, {{env.NAME}}";

impl Text {
    /// Parse `s`, whose holes may use `names`.
    pub fn parse(s: &str, names: &Names) -> Result<Text, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("{{") {
            if i > 0 {
                parts.push(Part::Lit(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let j = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in `{s}`"))?;
            let name = after[..j].trim();
            match name.strip_prefix("env.") {
                // The harness's environment, read once: an API key stays out of
                // the scenario file, and is masked in everything ordeal writes.
                Some(env) => {
                    let value = crate::scenario::template::env_value(env)?;
                    if value.chars().any(char::is_control) {
                        let name = env.split(":-").next().unwrap_or(env);
                        return Err(format!(
                            "the value of `{name}` holds a control character (a CR or newline from a .env file?): it cannot be sent"
                        ));
                    }
                    crate::secrets::register(&value);
                    parts.push(Part::Env(value));
                }
                None => parts.push(Part::Hole(hole(name, names)?)),
            }
            rest = &after[j + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Text(parts))
    }

    /// No holes: the string is sent as written.
    pub fn is_static(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The one hole the whole string is, if it is exactly one.
    fn whole(&self) -> Option<&Hole> {
        match self.0.as_slice() {
            [Part::Hole(h)] => Some(h),
            _ => None,
        }
    }

    /// The data fields this text uses.
    pub fn fields(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().filter_map(|p| match p {
            Part::Hole(Hole::Data(i)) => Some(*i),
            _ => None,
        })
    }

    /// The answers' fields this text uses.
    fn step_refs(&self) -> impl Iterator<Item = (usize, &[String])> + '_ {
        self.0.iter().filter_map(|p| match p {
            Part::Hole(Hole::Step(i, path)) => Some((*i, path.as_slice())),
            _ => None,
        })
    }

    /// Fill the holes; `escape` encodes data values (e.g. for a URL path).
    pub fn render(&self, send: &Send, escape: fn(&str) -> String) -> String {
        let mut out = String::new();
        for (n, p) in self.0.iter().enumerate() {
            match p {
                Part::Lit(s) => out.push_str(s),
                // Encoded like data values: in a path, `/ ? # %` in a value stay in it.
                Part::Env(s) => out.push_str(&escape(s)),
                Part::Hole(h @ (Hole::Data(_) | Hole::Step(..))) => out.push_str(&escape(&text_of(&send.value(h, n)))),
                Part::Hole(h) => out.push_str(&text_of(&send.value(h, n))),
            }
        }
        out
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn hole(name: &str, names: &Names) -> Result<Hole, String> {
    let fields = names.fields;
    match name {
        "seq" => return Ok(Hole::Seq),
        "uuid" => return Ok(Hole::Uuid),
        _ => {}
    }
    if let Some(args) = name.strip_prefix("rand.int(").and_then(|a| a.strip_suffix(')')) {
        let bad = || format!("`{{{{{name}}}}}`: write `{{{{rand.int(A,B)}}}}` with whole numbers A <= B, e.g. `{{{{rand.int(1,100)}}}}`");
        let (a, b) = args.split_once(',').ok_or_else(bad)?;
        let (a, b): (i64, i64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        return if a <= b { Ok(Hole::RandInt(a, b)) } else { Err(bad()) };
    }
    if let Some(field) = name.strip_prefix("data.") {
        let Some(fields) = fields else {
            return Err(format!("`{{{{{name}}}}}` needs a data file: add `data: FILE.csv` (or `.jsonl`) to `load:`"));
        };
        return fields.iter().position(|f| f == field).map(Hole::Data).ok_or_else(|| {
            let hint = crate::scenario::diag::did_you_mean(field, fields.iter().map(String::as_str))
                .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
            format!("the data file has no field `{field}`{hint}; its fields are: {}", fields.join(", "))
        });
    }
    if let Some(rest) = name.strip_prefix("steps.") {
        return step_hole(name, rest, names.steps);
    }
    Err(format!("unknown value `{{{{{name}}}}}` in a load request; valid: {BUILTINS}"))
}

/// `steps.STEP.FIELD[.FIELD...]`: STEP must come earlier in the sequence.
fn step_hole(name: &str, rest: &str, steps: &[String]) -> Result<Hole, String> {
    let mut it = rest.split('.');
    let step = it.next().unwrap_or_default();
    let path: Vec<String> = it.map(String::from).collect();
    let Some(i) = steps.iter().position(|s| s == step) else {
        if steps.is_empty() {
            return Err(format!("`{{{{{name}}}}}` names an earlier step's answer: only a later step of a sequence (`steps:`) can use it"));
        }
        let hint = crate::scenario::diag::did_you_mean(step, steps.iter().map(String::as_str))
            .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
        return Err(format!("`{{{{{name}}}}}`: no earlier step named `{step}`{hint}; earlier steps: {}", steps.join(", ")));
    };
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(format!("`{{{{{name}}}}}`: name a field of the answer, e.g. `{{{{steps.{step}.id}}}}`"));
    }
    Ok(Hole::Step(i, path))
}

/// A JSON body with holes in its strings. A string that is exactly one hole
/// takes the value's own type: `"{{seq}}"` and `"{{rand.int(1,9)}}"` become
/// numbers, `"{{data.F}}"` the row's value (a JSON line's number or object
/// stays one; CSV fields are strings).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Static(Value),
    Text(Text),
    Array(Vec<Body>),
    Object(Vec<(String, Body)>),
}

impl Body {
    pub fn parse(v: &Value, names: &Names) -> Result<Body, String> {
        Ok(match v {
            Value::String(s) if s.contains("{{") => Body::Text(Text::parse(s, names)?),
            Value::Array(items) => {
                let items = items.iter().map(|i| Body::parse(i, names)).collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|i| matches!(i, Body::Static(_))) { Body::Static(v.clone()) } else { Body::Array(items) }
            }
            Value::Object(m) => {
                let items = m.iter().map(|(k, i)| Ok((k.clone(), Body::parse(i, names)?))).collect::<Result<Vec<_>, String>>()?;
                if items.iter().all(|(_, i)| matches!(i, Body::Static(_))) { Body::Static(v.clone()) } else { Body::Object(items) }
            }
            other => Body::Static(other.clone()),
        })
    }

    pub fn is_static(&self) -> bool {
        matches!(self, Body::Static(_))
    }

    pub fn render(&self, send: &Send) -> Value {
        match self {
            Body::Static(v) => v.clone(),
            Body::Text(t) => match t.whole() {
                Some(h) => send.value(h, 0),
                None => Value::String(t.render(send, |s| s.to_string())),
            },
            Body::Array(items) => Value::Array(items.iter().map(|i| i.render(send)).collect()),
            Body::Object(items) => Value::Object(items.iter().map(|(k, i)| (k.clone(), i.render(send))).collect()),
        }
    }

    /// The data fields the body uses.
    pub fn fields(&self, out: &mut Vec<usize>) {
        self.texts(&mut |t| out.extend(t.fields()));
    }

    fn texts<'b>(&'b self, f: &mut impl FnMut(&'b Text)) {
        match self {
            Body::Static(_) => {}
            Body::Text(t) => f(t),
            Body::Array(items) => items.iter().for_each(|i| i.texts(f)),
            Body::Object(items) => items.iter().for_each(|(_, i)| i.texts(f)),
        }
    }
}

/// The parts of one request that change per send (None / empty: sent as written).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Varying {
    pub path: Option<Text>,
    pub headers: Vec<(String, Text)>,
    pub body: Option<Body>,
}

impl Varying {
    pub fn is_empty(&self) -> bool {
        self.path.is_none() && self.headers.is_empty() && self.body.is_none()
    }

    /// The data fields used, each once.
    pub fn fields(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.path.iter().flat_map(Text::fields).collect();
        out.extend(self.headers.iter().flat_map(|(_, t)| t.fields()));
        if let Some(b) = &self.body {
            b.fields(&mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The first `{{steps.S.F}}` the earlier answers cannot fill, as `F` of step S
    /// (None: every one resolves; `answers[i]` is step i's answer as JSON, if it was JSON).
    pub fn unresolved(&self, answers: &[Option<Value>]) -> Option<(usize, String)> {
        let mut texts: Vec<&Text> = self.path.iter().collect();
        texts.extend(self.headers.iter().map(|(_, t)| t));
        if let Some(b) = &self.body {
            b.texts(&mut |t| texts.push(t));
        }
        texts
            .into_iter()
            .flat_map(Text::step_refs)
            .find_map(|(i, path)| lookup(answers.get(i).and_then(Option::as_ref), path).is_none().then(|| (i, path.join("."))))
    }
}

/// The value at `path` in `v` (object keys; numbers index arrays).
fn lookup<'v>(v: Option<&'v Value>, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v?, |v, k| match v {
        Value::Object(m) => m.get(k),
        Value::Array(a) => a.get(k.parse::<usize>().ok()?),
        _ => None,
    })
}

/// How rows are picked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// File order, one row per send, cycling.
    #[default]
    Sequential,
    /// A seeded random row per send.
    Random,
}

/// A data file's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    pub fields: Vec<String>,
    /// One value per field, per row (None: the row lacks the field).
    pub rows: Vec<Vec<Option<Value>>>,
    /// The file line each row starts on (1-based), for errors.
    pub lines: Vec<usize>,
    pub order: Order,
}

/// The most rows a data file may hold.
pub const MAX_ROWS: usize = 1_000_000;

impl DataSet {
    /// Read a `.csv` (header row first) or `.jsonl` / `.ndjson` (one object per line) file.
    pub fn parse(path: &Path, bytes: &[u8], order: Order) -> Result<DataSet, String> {
        let name = path.display();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let set = match ext.as_str() {
            "csv" => Self::csv(bytes, order).map_err(|e| format!("{name}: {e}"))?,
            "jsonl" | "ndjson" => Self::jsonl(bytes, order).map_err(|e| format!("{name}:{e}"))?,
            _ => return Err(format!("{name}: a data file is `.csv` (with a header row) or `.jsonl` (one JSON object per line)")),
        };
        if set.rows.is_empty() {
            return Err(format!("{name} has no rows"));
        }
        if set.rows.len() > MAX_ROWS {
            return Err(format!("{name} has {} rows; at most {MAX_ROWS}", set.rows.len()));
        }
        Ok(set)
    }

    fn csv(bytes: &[u8], order: Order) -> Result<DataSet, String> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text);
        let fields: Vec<String> = r.headers().map_err(|e| e.to_string())?.iter().map(|f| f.trim().to_string()).collect();
        if let Some(dup) = fields.iter().enumerate().find_map(|(i, f)| fields[..i].contains(f).then_some(f)) {
            return Err(format!("line 1: the field `{dup}` is named twice"));
        }
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for rec in r.records() {
            let rec = rec.map_err(|e| match e.position() {
                Some(p) => format!("line {}: {e}", p.line()),
                None => e.to_string(),
            })?;
            lines.push(rec.position().map_or(0, |p| p.line() as usize));
            rows.push(rec.iter().map(|v| Some(Value::String(v.to_string()))).collect());
        }
        Ok(DataSet { fields, rows, lines, order })
    }

    fn jsonl(bytes: &[u8], order: Order) -> Result<DataSet, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!(" not UTF-8 ({e})"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut objects = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(m)) => objects.push((i + 1, m)),
                Ok(_) => return Err(format!("{}: each line is a JSON object, e.g. {{\"user\": \"u1\"}}", i + 1)),
                Err(e) => return Err(format!("{}: not JSON: {e}", i + 1)),
            }
        }
        let mut fields: Vec<String> = Vec::new();
        for (_, m) in &objects {
            for k in m.keys() {
                if !fields.contains(k) {
                    fields.push(k.clone());
                }
            }
        }
        let lines = objects.iter().map(|(l, _)| *l).collect();
        let rows = objects.into_iter().map(|(_, mut m)| fields.iter().map(|f| m.remove(f)).collect()).collect();
        Ok(DataSet { fields, rows, lines, order })
    }

    /// The first row that lacks `field`, as its line.
    pub fn missing(&self, field: usize) -> Option<usize> {
        self.rows.iter().position(|r| r.get(field).is_none_or(Option::is_none)).map(|i| self.lines[i])
    }

    /// The first row whose `field` fails `ok`, as (line, value).
    pub fn find(&self, field: usize, ok: impl Fn(&str) -> bool) -> Option<(usize, String)> {
        self.rows.iter().enumerate().find_map(|(i, r)| {
            let v = text_of(r.get(field)?.as_ref()?);
            (!ok(&v)).then(|| (self.lines[i], v))
        })
    }
}

/// What one send fills its holes from.
pub struct Send<'a> {
    pub seq: u64,
    pub seed: u64,
    pub row: Option<&'a [Option<Value>]>,
    /// The earlier steps' answers, in a sequence.
    pub answers: &'a [Option<Value>],
}

impl<'a> Send<'a> {
    pub fn new(seq: u64, seed: u64, data: Option<&'a DataSet>) -> Self {
        let row = data.map(|d| {
            let n = d.rows.len() as u64;
            let i = match d.order {
                Order::Sequential => seq % n,
                Order::Random => mix(seed ^ 0x5eed_da7a, seq) % n,
            };
            d.rows[i as usize].as_slice()
        });
        Send { seq, seed, row, answers: &[] }
    }

    /// The value of hole `h`, the `n`th of its template.
    fn value(&self, h: &Hole, n: usize) -> Value {
        match h {
            Hole::Seq => Value::from(self.seq),
            // Unique across runs, not reproducible: a stack that keeps state must not see an id twice.
            Hole::Uuid => Value::String(uuid::Uuid::new_v4().to_string()),
            Hole::RandInt(a, b) => {
                let span = (*b as i128 - *a as i128 + 1) as u128;
                let r = u128::from(mix(self.seed, self.seq.wrapping_mul(31).wrapping_add(n as u64))) % span;
                Value::from((*a as i128 + r as i128) as i64)
            }
            Hole::Data(i) => self.row.and_then(|r| r.get(*i).cloned().flatten()).unwrap_or(Value::Null),
            Hole::Step(i, path) => lookup(self.answers.get(*i).and_then(Option::as_ref), path).cloned().unwrap_or(Value::Null),
        }
    }
}

/// splitmix64 of (seed, n): a well-spread deterministic number.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A data value inside a URL path or query: everything but unreserved characters percent-encoded.
pub fn url_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names with only a data file's fields.
    fn with(fields: &[String]) -> Names<'_> {
        Names { fields: Some(fields), steps: &[] }
    }

    const NONE: Names = Names { fields: None, steps: &[] };

    fn data(csv: &str) -> DataSet {
        DataSet::parse(Path::new("d.csv"), csv.as_bytes(), Order::Sequential).unwrap()
    }

    #[test]
    fn builtins_and_data_fill_paths() {
        let d = data("user,tenant\nu 1,a\nu2,b\n");
        let t = Text::parse("/users/{{data.user}}/{{ seq }}?t={{data.tenant}}", &with(&d.fields)).unwrap();
        assert_eq!(t.render(&Send::new(0, 7, Some(&d)), url_escape), "/users/u%201/0?t=a");
        assert_eq!(t.render(&Send::new(3, 7, Some(&d)), url_escape), "/users/u2/3?t=b");
        assert!(Text::parse("/plain", &NONE).unwrap().is_static());
    }

    #[test]
    fn env_values_are_read_once_sent_as_they_are_and_masked() {
        let t = Text::parse("Bearer {{env.ORDEAL_SURELY_UNSET_KEY:-sk-test-0123456789}}", &NONE).unwrap();
        assert!(!t.is_static(), "rendered, so the raw template never goes out");
        assert_eq!(t.render(&Send::new(0, 1, None), url_escape), "Bearer sk-test-0123456789");
        assert_eq!(crate::secrets::mask("key sk-test-0123456789 sent"), "key [MASKED] sent");
        assert!(Text::parse("{{env.ORDEAL_SURELY_UNSET_KEY}}", &NONE).unwrap_err().contains("is not set"));
        let crlf = Text::parse("{{env.ORDEAL_SURELY_UNSET_KEY:-sk-01234\r\n56789}}", &NONE).unwrap_err();
        assert!(crlf.contains("control character"), "{crlf}");
        let p = Text::parse("/t/{{env.ORDEAL_SURELY_UNSET_KEY:-a/b?c}}", &NONE).unwrap();
        assert_eq!(p.render(&Send::new(0, 1, None), url_escape), "/t/a%2Fb%3Fc");
    }

    #[test]
    fn random_values_are_seeded_and_in_range() {
        let t = Text::parse("{{rand.int(-2, 2)}}", &NONE).unwrap();
        let vals: Vec<i64> = (0..500).map(|s| t.render(&Send::new(s, 9, None), url_escape).parse().unwrap()).collect();
        assert!(vals.iter().all(|v| (-2..=2).contains(v)));
        for v in -2..=2 {
            assert!(vals.contains(&v), "{v} never drawn");
        }
        let again: Vec<i64> = (0..500).map(|s| t.render(&Send::new(s, 9, None), url_escape).parse().unwrap()).collect();
        assert_eq!(vals, again, "same seed, same values");
        let u = Text::parse("{{uuid}}", &NONE).unwrap().render(&Send::new(1, 1, None), url_escape);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4: {u}");
        assert!("89ab".contains(&u[19..20]), "RFC 4122 variant: {u}");
    }

    #[test]
    fn bad_templates_say_what_is_valid() {
        assert!(Text::parse("{{seqq}}", &NONE).unwrap_err().contains("valid: {{seq}}"));
        assert!(Text::parse("{{rand.int(5,1)}}", &NONE).unwrap_err().contains("A <= B"));
        assert!(Text::parse("{{rand.int(x)}}", &NONE).unwrap_err().contains("rand.int(A,B)"));
        assert!(Text::parse("{{data.user}}", &NONE).unwrap_err().contains("needs a data file"));
        let e = Text::parse("{{data.usr}}", &with(&["user".to_string()])).unwrap_err();
        assert!(e.contains("did you mean `user`"), "{e}");
        assert!(Text::parse("/x/{{seq", &NONE).unwrap_err().contains("unclosed"));
    }

    #[test]
    fn a_body_keeps_types_of_whole_holes() {
        let d = DataSet::parse(Path::new("d.jsonl"), b"{\"n\": 5, \"o\": {\"a\": 1}}\n\n{\"n\": 6}\n", Order::Sequential).unwrap();
        assert_eq!(d.lines, vec![1, 3]);
        assert_eq!(d.missing(1), Some(3), "row on line 3 lacks `o`");
        let v = serde_json::json!({"id": "{{seq}}", "n": "{{data.n}}", "o": "{{data.o}}", "s": "task {{seq}}", "k": [1, "x"]});
        let b = Body::parse(&v, &with(&d.fields)).unwrap();
        let out = b.render(&Send::new(2, 1, Some(&d)));
        assert_eq!(out, serde_json::json!({"id": 2, "n": 5, "o": {"a": 1}, "s": "task 2", "k": [1, "x"]}));
        assert!(Body::parse(&serde_json::json!({"a": [1, "b"]}), &NONE).unwrap().is_static());
    }

    #[test]
    fn steps_fill_from_earlier_answers() {
        let steps = ["submit".to_string(), "poll".to_string()];
        let names = Names { fields: None, steps: &steps };
        let t = Text::parse("/tasks/{{steps.submit.id}}/{{steps.poll.items.1.k}}", &names).unwrap();
        let answers = [Some(serde_json::json!({"id": "a b"})), Some(serde_json::json!({"items": [{}, {"k": 7}]}))];
        let send = Send { answers: &answers, ..Send::new(0, 1, None) };
        assert_eq!(t.render(&send, url_escape), "/tasks/a%20b/7");
        assert_eq!(url_escape("task-1.a_b~c/d?"), "task-1.a_b~c%2Fd%3F", "unreserved characters stay as they are");
        let v = Varying { path: Some(t), ..Default::default() };
        assert_eq!(v.unresolved(&answers), None);
        let short = [Some(serde_json::json!({"id": 1})), Some(serde_json::json!({"items": []}))];
        assert_eq!(v.unresolved(&short), Some((1, "items.1.k".into())));
        assert_eq!(v.unresolved(&[None, None]), Some((0, "id".into())), "an answer that was not JSON");
        let b = Body::parse(&serde_json::json!({"task": "{{steps.submit.id}}"}), &names).unwrap();
        assert_eq!(b.render(&send), serde_json::json!({"task": "a b"}));
        // Unknown or missing steps, and no field, are compile errors.
        let e = Text::parse("{{steps.sumbit.id}}", &names).unwrap_err();
        assert!(e.contains("did you mean `submit`"), "{e}");
        assert!(Text::parse("{{steps.submit}}", &names).unwrap_err().contains("name a field"));
        assert!(Text::parse("{{steps.submit.id}}", &NONE).unwrap_err().contains("later step of a sequence"));
    }

    #[test]
    fn data_files_are_checked() {
        let e = DataSet::parse(Path::new("d.csv"), b"a,b\n1,2\n3\n", Order::Sequential).unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        assert!(DataSet::parse(Path::new("d.csv"), b"a,b\n", Order::Sequential).unwrap_err().contains("no rows"));
        assert!(DataSet::parse(Path::new("d.txt"), b"a\n1\n", Order::Sequential).unwrap_err().contains(".csv"));
        let e = DataSet::parse(Path::new("d.jsonl"), b"{\"a\":1}\n[1]\n", Order::Sequential).unwrap_err();
        assert!(e.starts_with("d.jsonl:2:"), "{e}");
        let d = data("tok\nok\nbad\u{1}\n");
        assert_eq!(d.find(0, |v| !v.contains('\u{1}')), Some((3, "bad\u{1}".into())));
        let r = DataSet { order: Order::Random, ..data("a\n1\n2\n3\n") };
        let picks: std::collections::BTreeSet<String> =
            (0..50).map(|s| format!("{:?}", Send::new(s, 4, Some(&r)).row.unwrap()[0])).collect();
        assert_eq!(picks.len(), 3, "random order reaches every row");
    }
}
