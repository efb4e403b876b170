//! Lexer for one line of the Prometheus text (0.0.4) and OpenMetrics 1.0 text
//! formats: sample lines (`name{labels} value [timestamp] [# {exemplar} v [ts]]`)
//! and metadata lines (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`).
//!
//! It knows nothing about families; `super` attributes samples. Every way a
//! line can be wrong is a [`LineErrorKind`]: the lexer never panics and never
//! guesses a sample out of a broken line.

use std::collections::BTreeMap;

/// Why one line of an exposition was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineErrorKind {
    #[error("invalid metric name")]
    InvalidMetricName,
    #[error("invalid label name")]
    InvalidLabelName,
    #[error("expected `=` after label `{0}`")]
    ExpectedEquals(String),
    #[error("expected a quoted value for label `{0}`")]
    ExpectedQuote(String),
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("expected `,` or `}}` in label set")]
    ExpectedCommaOrBrace,
    #[error("unterminated label set")]
    UnterminatedLabelSet,
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    #[error("missing value")]
    MissingValue,
    #[error("invalid value `{0}`")]
    InvalidValue(String),
    #[error("invalid timestamp `{0}`")]
    InvalidTimestamp(String),
    #[error("invalid exemplar: {0}")]
    InvalidExemplar(String),
    #[error("unexpected content `{0}` after the sample")]
    TrailingContent(String),
    #[error("malformed `# {0}` line")]
    MalformedMetadata(&'static str),
    #[error("unknown metric type `{0}`")]
    UnknownType(String),
    #[error("family `{name}` already declared as {previous}")]
    TypeConflict { name: String, previous: String },
    #[error("content after `# EOF`")]
    AfterEof,
}

/// An exemplar attached to a sample (OpenMetrics), e.g. a trace id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Exemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// As written (OpenMetrics: seconds since the epoch).
    pub timestamp: Option<f64>,
}

/// One sample line, lexed but not yet attributed to a family.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// As written: milliseconds in 0.0.4, seconds in OpenMetrics.
    pub timestamp: Option<f64>,
    pub exemplar: Option<Exemplar>,
}

/// A metadata line.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Meta {
    Help {
        name: String,
        text: String,
    },
    Type {
        name: String,
        kind: String,
    },
    Unit {
        name: String,
        unit: String,
    },
    Eof,
    /// Any other comment: carries no data.
    Comment,
}

/// Lexes a line starting with `#`.
pub(super) fn parse_meta(line: &str) -> Result<Meta, LineErrorKind> {
    let body = line.strip_prefix('#').unwrap_or(line);
    let Some(rest) = body.strip_prefix([' ', '\t']) else { return Ok(Meta::Comment) };
    let rest = rest.trim_start_matches([' ', '\t']);
    let (keyword, rest) = split_token(rest);
    let (name, rest) = split_token(rest);
    let bad = |what| Err(LineErrorKind::MalformedMetadata(what));
    match keyword {
        "EOF" if name.is_empty() => Ok(Meta::Eof),
        "EOF" => bad("EOF"),
        "HELP" | "TYPE" | "UNIT" if !is_metric_name(name) => bad(meta_label(keyword)),
        "HELP" => Ok(Meta::Help { name: name.into(), text: unescape_help(rest) }),
        "TYPE" => match split_token(rest) {
            ("", _) => bad("TYPE"),
            (kind, "") => Ok(Meta::Type { name: name.into(), kind: kind.into() }),
            _ => bad("TYPE"),
        },
        "UNIT" => Ok(Meta::Unit { name: name.into(), unit: rest.trim_end().into() }),
        _ => Ok(Meta::Comment),
    }
}

fn meta_label(keyword: &str) -> &'static str {
    match keyword {
        "HELP" => "HELP",
        "TYPE" => "TYPE",
        _ => "UNIT",
    }
}

/// First blank-separated token and the rest after one run of blanks.
fn split_token(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], s[end..].trim_start_matches([' ', '\t']))
}

/// HELP text escapes: `\\` and `\n` (0.0.4), plus `\"` (OpenMetrics).
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.trim_end().chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

pub(super) fn is_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Byte cursor over one line. Every delimiter is ASCII, so byte offsets
/// taken at delimiters are always char boundaries.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// Skips spaces and tabs; true if it skipped any.
    fn blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Identifier: `[a-zA-Z_(:)][a-zA-Z0-9_(:)]*`, colons only if allowed.
    fn ident(&mut self, colons: bool) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            let ok = b.is_ascii_alphabetic() || b == b'_' || (colons && b == b':') || (self.pos > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// Up to the next blank or the end of the line.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A `"..."` string with `\\`, `\"` and `\n` escapes; anything else,
    /// including `,`, `}`, `=` and `#`, is taken literally.
    fn quoted(&mut self) -> Result<String, LineErrorKind> {
        if !self.eat(b'"') {
            return Err(LineErrorKind::UnterminatedQuote);
        }
        let mut out = String::new();
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    // Unknown escapes are kept as written rather than guessed at.
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(LineErrorKind::UnterminatedQuote)
    }

    /// After `{`: labels up to the closing `}`. `name_slot`, when given,
    /// receives a bare quoted metric name (`{"my.metric", a="b"}`).
    fn label_set(
        &mut self,
        labels: &mut BTreeMap<String, String>,
        mut name_slot: Option<&mut Option<String>>,
    ) -> Result<(), LineErrorKind> {
        loop {
            self.blanks();
            if self.eat(b'}') {
                return Ok(());
            }
            let quoted_name = self.peek() == Some(b'"');
            let label = if quoted_name {
                self.quoted()?
            } else {
                match self.ident(false) {
                    "" if self.at_end() => return Err(LineErrorKind::UnterminatedLabelSet),
                    "" => return Err(LineErrorKind::InvalidLabelName),
                    ident => ident.to_owned(),
                }
            };
            self.blanks();
            if self.eat(b'=') {
                self.blanks();
                if self.peek() != Some(b'"') {
                    return Err(LineErrorKind::ExpectedQuote(label));
                }
                let value = self.quoted()?;
                if labels.contains_key(&label) {
                    return Err(LineErrorKind::DuplicateLabel(label));
                }
                labels.insert(label, value);
            } else {
                match name_slot.as_deref_mut() {
                    Some(slot @ None) if quoted_name => *slot = Some(label),
                    _ => return Err(LineErrorKind::ExpectedEquals(label)),
                }
            }
            self.blanks();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(());
            }
            return Err(if self.at_end() { LineErrorKind::UnterminatedLabelSet } else { LineErrorKind::ExpectedCommaOrBrace });
        }
    }
}

fn parse_value(token: &str) -> Result<f64, LineErrorKind> {
    if token.is_empty() {
        return Err(LineErrorKind::MissingValue);
    }
    // Rust's float syntax matches Go's closely enough: `NaN`, `+Inf`, `-Inf`,
    // also `inf` (which prometheus-client 0.25 writes), exponents.
    token.parse::<f64>().map_err(|_| LineErrorKind::InvalidValue(token.into()))
}

fn parse_timestamp(token: &str) -> Result<f64, LineErrorKind> {
    match token.parse::<f64>() {
        Ok(t) if t.is_finite() => Ok(t),
        _ => Err(LineErrorKind::InvalidTimestamp(token.into())),
    }
}

/// Lexes a sample line (the caller has ruled out blank and `#` lines).
pub(super) fn parse_sample(line: &str) -> Result<RawSample, LineErrorKind> {
    let mut c = Cursor { s: line, pos: 0 };
    let mut name = None;
    if c.peek() != Some(b'{') {
        match c.ident(true) {
            "" => return Err(LineErrorKind::InvalidMetricName),
            n => name = Some(n.to_owned()),
        }
    }
    let mut gap = c.blanks();
    let mut labels = BTreeMap::new();
    if c.eat(b'{') {
        c.label_set(&mut labels, Some(&mut name))?;
        gap = c.blanks();
    }
    let name = name.ok_or(LineErrorKind::InvalidMetricName)?;
    if !gap && !c.at_end() {
        // e.g. `my-metric 1` or `x{a="b"}1`
        return Err(LineErrorKind::InvalidMetricName);
    }
    let value = parse_value(c.token())?;
    c.blanks();
    let mut timestamp = None;
    if !c.at_end() && c.peek() != Some(b'#') {
        timestamp = Some(parse_timestamp(c.token())?);
        c.blanks();
    }
    let mut exemplar = None;
    if c.eat(b'#') {
        exemplar = Some(parse_exemplar(&mut c).map_err(|e| LineErrorKind::InvalidExemplar(e.to_string()))?);
    }
    c.blanks();
    if !c.at_end() {
        return Err(LineErrorKind::TrailingContent(c.s[c.pos..].into()));
    }
    Ok(RawSample { name, labels, value, timestamp, exemplar })
}

/// After the ` # ` that starts an exemplar: `{labels} value [timestamp]`.
fn parse_exemplar(c: &mut Cursor<'_>) -> Result<Exemplar, LineErrorKind> {
    c.blanks();
    if !c.eat(b'{') {
        return Err(LineErrorKind::ExpectedCommaOrBrace);
    }
    let mut labels = BTreeMap::new();
    c.label_set(&mut labels, None)?;
    c.blanks();
    let value = parse_value(c.token())?;
    c.blanks();
    let timestamp = match c.token() {
        "" => None,
        t => Some(parse_timestamp(t)?),
    };
    Ok(Exemplar { labels, value, timestamp })
}
