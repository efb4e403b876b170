//! Bounded TTL cache of the last successful backend reads, used as the fallback when
//! the backend fails or its breaker is open.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Entries beyond this are evicted (expired first, then the oldest).
const MAX_ENTRIES: usize = 10_000;

pub struct TtlCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Value)>>,
}

impl TtlCache {
    pub fn new(ttl: Duration) -> Self {
        TtlCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub fn put(&self, key: &str, value: Value) {
        self.put_at(key, value, Instant::now());
    }

    /// A fresh entry, if any.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.get_at(key, Instant::now())
    }

    fn put_at(&self, key: &str, value: Value, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if map.len() >= MAX_ENTRIES
                && let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(key.to_string(), (now, value));
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<Value> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl).map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_expire_after_ttl() {
        let c = TtlCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        c.put_at("1", json!({"id": 1}), t0);
        assert_eq!(c.get_at("1", t0 + Duration::from_secs(9)), Some(json!({"id": 1})));
        assert_eq!(c.get_at("1", t0 + Duration::from_secs(10)), None);
        assert_eq!(c.get_at("2", t0), None);
    }

    #[test]
    fn size_is_bounded() {
        let c = TtlCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES + 5 {
            c.put_at(&i.to_string(), json!(i), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(c.entries.lock().unwrap().len(), MAX_ENTRIES);
        assert_eq!(c.get_at("0", t0), None);
    }
}
