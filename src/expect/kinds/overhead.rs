//! `kind: overhead` — budgets for one variant's deltas against the baseline
//! of an overhead run. Compiled here; judged by the overhead run over all its
//! rounds (`overhead`), never over a timeline window. Its fields
//! (`RawOverheadBudget`) live with the `overhead:` section, whose claims share them.

use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::scenario::overhead::{Budget, Decide, RawOverheadBudget, budgets, compared_variant, decide};
use crate::scenario::{Ctx, Names, WindowExpr};

/// `kind: overhead`.
#[derive(Debug, Clone)]
pub struct OverheadCheck {
    pub variant: String,
    pub source: Option<String>,
    pub budgets: Vec<Budget>,
    pub decide: Decide,
    pub allow_inconclusive: bool,
}

impl Kind for OverheadCheck {
    const NAME: &'static str = "overhead";
    const OVERHEAD: bool = true;
    type Raw = RawOverheadBudget;

    fn compile(cx: &mut Ctx, path: &str, r: RawOverheadBudget, names: &Names) -> Option<Self> {
        let Some(plan) = names.overhead else {
            cx.err(path, "`kind: overhead` needs an `overhead:` section", Some("declare the variants and rounds under `overhead:`".into()));
            return None;
        };
        let variants: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
        if !compared_variant(cx, &format!("{path}.variant"), &r.variant, &variants, &plan.baseline) {
            return None;
        }
        let budgets = budgets(cx, path, r.given());
        if budgets.is_empty() {
            return None;
        }
        let decide = decide(cx, &format!("{path}.decide"), r.decide.as_deref(), plan.decide);
        Some(OverheadCheck {
            variant: r.variant,
            source: r.source,
            budgets,
            decide,
            allow_inconclusive: r.allow_inconclusive.unwrap_or(plan.allow_inconclusive),
        })
    }

    fn describe(&self) -> String {
        format!("{} overhead: {}", self.variant, self.budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join(", "))
    }

    fn default_name(&self, _window: &WindowExpr) -> String {
        self.describe()
    }

    fn judge(&self, _rec: &Recorded, _w: Window, _id: &str) -> Judgement {
        Judgement {
            pass: false,
            expected: "an overhead run".into(),
            observed: "overhead budgets are judged by the overhead run, not by a timeline run".into(),
            evidence: serde_json::Value::Null,
        }
    }

    fn signals(&self) -> Signals {
        Signals::default()
    }
}
