//! `{{ ... }}` templates in service commands, args and env, e.g.
//! `{{mocks.llm.url}}`, `{{services.worker.url}}`, `{{self.port}}`, `{{run.dir}}`,
//! and the harness's environment: `{{env.NAME}}` or `{{env.NAME:-default}}`.
//! Checked at compile time against the names the scenario declares;
//! rendered by the runtime once ports are allocated.

use std::collections::BTreeMap;

/// Split a string into literal and `{{ref}}` parts; error on an unclosed `{{`.
pub fn refs(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in `{s}`"))?;
        out.push(after[..j].trim().to_string());
        rest = &after[j + 2..];
    }
    Ok(out)
}

/// Names a template may refer to, built from the scenario.
#[derive(Debug, Default)]
pub struct Scope {
    pub services: Vec<String>,
    pub mocks: Vec<String>,
    /// The `mocks:` section failed to compile: any mock name is accepted (its error was reported).
    pub any_mock: bool,
    /// Extra fixed roots provided by optional harness parts (e.g. `otlp.grpc`).
    pub extra: Vec<String>,
}

const ENDPOINT_FIELDS: [&str; 3] = ["url", "host", "port"];

impl Scope {
    /// Why a reference is invalid, with the list of valid ones.
    pub fn check(&self, r: &str) -> Result<(), String> {
        let parts: Vec<&str> = r.split('.').collect();
        let ok = match parts.as_slice() {
            ["mocks", name, field] => (self.any_mock || self.mocks.iter().any(|m| m == name)) && ENDPOINT_FIELDS.contains(field),
            ["services", name, field] => self.services.iter().any(|m| m == name) && ENDPOINT_FIELDS.contains(field),
            ["self", field] => ENDPOINT_FIELDS.contains(field) || *field == "name" || *field == "bind",
            ["run", "dir" | "seed"] | ["scenario", "dir"] => true,
            ["env", ..] => r.len() > 4,
            _ => self.extra.iter().any(|e| e == r),
        };
        if ok {
            return Ok(());
        }
        let mut valid: Vec<String> =
            vec!["self.url".into(), "self.port".into(), "self.bind".into(), "run.dir".into(), "run.seed".into(), "scenario.dir".into()];
        valid.extend(self.mocks.iter().map(|m| format!("mocks.{m}.url")));
        valid.extend(self.services.iter().map(|s| format!("services.{s}.url")));
        valid.extend(self.extra.iter().cloned());
        Err(format!("unknown template reference `{{{{{r}}}}}`; valid: {}", valid.join(", ")))
    }
}

/// Replace every `{{ref}}` using `vars`; unknown references are an error
/// (compile-time checks make that a bug, not a user error).
pub fn render(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in `{s}`"))?;
        let key = after[..j].trim();
        match key.strip_prefix("env.") {
            Some(env) => out.push_str(&env_value(env)?),
            None => out.push_str(vars.get(key).ok_or_else(|| format!("no value for `{{{{{key}}}}}`"))?),
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `NAME` or `NAME:-default` of `{{env.NAME}}`: the harness's environment
/// variable (an empty one counts as unset), else the default.
pub fn env_value(env: &str) -> Result<String, String> {
    let (name, default) = match env.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (env, None),
    };
    match (std::env::var(name).ok().filter(|v| !v.is_empty()), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(format!("environment variable `{name}` is not set (write `{{{{env.{name}:-default}}}}` to give a default)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_renders_refs() {
        assert_eq!(refs("http://{{ mocks.llm.url }}/v1 {{self.port}}").unwrap(), vec!["mocks.llm.url", "self.port"]);
        let vars = BTreeMap::from([("self.port".to_string(), "8080".to_string())]);
        assert_eq!(render("127.0.0.1:{{self.port}}", &vars).unwrap(), "127.0.0.1:8080");
        assert!(render("{{nope}}", &vars).is_err());
        assert!(refs("{{open").is_err());
    }

    #[test]
    fn env_refs_with_defaults() {
        let vars = BTreeMap::new();
        assert_eq!(render("{{env.ORDEAL_SURELY_UNSET:-../target}}/release", &vars).unwrap(), "../target/release");
        assert!(render("{{env.ORDEAL_SURELY_UNSET}}", &vars).unwrap_err().contains("not set"));
        assert_eq!(render("{{env.PATH:-x}}", &vars).unwrap(), std::env::var("PATH").unwrap());
        let scope = Scope::default();
        assert!(scope.check("env.HOME").is_ok());
    }

    #[test]
    fn scope_checks_names() {
        let scope = Scope { services: vec!["worker".into()], mocks: vec!["llm".into()], any_mock: false, extra: vec![] };
        assert!(scope.check("mocks.llm.url").is_ok());
        assert!(scope.check("services.worker.port").is_ok());
        let err = scope.check("mocks.lm.url").unwrap_err();
        assert!(err.contains("mocks.llm.url"), "{err}");
    }
}
