//! Raw exposition text per target, for `promtool check metrics`: the same
//! HTTP client and body limits as the scraper, but asking for Prometheus text
//! 0.0.4, the only format promtool reads. A target that answers OpenMetrics
//! anyway is converted before promtool sees it (see `text_format`).

use std::collections::BTreeMap;

use crate::collectors::scraper::{ScrapeTarget, fetch_text};

/// What we ask for: promtool check metrics reads only this format.
pub const ACCEPT_TEXT: &str = "text/plain;version=0.0.4";

/// Each target's body by service, or why it could not be fetched. All
/// targets are fetched concurrently; the client's timeout bounds each.
pub async fn collect_raw(client: &reqwest::Client, targets: &[ScrapeTarget]) -> BTreeMap<String, Result<String, String>> {
    let fetches = targets.iter().map(|t| async move {
        let body = fetch_text(client, &t.url, ACCEPT_TEXT).await;
        (t.service.clone(), body.map(|(text, _)| text).map_err(|e| e.to_string()))
    });
    futures::future::join_all(fetches).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::scraper::client;
    use std::time::Duration;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn fetches_each_target_as_prometheus_text() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/metrics"))
            .and(header("accept", ACCEPT_TEXT))
            .respond_with(ResponseTemplate::new(200).set_body_string("up_total 1\n"))
            .mount(&server)
            .await;
        let targets = [
            ScrapeTarget { service: "a".into(), url: format!("{}/metrics", server.uri()) },
            ScrapeTarget { service: "b".into(), url: format!("{}/nope", server.uri()) },
        ];
        let raw = collect_raw(&client(Duration::from_secs(5)).unwrap(), &targets).await;
        assert_eq!(raw["a"], Ok("up_total 1\n".to_owned()));
        let err = raw["b"].as_ref().unwrap_err();
        assert!(err.contains("HTTP 404"), "{err}");
    }
}
