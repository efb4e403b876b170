//! Unit tests of the exposition parser on small hand-made bodies.

use super::*;

fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn one(line: &str) -> Sample {
    let e = parse(line, Format::PrometheusText);
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    assert_eq!(e.samples.len(), 1);
    e.samples.into_iter().next().unwrap()
}

#[test]
fn escapes_and_delimiters_inside_label_values() {
    let s = one(r#"m{a="x\\y",b="say \"hi\"",c="1\n2",d="p,q}r=s # t"} 1"#);
    assert_eq!(s.labels, labels(&[("a", "x\\y"), ("b", "say \"hi\""), ("c", "1\n2"), ("d", "p,q}r=s # t")]));
}

#[test]
fn unknown_escape_is_kept_literally() {
    assert_eq!(one(r#"m{a="x\ty"} 1"#).labels["a"], r"x\ty");
}

#[test]
fn colons_in_names_and_blanks_around_labels() {
    let s = one(r#"job:rate:5m { a = "b" , } 2"#);
    assert_eq!(s.name, "job:rate:5m");
    assert_eq!(s.labels, labels(&[("a", "b")]));
}

#[test]
fn special_values() {
    let e = parse("a +Inf\nb -Inf\nc NaN\nd inf\ne 1e-3\n", Format::PrometheusText);
    let v: Vec<f64> = e.samples.iter().map(|s| s.value).collect();
    assert_eq!(v[0], f64::INFINITY);
    assert_eq!(v[1], f64::NEG_INFINITY);
    assert!(v[2].is_nan());
    assert_eq!(v[3], f64::INFINITY);
    assert_eq!(v[4], 0.001);
}

#[test]
fn timestamps_are_normalized_to_seconds() {
    let text = parse("m 1 1700000000500\n", Format::PrometheusText);
    assert_eq!(text.samples[0].timestamp, Some(1_700_000_000.5));
    let om = parse("m 1 1700000000.5\n# EOF\n", Format::OpenMetrics);
    assert_eq!(om.samples[0].timestamp, Some(1_700_000_000.5));
}

#[test]
fn exemplar_is_kept_and_does_not_break_the_sample() {
    let e = parse("# TYPE r counter\nr_total 5 # {trace_id=\"a}b\"} 1.5 17.25\n# EOF\n", Format::OpenMetrics);
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    let s = &e.samples[0];
    assert_eq!((s.value, s.family.as_str(), s.kind), (5.0, "r", MetricType::Counter));
    let ex = s.exemplar.as_ref().unwrap();
    assert_eq!(ex.labels["trace_id"], "a}b");
    assert_eq!((ex.value, ex.timestamp), (1.5, Some(17.25)));
}

#[test]
fn children_are_attributed_to_their_family() {
    let body = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\nh_created 3\n\
                # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n\
                # TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum 1\n\
                # TYPE i info\ni_info{v=\"1\"} 1\n# TYPE c counter\nc_total 1\nc_created 1\n";
    let e = parse(body, Format::OpenMetrics);
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    let fam: Vec<(&str, MetricType)> = e.samples.iter().map(|s| (s.family.as_str(), s.kind)).collect();
    use MetricType::*;
    let expect = [
        ("h", Histogram),
        ("h", Histogram),
        ("h", Histogram),
        ("h", Histogram),
        ("s", Summary),
        ("s", Summary),
        ("s", Summary),
        ("g", GaugeHistogram),
        ("g", GaugeHistogram),
        ("g", GaugeHistogram),
        ("i", Info),
        ("c", Counter),
        ("c", Counter),
    ];
    assert_eq!(fam, expect);
    assert_eq!(e.families.len(), 5);
}

#[test]
fn suffix_not_owned_by_the_type_makes_its_own_family() {
    let e = parse("# TYPE g gauge\ng_sum 1\n", Format::PrometheusText);
    assert_eq!((e.samples[0].family.as_str(), e.samples[0].kind), ("g_sum", MetricType::Unknown));
}

#[test]
fn prometheus_0_0_4_counter_keeps_its_full_name_as_family() {
    let e = parse("# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n", Format::PrometheusText);
    assert_eq!(e.samples[0].family, "x_total");
    assert_eq!(e.family("x_total").unwrap().help.as_deref(), Some("Things."));
}

#[test]
fn help_unescapes_and_unit_is_kept() {
    let e = parse("# HELP m a\\\\b\\nc \\\"q\\\"\n# UNIT m seconds\n# TYPE m gauge\n", Format::OpenMetrics);
    let f = e.family("m").unwrap();
    assert_eq!(f.help.as_deref(), Some("a\\b\nc \"q\""));
    assert_eq!(f.unit.as_deref(), Some("seconds"));
    assert!(f.declared);
}

#[test]
fn quoted_utf8_metric_name() {
    let s = one(r#"{"my.metric", "some.label"="v"} 1"#);
    assert_eq!(s.name, "my.metric");
    assert_eq!(s.labels, labels(&[("some.label", "v")]));
}

#[test]
fn malformed_lines_are_reported_and_the_rest_still_parses() {
    let body = "ok 1\nbad{a=\"x} 2\nalso_ok{a=\"b\"} 3\nnovalue\nm{a=\"1\",a=\"2\"} 1\nm 1 notats\n\
                m{a=b} 1\nm 1 2 3\n# TYPE t nonsense\n9bad 1\nfine 4\n";
    let e = parse(body, Format::PrometheusText);
    let names: Vec<&str> = e.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ok", "also_ok", "fine"]);
    let lines: Vec<usize> = e.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4, 5, 6, 7, 8, 9, 10]);
    assert!(matches!(e.errors[0].kind, LineErrorKind::UnterminatedQuote));
    assert!(matches!(e.errors[1].kind, LineErrorKind::MissingValue));
    assert!(matches!(e.errors[2].kind, LineErrorKind::DuplicateLabel(_)));
    assert!(matches!(e.errors[3].kind, LineErrorKind::InvalidTimestamp(_)));
    assert!(matches!(e.errors[4].kind, LineErrorKind::ExpectedQuote(_)));
    assert!(matches!(e.errors[5].kind, LineErrorKind::TrailingContent(_)));
    assert!(matches!(e.errors[6].kind, LineErrorKind::UnknownType(_)));
    assert!(matches!(e.errors[7].kind, LineErrorKind::InvalidMetricName));
    assert_eq!(e.errors[0].content, "bad{a=\"x} 2");
    assert!(e.errors[0].to_string().starts_with("line 2: "));
}

#[test]
fn content_after_eof_and_type_conflicts_are_errors() {
    let e = parse("# TYPE a gauge\n# TYPE a counter\na 1\n# EOF\nb 2\n", Format::OpenMetrics);
    let kinds: Vec<&LineErrorKind> = e.errors.iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[..], [LineErrorKind::TypeConflict { .. }, LineErrorKind::AfterEof]));
    assert_eq!(e.samples.len(), 1);
    assert_eq!(e.samples[0].kind, MetricType::Gauge);
}

#[test]
fn hostile_input_never_panics() {
    let nasty = [
        "{",
        "}",
        "m{",
        "m{\"",
        "m{a=\"\\",
        "m{a=\"b\"",
        "m{a=\"b\",",
        "# HELP",
        "# TYPE m",
        "#",
        "m 1 #",
        "m 1 # {",
        "m 1 # {a=\"b\"}",
        "\u{0}",
        "m\u{fffd} 1",
        "é 1",
        "{\"x\"}",
    ];
    for n in nasty {
        let e = parse(n, Format::OpenMetrics);
        assert!(e.samples.len() + e.errors.len() <= 1, "{n:?}");
    }
    let long = format!("m{{a=\"{}", "é".repeat(500));
    let e = parse(&long, Format::PrometheusText);
    assert!(e.errors[0].content.ends_with('…'));
}

#[test]
fn format_detection() {
    assert_eq!(Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"), Some(Format::OpenMetrics));
    assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Some(Format::PrometheusText));
    assert_eq!(Format::from_content_type("application/json"), None);
    assert_eq!(Format::sniff("a 1\n# EOF\n"), Format::OpenMetrics);
    assert_eq!(Format::sniff("a 1\n"), Format::PrometheusText);
}

#[test]
fn every_prefix_of_every_edge_case_line_parses_or_errors_without_panicking() {
    let body = include_str!("../../../fixtures/expositions/edge-cases.txt");
    for line in body.lines() {
        for (cut, _) in line.char_indices() {
            for format in [Format::PrometheusText, Format::OpenMetrics] {
                let e = parse(&line[..cut], format);
                assert!(e.samples.len() + e.errors.len() <= 1, "{:?}", &line[..cut]);
            }
        }
    }
}
