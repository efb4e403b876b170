//! Phase-relative windows: `fault`, `fault+2s..recovery`, `recovery.start+5s..end`.
//!
//! Grammar (whitespace ignored):
//! ```text
//! window := ref ".." ref | phase
//! ref    := anchor (("+" | "-") duration)*
//! anchor := "start" | "end" | phase | phase ".start" | phase ".end"
//! ```
//! A bare phase is its whole span; as the left end of `..` it means the
//! phase's start, as the right end its end. Offsets resolve against the
//! timeline (phase 0 starts at the timeline origin).

use std::time::Duration;

use crate::clock::Window;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    Start,
    End,
    PhaseStart(String),
    PhaseEnd(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    anchor: Anchor,
    /// Signed offset in milliseconds.
    offset_ms: i64,
}

/// A parsed window, resolved later against the phase table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowExpr {
    text: String,
    from: Ref,
    to: Ref,
}

/// Phase boundaries relative to the timeline origin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PhaseSpan {
    pub name: String,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub start: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub end: Duration,
    /// The load's rate over the phase, from its start to its end (requests/s),
    /// when the phase sets `rate:` or `ramp:`; else the load's own rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<(f64, f64)>,
}

fn parse_ref(s: &str, left: bool) -> Result<Ref, String> {
    let s = s.trim();
    let split = s.find(['+', '-']).unwrap_or(s.len());
    let (anchor_s, mut rest) = (s[..split].trim(), s[split..].trim());
    if anchor_s.is_empty() {
        return Err(format!("`{s}` has no anchor (a phase name, `start` or `end`)"));
    }
    let anchor = match anchor_s {
        "start" => Anchor::Start,
        "end" => Anchor::End,
        a => match a.rsplit_once('.') {
            Some((p, "start")) => Anchor::PhaseStart(p.to_string()),
            Some((p, "end")) => Anchor::PhaseEnd(p.to_string()),
            Some((_, other)) => return Err(format!("unknown phase boundary `.{other}` (use `.start` or `.end`)")),
            None if left => Anchor::PhaseStart(a.to_string()),
            None => Anchor::PhaseEnd(a.to_string()),
        },
    };
    let mut offset_ms = 0i64;
    while !rest.is_empty() {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        rest = rest[1..].trim_start();
        let next = rest.find(['+', '-']).unwrap_or(rest.len());
        let d = humantime::parse_duration(rest[..next].trim()).map_err(|e| format!("bad duration `{}`: {e}", rest[..next].trim()))?;
        if d > super::ctx::MAX_DURATION {
            return Err(format!("offset `{}` is longer than 24h", rest[..next].trim()));
        }
        offset_ms += sign * d.as_millis() as i64;
        rest = rest[next..].trim();
    }
    Ok(Ref { anchor, offset_ms })
}

impl WindowExpr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty window".into());
        }
        let (from, to) = match t.split_once("..") {
            Some((a, b)) => (parse_ref(a, true)?, parse_ref(b, false)?),
            None => {
                let r = parse_ref(t, true)?;
                match (&r.anchor, r.offset_ms) {
                    (Anchor::PhaseStart(p), 0) => (r.clone(), Ref { anchor: Anchor::PhaseEnd(p.clone()), offset_ms: 0 }),
                    _ => return Err(format!("`{t}` is a point, not a window: write `{t}..end` or name a phase")),
                }
            }
        };
        Ok(Self { text: t.to_string(), from, to })
    }

    /// `after: X` means from X to the end of the run.
    pub fn after(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let from = parse_ref(t, true)?;
        Ok(Self { text: format!("{t}..end"), from, to: Ref { anchor: Anchor::End, offset_ms: 0 } })
    }

    /// The whole timeline.
    pub fn whole() -> Self {
        Self { text: "start..end".into(), from: Ref { anchor: Anchor::Start, offset_ms: 0 }, to: Ref { anchor: Anchor::End, offset_ms: 0 } }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Phase names this window refers to (for validation).
    pub fn phases(&self) -> Vec<&str> {
        let mut out: Vec<&str> = [&self.from, &self.to]
            .into_iter()
            .filter_map(|r| match &r.anchor {
                Anchor::PhaseStart(p) | Anchor::PhaseEnd(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }

    /// Resolve to timeline-relative offsets; `None` if a phase is unknown.
    pub fn resolve(&self, phases: &[PhaseSpan]) -> Option<Window> {
        let total = phases.last().map(|p| p.end).unwrap_or_default().as_millis() as i64;
        let (from, to) = self.bounds_ms(phases)?;
        let at = |ms: i64| Duration::from_millis(ms.clamp(0, total) as u64);
        Some(Window::new(at(from), at(to)))
    }

    /// Both ends in ms from the timeline's start, before clamping to it (so
    /// a reversed window or one past the end can be reported as such).
    pub fn bounds_ms(&self, phases: &[PhaseSpan]) -> Option<(i64, i64)> {
        let total = phases.last().map(|p| p.end).unwrap_or_default();
        let point = |r: &Ref| -> Option<i64> {
            let base = match &r.anchor {
                Anchor::Start => Duration::ZERO,
                Anchor::End => total,
                Anchor::PhaseStart(p) => phases.iter().find(|s| &s.name == p)?.start,
                Anchor::PhaseEnd(p) => phases.iter().find(|s| &s.name == p)?.end,
            };
            Some(base.as_millis() as i64 + r.offset_ms)
        };
        Some((point(&self.from)?, point(&self.to)?))
    }

    /// Shift a timeline-relative window onto the run clock.
    pub fn resolve_at(&self, phases: &[PhaseSpan], origin: Duration) -> Option<Window> {
        self.resolve(phases).map(|w| Window::new(w.start + origin, w.end + origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases() -> Vec<PhaseSpan> {
        let s =
            |n: &str, a: u64, b: u64| PhaseSpan { name: n.into(), start: Duration::from_secs(a), end: Duration::from_secs(b), rate: None };
        vec![s("warmup", 0, 3), s("fault", 3, 9), s("recovery", 9, 20)]
    }

    fn res(expr: &str) -> (u64, u64) {
        let w = WindowExpr::parse(expr).unwrap().resolve(&phases()).unwrap();
        (w.start.as_millis() as u64, w.end.as_millis() as u64)
    }

    #[test]
    fn bare_phase_is_its_span() {
        assert_eq!(res("fault"), (3000, 9000));
    }

    #[test]
    fn ranges_with_offsets() {
        assert_eq!(res("fault+2s..recovery"), (5000, 20000));
        assert_eq!(res("recovery.start+5s..end"), (14000, 20000));
        assert_eq!(res("fault.end-500ms..fault.end+1s"), (8500, 10000));
        assert_eq!(res("start..fault"), (0, 9000));
    }

    #[test]
    fn after_runs_to_the_end_and_clamps() {
        let w = WindowExpr::after("recovery+5s").unwrap().resolve(&phases()).unwrap();
        assert_eq!((w.start.as_millis(), w.end.as_millis()), (14000, 20000));
        assert_eq!(res("end-100s..end"), (0, 20000));
    }

    #[test]
    fn rejects_points_and_bad_durations() {
        assert!(WindowExpr::parse("fault+1s").unwrap_err().contains("point"));
        assert!(WindowExpr::parse("fault+1x..end").unwrap_err().contains("bad duration"));
        assert!(WindowExpr::parse("fault.middle..end").unwrap_err().contains(".start"));
    }

    #[test]
    fn unknown_phase_is_reported_by_phases() {
        let w = WindowExpr::parse("outage..end").unwrap();
        assert_eq!(w.phases(), vec!["outage"]);
        assert!(w.resolve(&phases()).is_none());
    }
}
