//! Route templates and route filters. A template such as `/items/{id}` or
//! `/static/*` compiles to an anchored path regex (`{name}` = exactly one
//! non-empty path segment, `*` = any rest of the path, slashes included); a
//! [`RouteFilter`] (`"GET /items/*"`, `"/v1/models"`, `"POST"`) restricts a
//! fault to the requests it matches.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a route template or filter was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route path {0:?} must start with '/'")]
    NoLeadingSlash(String),
    #[error("route path {0:?} has an unclosed or empty '{{param}}'")]
    BadParam(String),
    #[error("route path {0:?} must not contain a query string")]
    Query(String),
    #[error("{0:?} is not an HTTP method (expected GET, POST, ...)")]
    BadMethod(String),
    #[error("route filter {0:?} should look like \"GET /items/*\", \"/items/{{id}}\" or \"POST\"")]
    BadFilter(String),
}

/// Compiles a path template to an anchored regex string (valid for `regex` and wiremock's `path_regex`).
pub fn template_to_regex(template: &str) -> Result<String, RouteError> {
    if !template.starts_with('/') {
        return Err(RouteError::NoLeadingSlash(template.to_string()));
    }
    if template.contains('?') {
        return Err(RouteError::Query(template.to_string()));
    }
    let mut re = String::from("^");
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                let ok = closed && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(RouteError::BadParam(template.to_string()));
                }
                re.push_str("[^/]+");
            }
            '}' => return Err(RouteError::BadParam(template.to_string())),
            '*' => re.push_str(".*"),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Ok(re)
}

/// A compiled path template.
#[derive(Debug, Clone)]
pub struct PathPattern {
    template: String,
    regex: Regex,
}

impl PathPattern {
    pub fn new(template: &str) -> Result<Self, RouteError> {
        let re = template_to_regex(template)?;
        let regex = Regex::new(&re).map_err(|_| RouteError::BadParam(template.to_string()))?;
        Ok(Self { template: template.to_string(), regex })
    }

    pub fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// The anchored regex this template compiled to.
    pub fn regex_str(&self) -> &str {
        self.regex.as_str()
    }
}

/// Checks an HTTP method token and returns it upper-cased.
pub fn normalize_method(m: &str) -> Result<String, RouteError> {
    let up = m.trim().to_ascii_uppercase();
    let token = !up.is_empty() && up.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
    if token { Ok(up) } else { Err(RouteError::BadMethod(m.to_string())) }
}

/// Which requests a fault applies to: an optional method and an optional path
/// template. Written as one string: `"GET /items/*"`, `"* /items/{id}"`,
/// `"/v1/chat/completions"` or `"POST"`.
#[derive(Debug, Clone)]
pub struct RouteFilter {
    method: Option<String>,
    path: Option<PathPattern>,
}

impl RouteFilter {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && self.path.as_ref().is_none_or(|p| p.matches(path))
    }

    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    pub fn path(&self) -> Option<&PathPattern> {
        self.path.as_ref()
    }
}

impl FromStr for RouteFilter {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, RouteError> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (method, path) = match parts.as_slice() {
            [p] if p.starts_with('/') => (None, Some(*p)),
            [m] => (Some(*m), None),
            [m, p] => (Some(*m), Some(*p)),
            _ => return Err(RouteError::BadFilter(s.to_string())),
        };
        let method = match method {
            None | Some("*") => None,
            Some(m) => Some(normalize_method(m)?),
        };
        let path = path.map(PathPattern::new).transpose()?;
        Ok(Self { method, path })
    }
}

impl fmt::Display for RouteFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.method, &self.path) {
            (Some(m), Some(p)) => write!(f, "{m} {}", p.template),
            (Some(m), None) => f.write_str(m),
            (None, Some(p)) => f.write_str(&p.template),
            (None, None) => f.write_str("*"),
        }
    }
}

impl PartialEq for RouteFilter {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for RouteFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

hand_schema!(RouteFilter, "Route", _g => { "description": "`METHOD /path` (`{name}` one segment, `*` the rest).", "type": "string" });

impl<'de> Deserialize<'de> for RouteFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_to_anchored_regexes() {
        let p = PathPattern::new("/items/{id}").unwrap();
        assert!(p.matches("/items/42"));
        assert!(!p.matches("/items/42/results"));
        assert!(!p.matches("/items/"));
        let p = PathPattern::new("/items/{id}/results").unwrap();
        assert!(p.matches("/items/a-b/results"));
        let p = PathPattern::new("/static/*").unwrap();
        assert!(p.matches("/static/a/b.css"));
        assert!(!p.matches("/other"));
        // Regex metacharacters in the template are literal.
        let p = PathPattern::new("/v1.0/x+y").unwrap();
        assert!(p.matches("/v1.0/x+y"));
        assert!(!p.matches("/v1a0/xxy"));
    }

    #[test]
    fn bad_templates_are_errors_not_panics() {
        assert!(matches!(PathPattern::new("items"), Err(RouteError::NoLeadingSlash(_))));
        assert!(matches!(PathPattern::new("/items/{id"), Err(RouteError::BadParam(_))));
        assert!(matches!(PathPattern::new("/items/{}"), Err(RouteError::BadParam(_))));
        assert!(matches!(PathPattern::new("/items/}"), Err(RouteError::BadParam(_))));
        assert!(matches!(PathPattern::new("/items?a=1"), Err(RouteError::Query(_))));
    }

    #[test]
    fn filters_parse_and_match() {
        let f: RouteFilter = "GET /items/*".parse().unwrap();
        assert!(f.matches("GET", "/items/1"));
        assert!(f.matches("get", "/items/1/results"));
        assert!(!f.matches("POST", "/items/1"));
        let f: RouteFilter = "/v1/models".parse().unwrap();
        assert!(f.matches("GET", "/v1/models") && f.matches("POST", "/v1/models"));
        let f: RouteFilter = "post".parse().unwrap();
        assert_eq!(f.to_string(), "POST");
        assert!(f.matches("POST", "/anything"));
        let f: RouteFilter = "* /items/{id}".parse().unwrap();
        assert!(f.matches("DELETE", "/items/1"));
        assert!("GET /a /b".parse::<RouteFilter>().is_err());
        assert!("".parse::<RouteFilter>().is_err());
        assert!("G3T /a".parse::<RouteFilter>().is_err());
    }

    #[test]
    fn filter_serde_is_a_string() {
        let f: RouteFilter = serde_json::from_str("\"GET /items/{id}\"").unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"GET /items/{id}\"");
        assert!(serde_json::from_str::<RouteFilter>("\"GET items\"").is_err());
    }
}
