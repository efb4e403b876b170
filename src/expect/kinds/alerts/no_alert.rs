//! `kind: no_alert` — no (false) alarm in the window: none of the named
//! alerts (or none at all) firing, or also pending when asked.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{alert_name, needs_alerting, no_data};
use crate::clock::Window;
use crate::collectors::alerts::AlertRecord;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::{Ctx, Names};

/// `kind: no_alert` — nothing fires in the window (no false alarm).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoAlert {
    /// Only these alerts (default: any).
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Also fail on `pending` alerts (default false: firing only).
    #[serde(default)]
    pub pending: bool,
}

/// `kind: no_alert` — no (false) alarm in the window.
#[derive(Debug, Clone)]
pub struct NoAlertCheck {
    /// Empty: any alert.
    pub alerts: Vec<String>,
    /// Also count `pending` (not only `firing`).
    pub include_pending: bool,
}

impl Kind for NoAlertCheck {
    const NAME: &'static str = "no_alert";
    type Raw = RawNoAlert;

    fn compile(cx: &mut Ctx, path: &str, r: RawNoAlert, names: &Names) -> Option<Self> {
        let alerting = needs_alerting(cx, path, names.alerting)?;
        for (i, a) in r.alerts.iter().enumerate() {
            alert_name(cx, &format!("{path}.alerts[{i}]"), a, alerting);
        }
        Some(NoAlertCheck { alerts: r.alerts, include_pending: r.pending })
    }

    fn describe(&self) -> String {
        if self.alerts.is_empty() { "no alert fires".to_string() } else { format!("{} never fire", self.alerts.join(", ")) }
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        no_alert(self, rec.alerts.as_ref(), w, rec.origin)
    }

    fn signals(&self) -> Signals {
        let mut s = Signals::default();
        s.alerts.extend(self.alerts.iter().cloned());
        s.alerts_any = self.alerts.is_empty();
        s
    }
}

pub(crate) fn no_alert(c: &NoAlertCheck, rec: Option<&AlertRecord>, w: Window, origin: Duration) -> Judgement {
    let which = if c.alerts.is_empty() { "no alert".to_string() } else { format!("none of {}", c.alerts.join(", ")) };
    let expected = format!("{which} {} in the window", if c.include_pending { "pending or firing" } else { "firing" });
    if let Some(j) = no_data(rec, expected.clone()) {
        return j;
    }
    let rec = rec.expect("checked by no_data");
    let polls: Vec<_> = rec.prometheus.iter().filter(|p| w.contains(p.at)).collect();
    if polls.is_empty() {
        return Judgement { pass: false, expected, observed: "Prometheus was not polled in the window".into(), evidence: json!(null) };
    }
    let mut offenders: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for p in &polls {
        for a in &p.alerts {
            let counted = (c.alerts.is_empty() || c.alerts.contains(&a.name)) && (a.firing() || c.include_pending);
            if counted && !offenders.contains_key(&a.name) {
                offenders.insert(
                    a.name.clone(),
                    json!({ "first_seen": secs(p.at, origin), "state": a.state, "value": a.value, "labels": a.labels }),
                );
            }
        }
    }
    if offenders.is_empty()
        && let Some(why) = rec.not_evaluated(&c.alerts, w)
    {
        let observed = format!("not judgeable: {why}, so no alert firing proves nothing");
        return Judgement { pass: false, expected, observed, evidence: json!({ "polls": polls.len(), "rules": rec.rules }) };
    }
    Judgement {
        pass: offenders.is_empty(),
        expected,
        observed: if offenders.is_empty() {
            format!("nothing fired in {} polls", polls.len())
        } else {
            let list: Vec<String> = offenders
                .iter()
                .map(|(n, v)| format!("{n} {} at {}", v["state"].as_str().unwrap_or(""), v["first_seen"].as_str().unwrap_or("")))
                .collect();
            format!("false alarm: {}", list.join(", "))
        },
        evidence: json!({ "polls": polls.len(), "alerts": offenders }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::clock::Window;
    use crate::collectors::alerts::RuleError;

    use std::time::Duration;

    #[test]
    fn no_alert_passes_when_quiet_and_names_the_false_alarm() {
        let quiet = NoAlertCheck { alerts: vec![], include_pending: false };
        assert!(no_alert(&quiet, Some(&record()), Window { start: s(0.0), end: s(10.0) }, Duration::ZERO).pass);
        // Pending alone is not firing, unless asked.
        assert!(no_alert(&quiet, Some(&record()), Window { start: s(10.0), end: s(12.0) }, Duration::ZERO).pass);
        let strict = NoAlertCheck { alerts: vec!["A".into()], include_pending: true };
        let j = no_alert(&strict, Some(&record()), Window { start: s(10.0), end: s(12.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("false alarm: A pending at 10.00s"), "{}", j.observed);
        let j = no_alert(&quiet, Some(&record()), Window { start: s(5.0), end: s(25.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("A firing at 12.00s"), "{}", j.observed);
        let j = no_alert(&quiet, Some(&record()), Window { start: s(40.0), end: s(50.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("not polled in the window"), "{}", j.observed);
    }

    #[test]
    fn quiet_is_an_answer_only_while_prometheus_evaluated_the_rules() {
        let quiet = NoAlertCheck { alerts: vec![], include_pending: false };
        let w = Window { start: s(0.0), end: s(9.0) };
        let judged = |rec: &AlertRecord| no_alert(&quiet, Some(rec), w, Duration::ZERO);
        assert!(judged(&record()).pass);
        let mut rec = record();
        rec.rules.clear();
        let j = judged(&rec);
        assert!(!j.pass && j.observed.starts_with("not judgeable: Prometheus reported no alerting rule"), "{}", j.observed);
        let mut rec = record();
        rec.rules.get_mut("A").unwrap().errors.push(RuleError { at: s(4.0), error: "many-to-many matching not allowed".into() });
        let j = judged(&rec);
        assert!(!j.pass && j.observed.contains("rule `A` failed to evaluate at 4.00s: many-to-many"), "{}", j.observed);
        let mut rec = record();
        rec.rules.get_mut("A").unwrap().evaluated.retain(|t| *t < s(3.0) || *t > s(7.0));
        let j = judged(&rec);
        assert!(!j.pass && j.observed.contains("not seen evaluating rule `A` between 2.50s and 7.50s"), "{}", j.observed);
        let mut rec = record();
        rec.rules.get_mut("A").unwrap().evaluated.retain(|t| *t < s(5.0));
        let j = judged(&rec);
        assert!(!j.pass && j.observed.contains("between 4.50s and 9.00s"), "stopped evaluating: {}", j.observed);
        let named = NoAlertCheck { alerts: vec!["B".into()], include_pending: false };
        let j = no_alert(&named, Some(&record()), w, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("no alerting rule named `B`"), "{}", j.observed);
    }
}
