//! Parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0
//! text. Owns the data model of one scrape: [`Family`] metadata and
//! [`Sample`]s attributed to their family.
//!
//! Invariant: no sample is lost silently. Every line is either a sample, a
//! piece of metadata, a comment, or a [`LineError`] carrying its line number
//! and content; one bad line never stops the others from parsing.
//! (prometheus-parse 0.2.5 was rejected for losing samples; see
//! `tests::prometheus_parse_loses_samples` in `corpus.rs`.)

mod line;

use std::collections::{BTreeMap, HashMap};

pub use line::{Exemplar, LineErrorKind};

/// Which text format a body is in. Only changes how timestamps are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    PrometheusText,
    /// `application/openmetrics-text`: timestamps in seconds.
    OpenMetrics,
}

impl Format {
    /// From a `Content-Type` header; `None` if it names neither format.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "text/plain" => Some(Format::PrometheusText),
            _ => None,
        }
    }

    /// Guesses from the body: OpenMetrics ends with `# EOF`.
    pub fn sniff(body: &str) -> Format {
        if body.lines().any(|l| l.trim_end() == "# EOF") { Format::OpenMetrics } else { Format::PrometheusText }
    }
}

/// A metric family's type. `untyped` (0.0.4) and `unknown` (OpenMetrics) are one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    pub fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" | "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// Sample-name suffixes a family of this type owns besides its bare name.
    pub fn child_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
        }
    }
}

impl std::fmt::Display for MetricType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata of one metric family. A sample with no declared family gets an
/// implicit one (its own name, `unknown`, no help).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    /// Whether a `# TYPE` line declared it (false: implicit or HELP-only).
    pub declared: bool,
}

/// One sample, attributed to its family.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Sample {
    /// As exposed, e.g. `http_requests_total`, `latency_seconds_bucket`.
    pub name: String,
    /// The family it belongs to, e.g. `http_requests`, `latency_seconds`.
    pub family: String,
    /// The family's type.
    pub kind: MetricType,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Seconds since the Unix epoch, whatever unit the format wrote.
    pub timestamp: Option<f64>,
    pub exemplar: Option<Exemplar>,
}

/// A rejected line: its 1-based number, its content and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}: `{content}`")]
pub struct LineError {
    pub line: usize,
    pub content: String,
    pub kind: LineErrorKind,
}

/// Longest line content kept in a [`LineError`].
const MAX_ERROR_CONTENT: usize = 400;

/// The result of parsing one body: whatever parsed, plus every rejected line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
    pub samples: Vec<Sample>,
    pub errors: Vec<LineError>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }
}

/// Parses a body in the given format. Never fails as a whole: see [`Exposition::errors`].
pub fn parse(text: &str, format: Format) -> Exposition {
    let mut p = Parser { format, out: Exposition::default(), index: HashMap::new(), eof: false };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches([' ', '\t', '\r']);
        if let Err(kind) = p.line(line) {
            p.out.errors.push(LineError { line: i + 1, content: truncate(line), kind });
        }
    }
    if !p.out.errors.is_empty() {
        tracing::debug!(errors = p.out.errors.len(), "exposition had malformed lines");
    }
    p.out
}

fn truncate(line: &str) -> String {
    if line.len() <= MAX_ERROR_CONTENT {
        return line.to_owned();
    }
    let mut end = MAX_ERROR_CONTENT;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

struct Parser {
    format: Format,
    out: Exposition,
    /// Family name -> index in `out.families`.
    index: HashMap<String, usize>,
    eof: bool,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), LineErrorKind> {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            return Ok(());
        }
        if self.eof {
            return Err(LineErrorKind::AfterEof);
        }
        if line.starts_with('#') {
            return self.meta(line::parse_meta(line)?);
        }
        let raw = line::parse_sample(line)?;
        let (family, kind) = self.family_of(&raw.name);
        let timestamp = raw.timestamp.map(|t| match self.format {
            Format::PrometheusText => t / 1000.0,
            Format::OpenMetrics => t,
        });
        self.out.samples.push(Sample {
            name: raw.name,
            family,
            kind,
            labels: raw.labels,
            value: raw.value,
            timestamp,
            exemplar: raw.exemplar,
        });
        Ok(())
    }

    fn meta(&mut self, meta: line::Meta) -> Result<(), LineErrorKind> {
        match meta {
            line::Meta::Help { name, text } => self.entry(&name).help = Some(text),
            line::Meta::Unit { name, unit } => self.entry(&name).unit = Some(unit),
            line::Meta::Type { name, kind } => {
                let kind = MetricType::parse(&kind).ok_or(LineErrorKind::UnknownType(kind))?;
                let family = self.entry(&name);
                if family.declared && family.kind != kind {
                    return Err(LineErrorKind::TypeConflict { name, previous: family.kind.to_string() });
                }
                family.kind = kind;
                family.declared = true;
            }
            line::Meta::Eof => self.eof = true,
            line::Meta::Comment => {}
        }
        Ok(())
    }

    /// The family named `name`, created (unknown, undeclared) if new.
    fn entry(&mut self, name: &str) -> &mut Family {
        let idx = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.out.families.push(Family {
                    name: name.to_owned(),
                    kind: MetricType::Unknown,
                    help: None,
                    unit: None,
                    declared: false,
                });
                self.index.insert(name.to_owned(), self.out.families.len() - 1);
                self.out.families.len() - 1
            }
        };
        &mut self.out.families[idx]
    }

    /// Attribution: a family of exactly this name wins (0.0.4 counters are
    /// named `x_total` themselves); else a family whose type owns the suffix
    /// (`x_total` -> counter `x`, `x_bucket` -> histogram `x`, ...); else an
    /// implicit `unknown` family of the sample's own name.
    fn family_of(&mut self, sample: &str) -> (String, MetricType) {
        if let Some(&i) = self.index.get(sample) {
            let f = &self.out.families[i];
            return (f.name.clone(), f.kind);
        }
        for suffix in ["_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info"] {
            let Some(base) = sample.strip_suffix(suffix) else { continue };
            if let Some(&i) = self.index.get(base) {
                let f = &self.out.families[i];
                if f.kind.child_suffixes().contains(&suffix) {
                    return (f.name.clone(), f.kind);
                }
            }
        }
        let f = self.entry(sample);
        (f.name.clone(), f.kind)
    }
}

#[cfg(test)]
mod tests {
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
}
