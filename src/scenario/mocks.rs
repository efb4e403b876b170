//! `mocks:` — the fault-injecting dependencies (their config types live in
//! `faults`); compiling resolves their files against the scenario directory
//! and validates each mock.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

use super::ctx::Ctx;

pub fn compile_mocks(cx: &mut Ctx, v: Option<Value>, dir: &Path) -> BTreeMap<String, crate::faults::MockConfig> {
    use crate::faults::MockConfig;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Some(v) = v else { return BTreeMap::new() };
    let Some(raw) = cx.de::<BTreeMap<String, Value>>("mocks", v) else {
        cx.broken.insert("mocks".into());
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        let path = format!("mocks.{name}");
        let Some(mut m) = cx.de::<MockConfig>(&path, v) else {
            cx.broken.insert(path);
            continue;
        };
        // Files are relative to the scenario, like every other path in it.
        match &mut m {
            MockConfig::Openai(c) => {
                if let Some(f) = c.responses_file.as_mut().filter(|f| f.is_relative()) {
                    *f = dir.join(&*f);
                }
            }
            MockConfig::Http(c) => {
                for r in &mut c.routes {
                    if let Some(f) = r.body_file.as_mut().filter(|f| f.is_relative()) {
                        *f = dir.join(&*f);
                    }
                }
            }
        }
        for problem in crate::faults::validate_mock(&m) {
            cx.err(&path, problem, None);
        }
        out.insert(name, m);
    }
    out
}
