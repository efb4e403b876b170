//! Garbage sent to the built-in OTLP receiver during a run gets error
//! responses, is counted as rejected, and the run goes on to its verdict.

use crate::common::*;

#[test]
fn garbage_is_rejected_counted_and_the_run_continues() {
    let script = root().join("tests/fixtures/otlp-garbage.py");
    let text = format!(
        r#"
name: otlp-garbage
stack:
  services:
    sender:
      command: python3
      args: ["{}", "{{{{otlp.http}}}}"]
timeline:
  phases: [{{ name: steady, duration: 3s }}]
expect:
  - kind: logs
    name: malformed payloads answered 400
    service: sender
    where: {{ status: 400 }}
    count: "== 2"
"#,
        script.display()
    );
    let (_dir, path) = temp_scenario(&text);
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    assert_eq!(run.report["collectors"]["rejected_otlp_requests"], 3, "{}", run.report["collectors"]);
    let out = std::fs::read_to_string(run.dir.path().join("logs/sender.stdout.log")).unwrap();
    assert!(out.contains("\"status\": 413"), "{out}");
}
