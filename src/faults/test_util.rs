//! Helpers shared by the end-to-end mock tests.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{FaultSpec, JournalEntry, MockSet};

pub fn spec(y: &str) -> FaultSpec {
    serde_norway::from_str(y).unwrap()
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).no_proxy().build().unwrap()
}

/// Starts `request` (expected to hang), shuts the set down while it waits and
/// checks that shutdown is prompt and the request is dropped unanswered.
/// Returns the final journal of `mock`.
pub async fn shutdown_drops_hanging<F>(set: MockSet, mock: &str, request: F) -> Vec<JournalEntry>
where
    F: Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let before = set.arrived(mock);
    let waiting = tokio::spawn(request);
    // Shut down only once the request is inside the mock (on a loaded machine
    // it can take longer than any fixed sleep to connect).
    let sent = Instant::now();
    while set.arrived(mock) == before {
        assert!(sent.elapsed() < Duration::from_secs(30), "the request never reached mock `{mock}`");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = Instant::now();
    let mut journals = set.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2), "shutdown took {:?}", t.elapsed());
    let r = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert!(r.is_err(), "the hanging request must be dropped without an answer");
    journals.remove(mock).unwrap().entries
}
