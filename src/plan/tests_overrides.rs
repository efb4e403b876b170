//! Compiler tests for command-line overrides (`--set`, `--var`, `--only`)
//! on whole documents: applied like the file, errors naming the argument.

use std::path::Path;

use super::tests::GOOD;
use super::{Overrides, Plan, compile_with};
use crate::scenario::Diagnostic;

fn with(text: &str, set: &[&str], vars: &[&str], only: &[&str]) -> Result<Plan, Vec<Diagnostic>> {
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
    let o = Overrides { set: strings(set), vars: strings(vars), only: strings(only) };
    compile_with(text, Path::new("dir/s.yaml"), &o).map_err(|d| d.0)
}

fn first_err(text: &str, set: &[&str], vars: &[&str], only: &[&str]) -> Diagnostic {
    with(text, set, vars, only).expect_err("an error").remove(0)
}

#[test]
fn set_changes_fields_and_addresses_list_items_by_name() {
    let plan =
        with(GOOD, &["load.rate=100", "timeline.phases.outage.duration=30s", "seed=9"], &[], &[]).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(plan.load.as_ref().unwrap().rate, 100.0);
    assert_eq!(plan.seed, 9);
    let outage = &plan.phases[1];
    assert_eq!((outage.name.as_str(), (outage.end - outage.start).as_secs()), ("outage", 30));
    let plan = with(GOOD, &["timeline.phases.1.duration=4s"], &[], &[]).unwrap();
    assert_eq!((plan.phases[1].end - plan.phases[1].start).as_secs(), 4, "or by index");
}

#[test]
fn a_bad_set_names_the_argument_with_a_fix() {
    let e = first_err(GOOD, &["lod.rate=5"], &[], &[]);
    assert_eq!(e.file, Path::new("--set lod.rate=5"));
    assert_eq!((e.message.as_str(), e.hint.as_deref()), ("the scenario has no `lod`", Some("did you mean `load`?")));
    let e = first_err(GOOD, &["timeline.phases.outaeg.duration=1s"], &[], &[]);
    assert_eq!(e.hint.as_deref(), Some("did you mean `outage`?"), "{e}");
    let e = first_err(GOOD, &["load.rate"], &[], &[]);
    assert!(e.message.contains("expected PATH=VALUE"), "{e}");
    // Checked like the file: the error names the argument instead of a line.
    let e = first_err(GOOD, &["load.rate=fast"], &[], &[]);
    assert_eq!((e.file.to_string_lossy().as_ref(), e.line, e.path.as_str()), ("--set load.rate=fast", 0, "load.rate"), "{e}");
    let e = first_err(GOOD, &["load.rte=5"], &[], &[]);
    assert_eq!((e.file.to_string_lossy().as_ref(), e.hint.as_deref()), ("--set load.rte=5", Some("did you mean `rate`?")), "{e}");
}

#[test]
fn vars_fill_templates_with_defaults_and_keep_the_value_type() {
    let text = format!("vars: {{ rate: 10, who: steady }}\n{}", GOOD.replace("  rate: 10\n", "  rate: \"{{vars.rate}}\"\n"));
    assert_eq!(with(&text, &[], &[], &[]).unwrap().load.unwrap().rate, 10.0);
    assert_eq!(with(&text, &[], &["rate=25"], &[]).unwrap().load.unwrap().rate, 25.0);
    let e = first_err(&text, &[], &["rat=25"], &[]);
    assert_eq!((e.file.to_string_lossy().as_ref(), e.hint.as_deref()), ("--var rat=25", Some("did you mean `rate`?")), "{e}");
    let unset = text.replace("vars: { rate: 10, who: steady }\n", "");
    let e = first_err(&unset, &[], &[], &[]);
    let line = unset.lines().position(|l| l.contains("vars.rate")).unwrap() + 1;
    assert_eq!((e.line, e.message.as_str()), (line, "`{{vars.rate}}` is not set"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("--var rate=VALUE"), "{e}");
}

#[test]
fn only_keeps_expectations_by_name_kind_or_tag() {
    let tagged = GOOD.replace("  - kind: breaker\n", "  - kind: breaker\n    tags: [smoke]\n");
    let kinds =
        |only: &[&str]| -> Vec<&'static str> { with(&tagged, &[], &[], only).unwrap().expectations.iter().map(|e| e.kind()).collect() };
    assert_eq!(kinds(&["breaker"]), ["breaker"]);
    assert_eq!(kinds(&["smoke"]), ["breaker"]);
    assert_eq!(kinds(&["health", "load"]), ["health", "load"]);
    let e = first_err(&tagged, &[], &[], &["brekaer"]);
    assert_eq!((e.file.to_string_lossy().as_ref(), e.hint.as_deref()), ("--only brekaer", Some("did you mean `breaker`?")), "{e}");
}
