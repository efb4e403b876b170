//! PromQL selector extraction: every vector and matrix selector of an
//! expression, with its metric name and label matchers.
//!
//! Parsing is `promql-parser`'s (GreptimeDB), not ours; this file only walks
//! its AST. Selectors inside subqueries, function arguments, aggregations and
//! both sides of binary operators are all found.

use promql_parser::label::{MatchOp as ParserOp, Matcher, Matchers};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

/// The label holding the metric name.
pub const NAME_LABEL: &str = "__name__";

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "=~")]
    Re,
    #[serde(rename = "!~")]
    NotRe,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// `name op "value"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The value came from a dashboard variable (`$job`): it is not a literal to look for.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub variable: bool,
}

/// One vector or matrix selector.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct MetricSelector {
    /// From `name{...}` or `{__name__="name"}`; `None` when name-less or a regex.
    pub metric: Option<String>,
    /// Every matcher but the `__name__="..."` one that gave [`Self::metric`]
    /// (a `__name__=~` regex stays here). `or` alternatives are flattened in.
    pub matchers: Vec<LabelMatcher>,
    /// The selector as PromQL text, e.g. `tasks_total{status="failed"}[5m]`.
    pub text: String,
}

/// The parser's message for an expression that is not valid PromQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Every selector of `expr`, in the order they appear.
pub fn selectors(expr: &str) -> Result<Vec<MetricSelector>, ParseError> {
    let ast = parser::parse(expr).map_err(ParseError)?;
    let mut collector = Collector(Vec::new());
    // The visitor never fails and never cuts the walk short.
    let Ok(_) = walk_expr(&mut collector, &ast);
    Ok(collector.0)
}

struct Collector(Vec<MetricSelector>);

impl ExprVisitor for Collector {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        match expr {
            Expr::VectorSelector(vs) => {
                self.0.push(selector(vs.name.as_deref(), &vs.matchers, vs.to_string()));
            }
            Expr::MatrixSelector(ms) => {
                self.0.push(selector(ms.vs.name.as_deref(), &ms.vs.matchers, ms.to_string()));
            }
            _ => {}
        }
        Ok(true)
    }
}

fn selector(name: Option<&str>, matchers: &Matchers, text: String) -> MetricSelector {
    let all = matchers.matchers.iter().chain(matchers.or_matchers.iter().flatten());
    let mut metric = name.map(str::to_owned);
    let mut out = Vec::new();
    for m in all {
        let op = op(&m.op);
        if m.name == NAME_LABEL && op == MatchOp::Eq {
            metric.get_or_insert_with(|| m.value.clone());
            continue;
        }
        out.push(label_matcher(m, op));
    }
    MetricSelector { metric, matchers: out, text }
}

fn label_matcher(m: &Matcher, op: MatchOp) -> LabelMatcher {
    LabelMatcher { name: m.name.clone(), op, value: m.value.clone(), variable: false }
}

fn op(op: &ParserOp) -> MatchOp {
    match op {
        ParserOp::Equal => MatchOp::Eq,
        ParserOp::NotEqual => MatchOp::Ne,
        ParserOp::Re(_) => MatchOp::Re,
        ParserOp::NotRe(_) => MatchOp::NotRe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<Option<String>> {
        selectors(expr).unwrap().into_iter().map(|s| s.metric).collect()
    }

    #[test]
    fn finds_selectors_everywhere_in_the_tree() {
        let expr = "sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > 0.05 \
                    or histogram_quantile(0.9, sum by (le) (rate(c_bucket[1m]))) \
                    or max_over_time(d[10m:1m]) or -e offset 1m";
        let got: Vec<_> = names(expr).into_iter().flatten().collect();
        assert_eq!(got, ["a_total", "b_total", "c_bucket", "d", "e"]);
    }

    #[test]
    fn matchers_with_every_operator() {
        let s = selectors(r#"x{a="1", b!="2", c=~"3.*", d!~"4"}[5m]"#).unwrap();
        assert_eq!(s.len(), 1);
        let ops: Vec<_> = s[0].matchers.iter().map(|m| (m.name.as_str(), m.op, m.value.as_str())).collect();
        assert!(ops.contains(&("a", MatchOp::Eq, "1")));
        assert!(ops.contains(&("b", MatchOp::Ne, "2")));
        assert!(ops.contains(&("c", MatchOp::Re, "3.*")));
        assert!(ops.contains(&("d", MatchOp::NotRe, "4")));
        assert_eq!(ops.len(), 4, "no __name__ matcher left: {ops:?}");
        assert!(s[0].text.starts_with("x{") && s[0].text.ends_with("[5m]"), "{}", s[0].text);
    }

    #[test]
    fn name_from_name_matcher_and_none_for_regex_or_nameless() {
        assert_eq!(names(r#"{__name__="up", job="x"}"#), [Some("up".to_owned())]);
        let s = selectors(r#"{__name__=~"multiagent_.*"}"#).unwrap();
        assert_eq!(s[0].metric, None);
        assert_eq!(s[0].matchers[0].op, MatchOp::Re);
        assert_eq!(names(r#"{job="x"}"#), [None]);
    }

    #[test]
    fn parse_error_carries_the_parsers_message() {
        let err = selectors("sum(rate(x[5m])").unwrap_err();
        assert!(!err.0.is_empty());
        assert!(selectors("").is_err());
    }

    #[test]
    fn literals_and_strings_have_no_selectors() {
        assert!(selectors("1 + 2").unwrap().is_empty());
        assert_eq!(names(r#"label_replace(up, "a", "$1", "job", "(.*)")"#), [Some("up".to_owned())]);
    }
}
