//! Parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0
//! text. Owns the data model of one scrape: [`Family`] metadata and
//! [`Sample`]s attributed to their family.
//!
//! Invariant: no sample is lost silently. Every line is either a sample, a
//! piece of metadata, a comment, or a [`LineError`] carrying its line number
//! and content; one bad line never stops the others from parsing.
//! (prometheus-parse 0.2.5 was rejected for losing samples; see
//! `tests::prometheus_parse_loses_samples` in `corpus.rs`.)

#[cfg(test)]
mod corpus;
mod line;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

pub use line::{Exemplar, LineErrorKind};

/// Which text format a body is in. Only changes how timestamps are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    /// Whether a `# TYPE` line declared it (false: implicit or HELP-only).
    pub declared: bool,
}

/// One sample, attributed to its family.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
