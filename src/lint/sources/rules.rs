//! Prometheus rule files (`groups: [{name, rules: [{alert|record, expr, ...}]}]`)
//! -> one [`Reference`](super::Reference) per rule, sourced `file:line alert Name`.
//!
//! The file is read into a small tree built from yaml-rust2's marked events,
//! so every `expr` keeps the line of its key (a block scalar `expr: |` reports
//! the line of `expr:`). Only what the lint needs is looked at; the full
//! schema is `promtool check rules`' job.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::Sources;
use crate::lint::{Finding, FindingKind};

/// Reads rule file text; `file` names it in sources.
pub fn parse(file: &str, text: &str) -> Sources {
    let mut out = Sources::default();
    let invalid = |line: usize, message: String| {
        let source = if line > 0 { format!("{file}:{line}") } else { file.to_owned() };
        Finding::new(FindingKind::RulesInvalid, source, message)
    };
    let root = match tree(text) {
        Ok(root) => root,
        Err(e) => {
            out.findings.push(invalid(0, format!("not YAML: {e}")));
            return out;
        }
    };
    let Some(groups) = root.get("groups").and_then(|(_, n)| n.seq()) else {
        out.findings.push(invalid(0, "no `groups:` list".into()));
        return out;
    };
    for group in groups {
        let Some((_, rules)) = group.get("rules") else { continue };
        for (i, rule) in rules.seq().unwrap_or_default().iter().enumerate() {
            let Some((line, expr)) = rule.get("expr").and_then(|(l, n)| Some((l, n.scalar()?))) else {
                continue; // promtool reports a rule without `expr`
            };
            let what = match (rule.get("alert"), rule.get("record")) {
                (Some((_, n)), _) => format!("alert {}", n.scalar().unwrap_or("?")),
                (None, Some((_, n))) => {
                    let name = n.scalar().unwrap_or("?");
                    out.recorded.insert(name.to_owned());
                    format!("record {name}")
                }
                (None, None) => format!("rule {}", i + 1),
            };
            out.add(format!("{file}:{line} {what}"), expr);
        }
    }
    out
}

/// A YAML node; mapping entries keep the line of their key.
#[derive(Debug)]
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, usize, Node)>),
    /// An alias: not followed.
    Alias,
}

impl Node {
    /// The value of `key` in a mapping, with the key's line.
    fn get(&self, key: &str) -> Option<(usize, &Node)> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, ..)| k == key).map(|(_, l, n)| (*l, n)),
            _ => None,
        }
    }

    fn seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(items) => Some(items),
            _ => None,
        }
    }

    fn scalar(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

enum Open {
    Seq(Vec<Node>),
    /// Entries so far, and a key (with its line) waiting for its value.
    Map(Vec<(String, usize, Node)>, Option<(String, usize)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
}

impl Builder {
    fn push(&mut self, node: Node, mark: Marker) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(items)) => items.push(node),
            Some(Open::Map(entries, pending)) => match pending.take() {
                Some((key, line)) => entries.push((key, line, node)),
                None => *pending = Some((node.scalar().unwrap_or_default().to_owned(), mark.line())),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => self.push(Node::Scalar(value), mark),
            Event::Alias(_) => self.push(Node::Alias, mark),
            Event::SequenceStart(..) => self.stack.push(Open::Seq(Vec::new())),
            Event::MappingStart(..) => self.stack.push(Open::Map(Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(items)) => Node::Seq(items),
                    Some(Open::Map(entries, _)) => Node::Map(entries),
                    None => return,
                };
                self.push(node, mark);
            }
            _ => {}
        }
    }
}

/// The first document of `text` (an empty one is an empty mapping).
fn tree(text: &str) -> Result<Node, yaml_rust2::ScanError> {
    let mut b = Builder::default();
    Parser::new_from_str(text).load(&mut b, false)?;
    Ok(b.root.unwrap_or(Node::Map(Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "\
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Broken
        expr: sum(rate(x[5m])
      - alert: Multi
        for: 1m
        expr: |
          rate(a_total[1m])
            > 0
  - name: h
    rules:
      - alert: NoExpr
";

    #[test]
    fn references_with_lines_and_recorded_names() {
        let s = parse("r.yaml", RULES);
        let sources: Vec<_> = s.references.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(sources, ["r.yaml:5 record job:up:sum", "r.yaml:10 alert Multi"]);
        assert!(s.recorded.contains("job:up:sum"));
        assert_eq!(s.references[1].selectors[0].metric.as_deref(), Some("a_total"));
        assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
        assert_eq!(s.findings[0].check, FindingKind::ParseError);
        assert_eq!(s.findings[0].source, "r.yaml:7 alert Broken");
        assert!(s.findings[0].message.starts_with("invalid PromQL: "), "{}", s.findings[0].message);
    }

    #[test]
    fn bad_yaml_and_wrong_shape_are_findings() {
        let s = parse("r.yaml", "groups: [\n");
        assert_eq!(s.findings[0].check, FindingKind::RulesInvalid);
        assert!(s.findings[0].message.starts_with("not YAML"), "{}", s.findings[0].message);
        for text in ["", "groups: 3", "- a\n- b\n", "rules: []"] {
            let s = parse("r.yaml", text);
            assert_eq!(s.findings.len(), 1, "{text:?}");
            assert_eq!(s.findings[0].message, "no `groups:` list");
        }
        assert!(parse("r.yaml", "groups: []").findings.is_empty());
    }
}
