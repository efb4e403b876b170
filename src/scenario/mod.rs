//! Scenario sections and the compile toolkit: the bottom floor of
//! compilation. Each section is one module owning its raw serde types (as
//! written, `deny_unknown_fields`; their `///` comments are the field
//! reference), its plan types, and its compile step: `stack`, `mocks`,
//! `load`, `timeline`, `alerting`, `overhead`.
//!
//! The toolkit: `ctx` (error collector with file:line:col, field path and
//! hint; what expectations may refer to; parsers shared by several kinds),
//! `diag`, `locate` (field path -> line), and the small languages used inside
//! field values: `window` (`outage+2s..recovery.end`), `cmp` (`"<= 3"`),
//! `template` (`{{mocks.llm.url}}`), `field_match` (`where:` values, log levels).
//!
//! Expectation kinds build on this floor (`expect::kinds`), and `plan`
//! assembles a whole file above them; nothing here knows a kind.

pub mod alerting;
pub mod cmp;
pub mod ctx;
pub mod diag;
pub mod field_match;
pub mod load;
mod load_vars;
pub(crate) mod locate;
pub mod mocks;
pub mod overhead;
pub mod stack;
pub mod template;
pub mod timeline;
pub mod window;

pub use alerting::{AlertingMode, AlertingPlan, ManagedAlerting};
pub use ctx::{Ctx, Names, Scalar, check_route, cmp, matchers, one_of, parse_window, route};
pub use diag::{Diagnostic, Diagnostics};
pub use load::{LoadPlan, RequestPlan};
pub use overhead::{Budget, Claim, Decide, OverheadMetric, OverheadPlan, VariantPlan, format_confidence, format_value, min_rounds};
pub use stack::{ReadyProbe, RuntimeKind, ServicePlan, StackPlan};
pub use timeline::{FaultPlan, ServiceAction, ServiceFaultPlan};
pub use window::{PhaseSpan, WindowExpr};
