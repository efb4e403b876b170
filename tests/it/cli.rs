//! The command line on bad input: clear errors with file:line and field,
//! the documented exit codes, and nothing left running.

use crate::common::*;

#[test]
fn validate_misspelled_field_exits_2_with_file_line_and_field() {
    // The field is in the stack file the scenario includes: reported there.
    let (dir, path) = variant("llm-outage.yaml", &[("      metrics: /metrics", "      metrcs: /metrics")]);
    let out = ordeal().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let shared = std::fs::read_to_string(dir.path().join("_reference-stack.yaml")).unwrap();
    let line = shared.lines().position(|l| l.contains("metrcs")).unwrap() + 1;
    assert!(err.contains(&format!("_reference-stack.yaml:{line}:")), "{err}");
    assert!(err.contains("stack.services.worker.metrcs"), "{err}");
    assert!(err.contains("did you mean `metrics`?"), "{err}");
    // The same mistake in the scenario itself is reported in the scenario.
    std::fs::write(dir.path().join("_reference-stack.yaml"), shared.replace("metrcs:", "metrics:")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "include: _reference-stack.yaml\n",
        "include: _reference-stack.yaml\nstack: { services: { coordinator: { helth: {} } } }\n",
        1,
    );
    std::fs::write(&path, &text).unwrap();
    let err = String::from_utf8_lossy(&ordeal().arg("validate").arg(&path).output().unwrap().stderr).into_owned();
    let line = text.lines().position(|l| l.contains("helth")).unwrap() + 1;
    assert!(err.contains(&format!("scenario.yaml:{line}:")) && err.contains("did you mean `health`?"), "{err}");
}

#[test]
fn run_refuses_an_invalid_scenario_before_starting_anything() {
    let (_dir, path) = temp_scenario("name: x\nstack: { services: {} }\ntimeline: { phases: [] }\nexpect: [{ kind: nope }]\n");
    let out = ordeal().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown expectation kind `nope`"), "{err}");
    assert!(err.contains("declare at least one service"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_help_explains_exit_codes() {
    assert_eq!(ordeal().arg("frobnicate").output().unwrap().status.code(), Some(2));
    let help = ordeal().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Exit codes") && text.contains("3  the harness could not run the stack"), "{text}");
}

#[test]
fn list_shows_the_bundled_scenarios() {
    let out = ordeal().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for s in ["steady-state.yaml", "llm-outage.yaml", "backend-latency.yaml", "flaky-backend.yaml"] {
        assert!(text.contains(s), "{text}");
    }
    assert!(!text.contains("INVALID"), "{text}");
    assert!(!text.contains("_reference-stack.yaml"), "a file to include is not a scenario: {text}");
}

const MISSING_BINARY: &str = r#"
name: missing-binary
stack:
  services:
    app:
      command: /nonexistent/ordeal-test-binary
      ready: { path: /health, timeout: 2s }
timeline:
  phases: [{ name: steady, duration: 1s }]
"#;

#[test]
fn missing_binary_is_an_infrastructure_error() {
    let (_dir, path) = temp_scenario(MISSING_BINARY);
    let report_dir = tempfile::tempdir().unwrap();
    let out = ordeal().arg("run").arg(&path).arg("--report-dir").arg(report_dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("command `/nonexistent/ordeal-test-binary` not found"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report_dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "error");
    assert!(std::fs::read_to_string(report_dir.path().join("junit.xml")).unwrap().contains("<error"));
}

#[test]
fn service_that_never_gets_ready_is_an_infrastructure_error_and_is_killed() {
    // `sleep` starts fine but never answers HTTP: not ready within the timeout.
    let text = MISSING_BINARY
        .replace("/nonexistent/ordeal-test-binary", "sleep")
        .replace("ready: { path: /health, timeout: 2s }", "args: [\"300\"]\n      ready: { path: /health, timeout: 1s }");
    let (_dir, path) = temp_scenario(&text);
    let marker = unique_marker();
    let out =
        ordeal().arg("run").arg(&path).arg("--report-dir").arg(_dir.path().join("r")).env("ORDEAL_TEST_MARKER", &marker).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("was not ready after 1s"));
    assert_no_leftovers(&marker);
}

#[test]
fn secrets_a_failing_service_prints_are_masked_everywhere() {
    // The key comes from ordeal's environment through a template, as a real scenario's would.
    let secret = "sk-test-4f9c1e22b7a0";
    let text = MISSING_BINARY.replace(
        "command: /nonexistent/ordeal-test-binary",
        "command: sh\n      args: [-c, 'echo \"calling with $PROVIDER_API_KEY\"; echo \"auth $PROVIDER_API_KEY\" >&2; exit 1']\n      env: { PROVIDER_API_KEY: \"{{env.ORDEAL_TEST_SECRET}}\" }",
    );
    let (dir, path) = temp_scenario(&text);
    let out =
        ordeal().arg("run").arg(&path).arg("--report-dir").arg(dir.path().join("r")).env("ORDEAL_TEST_SECRET", secret).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("calling with [MASKED]"), "the failing service's output is shown, masked: {stdout}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "{stdout}{stderr}");
    let mut files = 0;
    for f in walk(&dir.path().join("r")) {
        let body = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!body.contains(secret), "{} holds the secret:\n{body}", f.display());
        files += 1;
    }
    assert!(files >= 3, "report.json, junit.xml and the service's logs");
    let report = std::fs::read_to_string(dir.path().join("r/report.json")).unwrap();
    assert!(report.contains("[MASKED]"), "{report}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn fixed_port_in_use_is_an_infrastructure_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let text = MISSING_BINARY.replace("command: /nonexistent/ordeal-test-binary", &format!("command: sleep\n      port: {port}"));
    let (_dir, path) = temp_scenario(&text);
    let out = ordeal().arg("run").arg(&path).arg("--report-dir").arg(_dir.path().join("r")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("port {port} on 127.0.0.1 is already in use")));
}

#[test]
fn validate_describes_an_overhead_scenario_by_its_rounds() {
    let out = ordeal().arg("validate").arg(scenario("overhead.yaml")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("overhead run, 5 variants x 6 rounds of 2.0s warm-up + 6.0s measured"), "{text}");
    assert!(!text.contains("phases"), "{text}");
}

#[test]
fn validate_rejects_what_a_run_would_trip_on() {
    // Regressions: each of these passed validation and then panicked (huge
    // durations), hung (zero intervals), wrote outside reports/ (`name: ../..`)
    // or sent no request at all (a CR/LF header value).
    let text = r#"name: ../../x
stack:
  scrape_interval: 0s
  probe_interval: 0s
  services:
    a:
      command: x
      env: { "A=B": 1 }
      ready: { path: /r, timeout: 18446744073709551615s }
mocks:
  llm: { kind: openai, responses_file: answers.json }
load: { target: a, rate: 1, headers: { X-A: "a\r\nb" }, requests: [{ name: r, path: / }] }
timeline: { phases: [{ name: p, duration: 18446744073709551615s }, { name: q, duration: 1s }] }
expect:
  - { kind: load, during: "q+100000h..end", error_ratio: "== 0" }
  - { kind: load, during: "q.end..q.end", error_ratio: "== 0" }
"#;
    let (dir, path) = temp_scenario(text);
    std::fs::write(dir.path().join("answers.json"), "The answer is 42.").unwrap();
    assert_refused(
        &path,
        &[
            ":1:7: error in `name`: `../../x` cannot name a scenario",
            "error in `stack.scrape_interval`: must be longer than zero",
            "error in `stack.probe_interval`: must be longer than zero",
            "answers.json: expected a JSON array of strings",
            "error in `stack.services.a.env.A=B`: `A=B` cannot name an environment variable",
            "error in `stack.services.a.ready.timeout`: 584542046090years",
            "error in `load.headers.X-A`: the value of header `X-A` cannot be sent",
            "error in `timeline.phases[0].duration`: 584542046090years",
            "error in `expect[0].during`: bad window `q+100000h..end`: offset `100000h` is longer than 24h",
        ],
    );
}

/// `validate` refuses the scenario at `path` (exit 2) with each of `expected` in its diagnostics.
fn assert_refused(path: &std::path::Path, expected: &[&str]) {
    let out = ordeal().arg("validate").arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in expected {
        assert!(err.contains(expected), "no `{expected}` in:\n{err}");
    }
}

#[test]
fn validation_messages_teach_the_fix() {
    let text = r#"name: teach
stack:
  services:
    a: { command: x }
load: { target: a, rate: 1, requests: [{ name: r, method: PSOT, path: / }] }
timeline: { phases: [{ name: p, duration: 12 }] }
expect:
  - { kind: metric, metric: x_total, increase: 5 }
  - { kind: metric, metric: x_total, increase: "=< 0" }
"#;
    let (_dir, path) = temp_scenario(text);
    assert_refused(
        &path,
        &[
            ":5:59: error in `load.requests[0].method`: `PSOT` is not an HTTP method\n  hint: did you mean `POST`?",
            "error in `timeline.phases[0].duration`: invalid type: integer `12`, expected a duration\n  hint: a duration needs a unit: write `12s`",
            "error in `expect[0].increase`: invalid type: integer `5`, expected a string\n  hint: a comparison needs an operator: write `\"> 5\"` or `\"== 5\"`",
            "error in `expect[1].increase`: `=< 0`: `=<` is not an operator; did you mean `<=`?",
        ],
    );
}

#[test]
fn an_absurd_scrape_interval_is_an_error_not_a_panic() {
    // Found by bench/fuzz-validate.py: the breaker's default tolerance (two
    // scrape intervals) overflowed, and `validate` exited 101.
    let (_dir, path) = variant("llm-outage.yaml", &[("scrape_interval: 250ms", "scrape_interval: 18446744073709551615s")]);
    let out = ordeal().arg("validate").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error in `stack.scrape_interval`"), "{err}");
}

#[test]
fn validate_accepts_a_byte_order_mark() {
    let (_dir, path) = variant("steady-state.yaml", &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
    let out = ordeal().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn load_shapes_and_caps_are_checked_before_anything_runs() {
    let cases = [
        ("rate: 0", "load.rate`: the rate must be a positive number"),
        ("rate: -5", "load.rate`: the rate must be a positive number"),
        ("rate: 10, max_in_flight: 0", "load.max_in_flight`: at least one request must be allowed in flight"),
        ("rate: 10, users: 0", "load.users`: at least one request must be allowed in flight"),
        ("rate: max, connections: 0", "load.connections`: connections must be between 1 and 10000"),
    ];
    for (load, expected) in cases {
        let text = format!(
            "name: v\nstack:\n  services:\n    a: {{ command: x }}\nload: {{ target: a, {load}, requests: [{{ name: r, path: / }}] }}\ntimeline:\n  phases:\n    - {{ name: p, duration: 2s, ramp: [10] }}\n    - {{ name: q, duration: 1s, rate: -1 }}\n"
        );
        let (_dir, path) = temp_scenario(&text);
        let out = ordeal().arg("run").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{load}");
        let err = String::from_utf8_lossy(&out.stderr);
        for e in [
            "scenario.yaml:5:".to_string(),
            expected.to_string(),
            "scenario.yaml:8:38: error in `timeline.phases[0].ramp`: a ramp has two rates, from and to; this one has 1".into(),
            "error in `timeline.phases[1].rate`: a phase's rate must be a positive number".into(),
            "hint: e.g. `ramp: [10, 200]`".into(),
        ] {
            assert!(err.contains(&e), "{load}: no `{e}` in:\n{err}");
        }
        assert!(!err.to_lowercase().contains("goose"), "{err}");
    }
}

#[test]
fn validate_survives_a_mutation_fuzz_of_the_bundled_scenarios() {
    // A small run of bench/fuzz-validate.py (the long one is a documented
    // command): every mutant is valid (exit 0) or refused with a diagnostic
    // (exit 2) within 10 s; no panic, hang or other exit.
    let keep = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(root().join("bench/fuzz-validate.py"))
        .args(["--mutants", "300", "--seed", "11", "--jobs", "2", "--ordeal", env!("CARGO_BIN_EXE_ordeal")])
        .arg("--keep")
        .arg(keep.path())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("fuzz-validate: 300 mutants") && stdout.contains(" 0 panics"), "{stdout}");
}

/// A 2-second scenario against the stall server (which answers at once here).
fn quick(name: &str, expect: &str) -> String {
    let script = root().join("tests/fixtures/stall-server.py");
    format!(
        "name: {name}\nstack:\n  services:\n    target:\n      command: python3\n      args: [\"{}\"]\n      env: {{ LISTEN: \"{{{{self.bind}}}}:{{{{self.port}}}}\" }}\n      ready: {{ path: /health, timeout: 30s }}\nload:\n  target: target\n  rate: 5\n  requests: [{{ name: work, method: GET, path: /work }}]\ntimeline:\n  phases: [{{ name: steady, duration: 2s }}]\nexpect: [{expect}]\n",
        script.display()
    )
}

#[test]
fn a_directory_of_scenarios_validates_and_runs_in_turn_with_one_junit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-pass.yaml"), quick("a-pass", r#"{ kind: load, error_ratio: "== 0" }"#)).unwrap();
    std::fs::write(dir.path().join("b-fail.yaml"), quick("b-fail", r#"{ kind: load, error_ratio: "> 0.5" }"#)).unwrap();
    std::fs::write(dir.path().join("_shared.yaml"), "stack: {}\n").unwrap();
    let out = ordeal().arg("validate").arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("a-pass.yaml: ok") && text.contains("b-fail.yaml: ok") && !text.contains("_shared"), "{text}");

    let r = dir.path().join("r");
    let out = ordeal().arg("run").arg(dir.path()).args(["--set", "load.rate=4", "--report-dir"]).arg(&r).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the worst verdict wins: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ordeal: 2 scenarios"), "{text}");
    let suite = text.split("ordeal: 2 scenarios").nth(1).unwrap_or_default();
    let line = |name: &str| suite.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{text}")).to_string();
    assert!(line("a-pass").trim_start().starts_with("PASS") && line("a-pass").contains("1/1 expectations met"), "{text}");
    assert!(line("b-fail").trim_start().starts_with("FAIL") && line("b-fail").contains("0/1 expectations met"), "{text}");
    let junit = std::fs::read_to_string(r.join("junit.xml")).unwrap();
    assert!(junit.contains("ordeal.a-pass") && junit.contains("ordeal.b-fail"), "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(r.join("a-pass/report.json")).unwrap()).unwrap();
    assert_eq!(report["overrides"], serde_json::json!(["--set load.rate=4"]), "the report says how the scenario was changed");
    assert_eq!(report["load"]["intended_rate"], 4.0, "{report}");
    assert!(r.join("b-fail/report.json").is_file());

    let empty = tempfile::tempdir().unwrap();
    let out = ordeal().arg("validate").arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files"));
}

#[test]
fn json_output_step_summary_and_no_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-pass.yaml"), quick("a-pass", r#"{ kind: load, name: fast, p99: "< 5s" }"#)).unwrap();
    std::fs::write(dir.path().join("b-fail.yaml"), quick("b-fail", r#"{ kind: load, name: errors, error_ratio: "> 50%" }"#)).unwrap();
    let step = dir.path().join("step-summary.md");
    let r = dir.path().join("r");
    let out = ordeal()
        .arg("run")
        .arg(dir.path())
        .args(["--set", "load.rate=4", "--json", "--report-dir"])
        .arg(&r)
        .env("GITHUB_STEP_SUMMARY", &step)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // stdout: one report object per scenario, and nothing else.
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!((docs[0]["verdict"].as_str(), docs[1]["verdict"].as_str()), (Some("pass"), Some("fail")));
    assert_eq!(docs[0]["schema_version"], ordeal::report::SCHEMA_VERSION);
    // Logs on stderr, without colour when it is not a terminal.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.stderr.contains(&0x1b), "an ESC byte on stderr: {log}");
    // Off a terminal, a plain line per phase change (and fault event) instead of a live line.
    assert!(log.contains("t=0.0s phase `steady` (0.0s..2.0s)"), "{log}");
    // summary.md beside each report, and appended to the CI job page.
    let md = std::fs::read_to_string(r.join("b-fail/summary.md")).unwrap();
    assert!(md.starts_with("## ❌ FAIL — b-fail") && md.contains("### Failed (1)"), "{md}");
    assert!(md.contains("| errors | load |") && md.contains("error_ratio > 50%"), "the gate in its unit: {md}");
    let page = std::fs::read_to_string(&step).unwrap();
    assert!(page.contains("✅ PASS — a-pass") && page.contains("❌ FAIL — b-fail"), "{page}");
    assert!(r.join("a-pass/report.html").is_file());
    // Colour only when asked for (or on a terminal): `--color always` wins over NO_COLOR.
    let run = |color: &str| {
        let out = ordeal()
            .args(["--color", color, "run"])
            .arg(dir.path().join("a-pass.yaml"))
            .arg("--report-dir")
            .arg(dir.path().join(color))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        (out.stdout.contains(&0x1b), out.stderr.contains(&0x1b))
    };
    assert_eq!(run("always"), (true, true), "coloured results and logs");
    assert_eq!(run("auto"), (false, false), "not a terminal, and NO_COLOR");
}

#[test]
fn history_shows_runs_by_scenario_and_marks_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::fs::write(&a, quick("drill-a", r#"{ kind: load, name: fast, p99: "< 5s" }"#)).unwrap();
    std::fs::write(&b, quick("drill-b", r#"{ kind: load, name: fast, p99: "< 5s" }"#)).unwrap();
    let reports = dir.path().join("reports");
    for round in 1..=3 {
        if round == 3 {
            // The third drill of b fails a gate that passed before.
            std::fs::write(&b, quick("drill-b", r#"{ kind: load, name: fast, p99: "< 1us" }"#)).unwrap();
        }
        let out = ordeal().arg("run").arg(&a).arg(&b).arg("--report-dir").arg(reports.join(format!("round{round}"))).output().unwrap();
        assert_eq!(out.status.code(), Some(if round == 3 { 1 } else { 0 }), "{}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(reports.join("round1/notes.json"), "{}").unwrap(); // not a report: ignored
    let out = ordeal().arg("history").arg(&reports).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("history: 6 runs of 2 scenarios"), "{text}");
    let (a_part, b_part) = text.split_once("\ndrill-b\n").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(b_part.matches("regression: `fast` failed (passed before)").count(), 1, "{text}");
    assert!(!a_part.contains("regression: `fast`"), "a never regressed: {text}");
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("<h2>drill-a</h2>") && index.contains("<h2>drill-b</h2>"), "{index}");
    assert!(index.contains("`fast` failed (passed before)"), "{index}");
    if let Some(dom) = render_in_chromium(&reports.join("index.html"), None) {
        assert!(dom.contains("ordeal history"));
    }
}

#[test]
fn validate_and_list_take_the_bundled_directory() {
    let out = ordeal().arg("validate").arg(root().join("scenarios")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.contains(": ok")).count(), 9, "{text}");
    let out = ordeal().arg("list").arg(root().join("scenarios")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let overhead = text.lines().find(|l| l.contains("overhead.yaml")).unwrap();
    assert!(overhead.contains("~") && !overhead.contains(" 0.0s"), "an overhead run takes minutes: {overhead}");
    // Files as well as directories, as `validate` and `run` take them.
    let out = ordeal().arg("list").arg(root().join("scenarios/bad-request.yaml")).arg(root().join("fixtures/pyshop")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().count() == 2 && text.contains("bad-request.yaml") && text.contains("  20.0s"), "{text}");
    let out = ordeal().args(["list", "scenarois"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read scenarois: no such file or directory"));
}

#[test]
fn overrides_from_the_command_line_are_checked_and_named() {
    let out = ordeal()
        .args(["validate", "--set", "load.rate=20", "--set", "timeline.phases.outage.duration=10s"])
        .arg(scenario("llm-outage.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("4 phases (31.0s)"), "the outage is 4 s longer: {text}");
    let out = ordeal().args(["validate", "--set", "lod.rate=20"]).arg(scenario("llm-outage.yaml")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--set lod.rate=20: error: the scenario has no `lod`") && err.contains("did you mean `load`?"), "{err}");
    // Of a directory, --only skips the scenarios it leaves nothing of.
    let out = ordeal().args(["validate", "--only", "breaker"]).arg(root().join("scenarios")).output().unwrap();
    let (text, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(
        text.contains("llm-outage.yaml: ok") && err.contains("overhead.yaml: skipped, no expectation matches --only breaker"),
        "{text}{err}"
    );
}
