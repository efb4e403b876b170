//! Conformance corpus: every real exposition in `fixtures/expositions/*.txt`
//! must parse with zero errors and match its `*.expect.json` sidecar (sample
//! and family counts, spot-checked samples). Also records why we parse
//! ourselves: prometheus-parse 0.2.5 loses samples on `edge-cases.txt`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ordeal::collectors::exposition::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/expositions")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fixtures/expositions exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

fn expected_value(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().expect("sidecar value string is a float"),
        other => other.as_f64().expect("sidecar value is a number"),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(v.clone()).expect("labels are a string map")
}

fn check_spot(file: &str, parsed: &Exposition, spot: &serde_json::Value) {
    let name = spot["name"].as_str().expect("spot check has a name");
    let labels = string_map(&spot["labels"]);
    let sample = parsed
        .samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .unwrap_or_else(|| panic!("{file}: no sample {name}{labels:?}"));
    let want = expected_value(&spot["value"]);
    assert!(same(sample.value, want), "{file}: {name}{labels:?} = {} want {want}", sample.value);
    assert_eq!(sample.family, spot["family"].as_str().unwrap(), "{file}: family of {name}");
    assert_eq!(sample.kind.as_str(), spot["type"].as_str().unwrap(), "{file}: type of {name}");
    if let Some(ts) = spot.get("timestamp") {
        assert_eq!(sample.timestamp, ts.as_f64(), "{file}: timestamp of {name}");
    }
    if let Some(ex) = spot.get("exemplar") {
        let got = sample.exemplar.as_ref().unwrap_or_else(|| panic!("{file}: {name} lost its exemplar"));
        assert_eq!(got.labels, string_map(ex), "{file}: exemplar of {name}");
    }
}

#[test]
fn every_corpus_file_parses_without_errors_and_matches_its_sidecar() {
    let files = corpus_files();
    assert!(files.len() >= 5, "corpus has {} files", files.len());
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read_to_string(&path).unwrap();
        let sidecar_path = path.with_extension("expect.json");
        let sidecar: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&sidecar_path).unwrap_or_else(|_| panic!("{file}: missing sidecar"))).unwrap();
        let format = match sidecar["format"].as_str() {
            Some("open_metrics") => Format::OpenMetrics,
            Some("prometheus_text") => Format::PrometheusText,
            other => panic!("{file}: bad format {other:?}"),
        };
        assert_eq!(Format::sniff(&body), format, "{file}: sniffed format");
        let parsed = parse(&body, format);
        assert!(parsed.errors.is_empty(), "{file}: {:#?}", parsed.errors);
        assert_eq!(parsed.samples.len() as u64, sidecar["samples"].as_u64().unwrap(), "{file}: samples");
        assert_eq!(parsed.families.len() as u64, sidecar["families"].as_u64().unwrap(), "{file}: families");
        let spots = sidecar["spot_checks"].as_array().unwrap();
        assert!(!spots.is_empty(), "{file}: no spot checks");
        for spot in spots {
            check_spot(&file, &parsed, spot);
        }
    }
}

/// The recorded reason ordeal does not use (or wrap) prometheus-parse: on
/// `edge-cases.txt` it loses or mangles samples that our parser keeps.
#[test]
fn prometheus_parse_loses_samples_on_edge_cases() {
    let body = std::fs::read_to_string(corpus_dir().join("edge-cases.txt")).unwrap();
    let ours = parse(&body, Format::OpenMetrics);
    assert!(ours.errors.is_empty());
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let theirs = prometheus_parse::Scrape::parse(lines).expect("in-memory lines never fail");

    // Colons in names: the recording-rule style samples vanish.
    let ours_colon = ours.samples.iter().filter(|s| s.name == "job:request_rate:5m").count();
    let theirs_colon = theirs.samples.iter().filter(|s| s.metric == "job:request_rate:5m").count();
    assert_eq!((ours_colon, theirs_colon), (2, 0));

    // Label values with escapes, commas or `}`: samples dropped or mangled.
    let want = r#"C:\dir\file"#;
    assert!(ours.samples.iter().any(|s| s.labels.get("path").map(String::as_str) == Some(want)));
    let intact = theirs
        .samples
        .iter()
        .filter(|s| s.metric == "escaped_labels_total")
        .filter(|s| s.labels.get("path") == Some(want) && s.labels.get("msg") == Some("say \"hi\""))
        .count();
    assert_eq!(intact, 0, "prometheus-parse kept the escaped label values intact");
    let theirs_escaped = theirs.samples.iter().filter(|s| s.metric == "escaped_labels_total").count();
    assert!(theirs_escaped < 4, "prometheus-parse kept {theirs_escaped} of 4 escaped-label samples");

    // OpenMetrics counter family: `requests_total` comes out untyped.
    let requests = theirs.samples.iter().find(|s| s.metric == "requests_total");
    assert!(
        !matches!(requests.map(|s| &s.value), Some(prometheus_parse::Value::Counter(_))),
        "prometheus-parse typed the OpenMetrics counter correctly"
    );
}
