//! Comparisons written in scenarios: `"> 0"`, `"<= 3"`, `"== 0"`, `"< 250ms"`.
//! Durations are converted to seconds so they compare with metric values.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comparison {
    pub op: Op,
    pub value: f64,
}

impl Comparison {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (op, rest) = Self::split_op(s)?;
        let value = parse_number(rest)?;
        Ok(Self { op, value })
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
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_and_units() {
        assert_eq!(Comparison::parse("<= 3").unwrap(), Comparison { op: Op::Le, value: 3.0 });
        assert_eq!(Comparison::parse(">0").unwrap().op, Op::Gt);
        assert_eq!(Comparison::parse("< 250ms").unwrap().value, 0.25);
        assert_eq!(Comparison::parse("< 5%").unwrap().value, 0.05);
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
