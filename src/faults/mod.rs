//! TEMPORARY stub; replaced by the faults branch.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum MockConfig { Openai {}, Http {} }
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec { pub error: Option<serde_json::Value> }
pub fn validate(_m: &MockConfig, _s: &FaultSpec) -> Vec<String> { Vec::new() }
