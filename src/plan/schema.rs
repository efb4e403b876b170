//! `ordeal schema scenario`: the JSON Schema of a scenario file, generated
//! (schemars) from the very serde types each section and expectation kind
//! deserializes, so it cannot drift from the parser; their `///` comments are
//! the descriptions an editor shows.
//!
//! Two forms. The *merged* form is the document ordeal compiles once
//! `include:` files and merge keys are applied: required fields required,
//! unknown fields refused. The *as written* form (what `ordeal schema
//! scenario` prints, for editors) describes one file that may lean on its
//! includes: no field is required, any field may be `null` (which removes an
//! included value), any value may be a `{{vars.NAME}}` template (filled before
//! the value is read), and `<<` merge keys are allowed in any mapping.
//! docs/scenario.schema.json is this output, checked in and kept equal by a
//! test that also validates every bundled scenario against it.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::expect::kinds::kind_schemas;
use crate::faults::MockConfig;
use crate::scenario::Scalar;
use crate::scenario::alerting::RawAlerting;
use crate::scenario::load::RawLoad;
use crate::scenario::overhead::RawOverhead;
use crate::scenario::stack::{RawStack, RuntimeKind};
use crate::scenario::timeline::{RawFault, RawPhase, RawServiceFault};

/// Where the published schema lives, for the `$id` and editors' `$schema=` lines.
pub const SCENARIO_SCHEMA_FILE: &str = "docs/scenario.schema.json";

/// The schema of one scenario file as written (see the module comment).
pub fn scenario_schema() -> Value {
    let mut root = merged_scenario_schema();
    as_written(&mut root, false);
    let defs = root.as_object_mut().and_then(|r| r.get_mut("$defs")).and_then(Value::as_object_mut).expect("$defs");
    defs.insert(
        "Template".into(),
        json!({
            "description": "A value holding `{{vars.NAME}}`, filled from the scenario's `vars:` or `--var NAME=VALUE`: alone, it takes the YAML type of what it is filled with; inside text, the text is read after filling (`{{vars.d}}s`).",
            "type": "string",
            "pattern": r"\{\{vars\.[^}]*\}\}",
        }),
    );
    root
}

/// The schema of the document ordeal compiles, after includes and merge keys.
pub fn merged_scenario_schema() -> Value {
    let mut g = SchemaSettings::draft2020_12().into_generator();
    let kinds = expectation_schema(&mut g);
    let phases = g.subschema_for::<RawPhase>().to_value();
    let fault = g.subschema_for::<RawFault>().to_value();
    let service_fault = g.subschema_for::<RawServiceFault>().to_value();
    let properties = json!({
        "ordeal": { "description": "The scenario format this file is written in (`ordeal: 1`; docs/CHANGELOG.md lists the changes).", "const": super::document::FORMAT },
        "include": {
            "description": "Files merged under this one (relative to it): mappings merge key by key, `timeline.phases` by `name:`, other lists are replaced; this file wins, and a field set to null removes an included one.",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
        },
        "vars": {
            "description": "Defaults of `{{vars.NAME}}`, which `--var NAME=VALUE` overrides.",
            "type": "object",
            "additionalProperties": g_sub::<Scalar>(&mut g).to_value(),
        },
        "name": { "description": "The scenario's name (default: the file's stem); it names the report directory.", "type": "string" },
        "description": { "description": "What the scenario shows, for people and reports.", "type": "string" },
        "seed": { "description": "Seed of every random choice (mocks, arrivals, data rows); default 1.", "type": "integer", "minimum": 0 },
        "runtime": g_sub::<RuntimeKind>(&mut g).to_value(),
        "stack": g_sub::<RawStack>(&mut g).to_value(),
        "mocks": {
            "description": "Mocks in front of the stack's dependencies, by name (`{{mocks.NAME.url}}`).",
            "type": "object",
            "additionalProperties": g_sub::<MockConfig>(&mut g).to_value(),
        },
        "load": g_sub::<RawLoad>(&mut g).to_value(),
        "timeline": {
            "description": "The run's phases in order, and the faults switched on and off in their windows.",
            "type": "object",
            "additionalProperties": false,
            "required": ["phases"],
            "properties": {
                "phases": { "type": "array", "items": phases },
                "faults": {
                    "description": "Faults on a mock (`mock:`) or on a service (`service:`), each in its `during:` window.",
                    "type": "array",
                    "items": { "oneOf": [fault, service_fault] },
                },
            },
        },
        "alerting": g_sub::<RawAlerting>(&mut g).to_value(),
        "overhead": g_sub::<RawOverhead>(&mut g).to_value(),
        "expect": { "description": "What must be observed: one item per expectation, by `kind:`.", "type": "array", "items": kinds },
    });
    let defs: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ordeal scenario",
        "description": "A scenario: the stack to start, the mocks in front of its dependencies, the load, the faults on a timeline, and what must be observed (README.md, \"Scenarios\").",
        "type": "object",
        "properties": properties,
        "patternProperties": { "^x-": { "description": "A place for YAML anchors; ignored." } },
        "additionalProperties": false,
        "$defs": defs,
    })
}

fn g_sub<T: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// One `expect:` item: the common fields, then the fields of its `kind:`
/// (one `if kind == K then K's fields` branch per kind, so a validator
/// reports a mistake inside the right kind rather than "matches none").
fn expectation_schema(g: &mut SchemaGenerator) -> Value {
    let kinds = kind_schemas(g);
    let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
    let common = json!({
        "kind": { "description": "What is checked.", "enum": names },
        "name": { "description": "The expectation's name in reports (default: what it checks and when).", "type": "string" },
        "during": { "description": "The window judged: a phase (`outage`), a range (`outage+2s..recovery.end`) or `start..end`; default the whole run.", "type": "string" },
        "after": { "description": "The window from this instant to the end of the run (`recovery+6s`); instead of `during`.", "type": "string" },
        "tags": { "description": "Labels for `--only TAG`.", "type": "array", "items": { "type": "string" } },
    });
    let branches: Vec<Value> = kinds
        .into_iter()
        .map(|(name, fields)| {
            let mut fields = fields.to_value();
            let obj = fields.as_object_mut().expect("a kind's fields are an object");
            let props = obj.entry("properties").or_insert_with(|| json!({})).as_object_mut().expect("properties");
            for (k, v) in common.as_object().expect("common") {
                props.insert(k.clone(), if k == "kind" { json!({ "const": name }) } else { v.clone() });
            }
            obj.insert("additionalProperties".into(), Value::Bool(false));
            obj.remove("title");
            json!({ "if": { "properties": { "kind": { "const": name } }, "required": ["kind"] }, "then": fields })
        })
        .collect();
    json!({ "type": "object", "required": ["kind"], "properties": common, "allOf": branches })
}

/// The merged form -> the as-written form (module comment), in place. Every
/// field, map value and list item also accepts a template. Outside `expect:`
/// (whose items are written whole; only `timeline.phases` merge by name) a
/// file may be partial: no `required`, fields and map values may be null,
/// `oneOf` is read as `anyOf` (a partial item may match several), and an
/// externally tagged enum is one mapping of its variants (an include's
/// `uniform:` removed beside a new `fixed:`). `if` conditions stay as they are.
fn as_written(v: &mut Value, whole: bool) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| as_written(i, whole)),
        Value::Object(o) => {
            if !whole {
                o.remove("required");
                if let Some(alts) = o.remove("oneOf") {
                    o.insert("anyOf".into(), alts);
                }
                union_tagged_variants(o);
            }
            for (k, child) in o.iter_mut() {
                match k.as_str() {
                    "properties" | "$defs" | "patternProperties" => {
                        for (name, f) in child.as_object_mut().into_iter().flatten() {
                            as_written(f, whole || (k == "properties" && name == "expect"));
                            if k == "properties" {
                                loosen(f, !whole); // `expect: null` still removes an included `expect:`
                            }
                        }
                    }
                    "additionalProperties" | "items" if child.is_object() => {
                        as_written(child, whole);
                        loosen(child, !whole && k == "additionalProperties");
                    }
                    "if" | "const" | "enum" | "default" | "examples" => {}
                    _ => as_written(child, whole),
                }
            }
            if o.contains_key("additionalProperties") {
                let merge = json!({ "description": "A YAML merge key: the mapping (or list of mappings) merged into this one." });
                if let Some(p) = o.entry("patternProperties").or_insert_with(|| json!({})).as_object_mut() {
                    p.insert("^<<$".into(), merge);
                }
            }
        }
        _ => {}
    }
}

/// `{"anyOf": [A, B]}` where every alternative is a one-field mapping (serde's
/// externally tagged enum): one mapping with all the variants' fields.
fn union_tagged_variants(o: &mut Map<String, Value>) {
    let Some(Value::Array(alts)) = o.get("anyOf") else { return };
    let tagged = |a: &Value| {
        a["type"] == "object" && a["additionalProperties"] == false && a["properties"].as_object().is_some_and(|p| p.len() == 1)
    };
    if alts.len() < 2 || !alts.iter().all(tagged) {
        return;
    }
    let mut props = Map::new();
    for a in alts {
        props.extend(a["properties"].as_object().cloned().unwrap_or_default());
    }
    o.remove("anyOf");
    o.insert("type".into(), json!("object"));
    o.insert("properties".into(), Value::Object(props));
    o.insert("additionalProperties".into(), Value::Bool(false));
}

/// `schema` -> anyOf [schema, a template, (null)].
fn loosen(schema: &mut Value, nullable: bool) {
    if schema.as_object().is_some_and(|o| o.is_empty()) {
        return; // already anything
    }
    let mut alts = vec![std::mem::take(schema), json!({ "$ref": "#/$defs/Template" })];
    if nullable {
        alts.push(json!({ "type": "null" }));
    }
    *schema = json!({ "anyOf": alts });
}

/// Test builds only, called by every compile: the as-written schema accepts
/// every scenario ordeal compiles, and refuses every one with an unknown
/// field in its own text — so each compiler test also tests the schema.
#[cfg(test)]
pub(crate) fn agrees_with_the_compiler(text: &str, file: &std::path::Path, diags: &[crate::scenario::Diagnostic]) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| jsonschema::validator_for(&scenario_schema()).expect("a valid JSON Schema"));
    let Ok(mut doc) = serde_norway::from_str::<serde_norway::Value>(text) else { return };
    let Ok(doc) = doc.apply_merge().map_err(drop).and_then(|()| serde_json::to_value(doc).map_err(drop)) else { return };
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("at `{}`: {e}", e.instance_path().as_str())).collect();
    let unknown_field = diags.iter().any(|d| {
        d.file == file && ["unknown field", "unknown top-level field", "unknown expectation kind"].iter().any(|u| d.message.starts_with(u))
    });
    if diags.is_empty() {
        assert!(errors.is_empty(), "the schema refuses a scenario ordeal compiles:\n{}\n---\n{text}", errors.join("\n"));
    } else if unknown_field {
        assert!(!errors.is_empty(), "the schema accepts a scenario with an unknown field ({diags:?}):\n{text}");
    }
}
