//! Comparisons written in scenarios: `"> 0"`, `"<= 3"`, `"== 0"`, `"< 250ms"`.
//! Durations are converted to seconds so they compare with metric values.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Comparison {
    pub op: Op,
    /// In seconds for a duration, as a fraction for a percentage.
    pub value: f64,
    /// How the value was written: observed values are shown in the same unit.
    #[serde(skip)]
    pub unit: Unit,
}

/// The unit a comparison's value was written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unit {
    #[default]
    Plain,
    Percent,
    Micros,
    Millis,
    Seconds,
}

impl Comparison {
    pub fn new(op: Op, value: f64) -> Self {
        Self { op, value, unit: Unit::Plain }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let (op, rest) = Self::split_op(s)?;
        let value = parse_number(rest)?;
        let rest = rest.trim();
        let unit = if rest.parse::<f64>().is_ok() {
            Unit::Plain
        } else if rest.ends_with('%') {
            Unit::Percent
        } else if rest.ends_with("us") || rest.ends_with("µs") || rest.ends_with("ns") {
            Unit::Micros
        } else if rest.ends_with("ms") {
            Unit::Millis
        } else {
            Unit::Seconds
        };
        Ok(Self { op, value, unit })
    }

    /// `x` (in seconds, or a fraction) written in the unit of the gate:
    /// `807.9ms` beside `< 200ms`, `12.5%` beside `< 5%`.
    pub fn show(&self, x: f64) -> String {
        // Four decimals, trailing zeros dropped; a smaller value keeps 3 significant digits.
        let num = |v: f64| {
            if v != 0.0 && v.abs() < 0.001 {
                return format!("{v:.2e}");
            }
            let t = format!("{v:.4}");
            let t = t.trim_end_matches('0').trim_end_matches('.');
            if t == "-0" { "0".to_string() } else { t.to_string() }
        };
        match self.unit {
            Unit::Plain => num(x),
            Unit::Percent => format!("{}%", num(x * 100.0)),
            Unit::Micros => format!("{}us", num(x * 1e6)),
            Unit::Millis => format!("{}ms", num(x * 1000.0)),
            Unit::Seconds => format!("{}s", num(x)),
        }
    }

    /// The leading operator and the rest of the text.
    pub fn split_op(s: &str) -> Result<(Op, &str), String> {
        let s = s.trim();
        // Operators written backwards: `=<` would otherwise read as `=` then `< 0`.
        for (wrong, right) in [("=<", "<="), ("=>", ">="), ("=!", "!="), ("<>", "!=")] {
            if s.starts_with(wrong) {
                return Err(format!("`{s}`: `{wrong}` is not an operator; did you mean `{right}`?"));
            }
        }
        let ops = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt), ("=", Op::Eq)];
        ops.iter()
            .find_map(|(tok, op)| s.strip_prefix(tok).map(|r| (*op, r.trim())))
            .ok_or_else(|| format!("`{s}` does not start with a comparison operator (<, <=, >, >=, ==, !=)"))
    }

    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Op::Lt => x < self.value,
            Op::Le => x <= self.value,
            Op::Gt => x > self.value,
            Op::Ge => x >= self.value,
            Op::Eq => (x - self.value).abs() <= f64::EPSILON * self.value.abs().max(1.0),
            Op::Ne => (x - self.value).abs() > f64::EPSILON * self.value.abs().max(1.0),
        }
    }
}

/// A number, a percentage (`5%` -> 0.05) or a duration (`250ms` -> 0.25 seconds).
pub fn parse_number(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    if let Some(p) = s.strip_suffix('%')
        && let Ok(v) = p.trim().parse::<f64>()
    {
        return Ok(v / 100.0);
    }
    humantime::parse_duration(s).map(|d| d.as_secs_f64()).map_err(|_| format!("`{s}` is not a number, percentage or duration"))
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.show(self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_and_units() {
        assert_eq!(Comparison::parse("<= 3").unwrap(), Comparison::new(Op::Le, 3.0));
        assert_eq!(Comparison::parse(">0").unwrap().op, Op::Gt);
        assert_eq!(Comparison::parse("< 250ms").unwrap().value, 0.25);
        assert_eq!(Comparison::parse("< 5%").unwrap().value, 0.05);
        // Shown in the unit it was written in, and so are observed values.
        assert_eq!(Comparison::parse("< 250ms").unwrap().to_string(), "< 250ms");
        assert_eq!(Comparison::parse("< 250ms").unwrap().show(0.8079), "807.9ms");
        assert_eq!(Comparison::parse("<= 2s").unwrap().to_string(), "<= 2s");
        assert_eq!(Comparison::parse("< 5%").unwrap().show(0.125), "12.5%");
        assert_eq!(Comparison::parse("== 0").unwrap().show(0.5), "0.5");
        assert_eq!(Comparison::parse("< 1us").unwrap().to_string(), "< 1us");
        assert_eq!(Comparison::parse("> 0.00001").unwrap().to_string(), "> 1.00e-5", "small values keep their digits");
        assert!(Comparison::parse("3").is_err());
        assert!(Comparison::parse("> lots").is_err());
        assert_eq!(Comparison::parse("=< 0").unwrap_err(), "`=< 0`: `=<` is not an operator; did you mean `<=`?");
        assert!(Comparison::parse("<> 1").unwrap_err().contains("did you mean `!=`"));
    }

    #[test]
    fn evaluates() {
        assert!(Comparison::parse("== 0").unwrap().holds(0.0));
        assert!(!Comparison::parse("> 0").unwrap().holds(0.0));
        assert!(Comparison::parse("!= 1").unwrap().holds(2.0));
    }
}
