//! The registry of expectation kinds: one line per kind in the table at the
//! end of this file, the only place besides its own module that names a kind.
//! Each kind is a module implementing [`Kind`]; kinds that share helpers form
//! a family folder (`journal`, `traces`, `alerts`) whose `mod.rs` holds the
//! shared parts and the fixtures its kinds' tests share.
//!
//! From the table come the module declarations of single-file kinds, the
//! [`Check`] enum, [`KINDS`], and the dispatch of compile, judge, default
//! names, default windows, signals and links (`super::expectations` uses them).
//! Floors: the kinds' modules <- this table <- `super::expectations` <- `plan`.

use serde_norway::Value;

use super::kind::{Kind, Signals};
use super::{Judgement, Recorded};
use crate::scenario::{Ctx, Names, WindowExpr};

pub mod alerts;
pub mod journal;
pub mod states;
pub mod traces;

/// `metric` declares `pub mod metric;`; `journal/retries` is in a family folder.
macro_rules! declare {
    ($module:ident) => {
        pub mod $module;
    };
    ($family:ident / $sub:ident) => {};
}

macro_rules! registry {
    ($($module:ident $(/ $sub:ident)?: $variant:ident($ty:ident)),+ $(,)?) => {
        $(declare!($module $(/ $sub)?);)+

        /// A compiled expectation's check: one variant per kind.
        #[derive(Debug, Clone)]
        pub enum Check {
            $($variant(Box<$module $(::$sub)?::$ty>),)+
        }

        /// Every `kind:` value, in the order of the table.
        pub const KINDS: &[&str] = &[$(<$module $(::$sub)?::$ty as Kind>::NAME),+];

        impl Check {
            /// The `kind:` value.
            pub fn kind(&self) -> &'static str {
                match self { $(Check::$variant(_) => <$module $(::$sub)?::$ty as Kind>::NAME,)+ }
            }
            /// Judged by an overhead run (not over a timeline window).
            pub fn overhead(&self) -> bool {
                match self { $(Check::$variant(_) => <$module $(::$sub)?::$ty as Kind>::OVERHEAD,)+ }
            }
            pub fn default_name(&self, w: &WindowExpr) -> String {
                match self { $(Check::$variant(c) => c.default_name(w),)+ }
            }
            pub(crate) fn default_window(&self) -> WindowExpr {
                match self { $(Check::$variant(c) => c.default_window(),)+ }
            }
            pub(crate) fn judge(&self, rec: &Recorded, w: crate::clock::Window, id: &str) -> Judgement {
                match self { $(Check::$variant(c) => c.judge(rec, w, id),)+ }
            }
            /// The signals this check reads.
            pub fn signals(&self) -> Signals {
                match self { $(Check::$variant(c) => c.signals(),)+ }
            }
            pub(crate) fn link(&mut self, all: &[(String, Signals)]) {
                match self { $(Check::$variant(c) => c.link(all),)+ }
            }
        }

        /// Each kind's name and the schema of its own fields (`Kind::Raw`), for
        /// `ordeal schema scenario`; nested types go to `g`'s definitions.
        pub fn kind_schemas(g: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
            vec![$((
                <$module $(::$sub)?::$ty as Kind>::NAME,
                <<$module $(::$sub)?::$ty as Kind>::Raw as schemars::JsonSchema>::json_schema(g),
            )),+]
        }

        /// Compile one expectation's kind-specific fields; `Err` for an unknown kind.
        pub(crate) fn compile_check(kind: &str, cx: &mut Ctx, path: &str, rest: Value, names: &Names) -> Result<Option<Check>, ()> {
            $(
                if kind == <$module $(::$sub)?::$ty as Kind>::NAME {
                    return Ok(cx
                        .de::<<$module $(::$sub)?::$ty as Kind>::Raw>(path, rest)
                        .and_then(|raw| <$module $(::$sub)?::$ty as Kind>::compile(cx, path, raw, names))
                        .map(|c| Check::$variant(Box::new(c))));
                }
            )+
            Err(())
        }
    };
}

registry! {
    metric: Metric(MetricCheck),
    states/breaker: Breaker(BreakerCheck),
    states/sequence: States(StatesCheck),
    journal/fail_fast: FailFast(FailFastCheck),
    journal/retries: Retries(RetriesCheck),
    journal/traffic: Traffic(TrafficCheck),
    journal/fallback: Fallback(FallbackCheck),
    health: Health(HealthCheck),
    load: Load(LoadCheck),
    logs: Logs(LogCheck),
    no_leaks: NoLeaks(NoLeaksCheck),
    traces/spans: TraceSpans(TraceSpansCheck),
    traces/complete: TraceComplete(TraceCompleteCheck),
    traces/sampling: TraceSampling(TraceSamplingCheck),
    alerts/alert: Alert(AlertCheck),
    alerts/no_alert: NoAlert(NoAlertCheck),
    alerts/delivered: AlertDelivered(AlertDeliveredCheck),
    promql: Promql(PromqlCheck),
    contract: Contract(ContractCheck),
    accounting: Accounting(AccountingCheck),
    accounting/no_task_lost: NoTaskLost(NoTaskLostCheck),
    overhead: Overhead(OverheadCheck),
}
