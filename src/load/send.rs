//! Sending: what a goose user does with a send it claimed — wait for its
//! time, build the request (per-send values, earlier steps' answers), send
//! it through goose, read the whole answer and record it; a sequence's steps
//! one after the other. Requests on the wire are kept in the engine's
//! in-flight table, so the load's end can record them as unfinished.

use std::sync::Arc;
use std::time::Duration;

use goose::prelude::*;

use super::{Engine, IDLE, InFlight, LoadSample, Part, Prepared, Slot, Unit, vars};

impl Engine {
    /// X-Request-ID of send `seq` (`sub`: 1 + the step's index in a sequence).
    fn request_id(&self, seq: u64, sub: usize) -> String {
        match sub {
            0 => format!("ordeal-{}-{seq}", self.run_id),
            k => format!("ordeal-{}-{seq}.{k}", self.run_id),
        }
    }

    fn sample(&self, f: InFlight, end: Duration, outcome: Result<u16, String>, unfinished: bool) -> LoadSample {
        let (status, error) = match outcome {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        LoadSample {
            at: f.slot.at,
            sent: f.sent,
            latency: end.saturating_sub(f.from),
            service: end.saturating_sub(f.sent),
            request: f.slot.request,
            status,
            error,
            unfinished,
            request_id: f.request_id,
            trace_id: f.trace_id,
            span_id: f.span_id,
            part: f.part,
        }
    }

    /// Record the requests still in flight as unfinished (their wait so far
    /// is a lower bound of their latency).
    pub(super) fn record_unfinished(&self) {
        let now = self.clock.now();
        let pending: Vec<InFlight> = self.inflight.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, f)| f).collect();
        for f in pending {
            let s = self.sample(f, now, Err("still in flight when the load stopped".into()), true);
            self.record.push(s);
        }
    }

    /// The request of send `seq`: as prepared, with its per-send values filled
    /// in (`answers`: the earlier steps' JSON answers, in a sequence).
    fn build(&self, user: &GooseUser, p: &Prepared, seq: u64, answers: &[Option<serde_json::Value>]) -> reqwest::RequestBuilder {
        let v = &p.varying;
        if v.is_empty() {
            let rb = user.client.request(p.method.clone(), p.url.clone()).headers(p.headers.clone());
            return match &p.body {
                Some(body) => rb.body(body.clone()),
                None => rb,
            };
        }
        let send = vars::Send { answers, ..vars::Send::new(seq, self.seed, self.data.as_deref()) };
        // Compile checked the path joins; a value that still breaks it falls back to the path as written.
        let url = v.path.as_ref().and_then(|t| self.base.join(t.render(&send, vars::url_escape).trim_start_matches('/')).ok());
        let mut headers = p.headers.clone();
        for (k, t) in &v.headers {
            if let (Ok(k), Ok(val)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(&t.render(&send, |s| s.to_string())),
            ) {
                headers.insert(k, val);
            }
        }
        let rb = user.client.request(p.method.clone(), url.unwrap_or_else(|| p.url.clone())).headers(headers);
        match (&v.body, &p.body) {
            (Some(b), _) => rb.body(serde_json::to_vec(&b.render(&send)).unwrap_or_default()),
            (None, Some(body)) => rb.body(body.clone()),
            (None, None) => rb,
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

pub(super) fn transaction(engine: Arc<Engine>) -> TransactionFunction {
    Arc::new(move |user: &mut GooseUser| {
        let engine = engine.clone();
        Box::pin(async move {
            work(user, &engine).await;
            Ok(())
        })
    })
}

/// One send: claim it, wait for its time, send, record.
async fn work(user: &mut GooseUser, e: &Engine) {
    if !e.go.is_cancelled() {
        // Launching thousands of users takes goose tens of milliseconds: the
        // schedule starts once all are up, so no send is late for it.
        if e.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == e.users {
            e.all_arrived.notify_one();
        }
        tokio::select! {
            _ = e.go.cancelled() => {}
            _ = e.cancel.cancelled() => {}
        }
    }
    let Some(slot) = e.claim() else {
        // The schedule is over: park until the load ends (no wake-ups: with
        // thousands of users a polling idle loop is most of the CPU), then
        // return for goose to stop the user. Always really sleep after: goose's
        // user loop has no await of its own, so a transaction that returned
        // at once would spin the user on its worker thread and starve every
        // other task (goose's stop included).
        e.cancel.cancelled().await;
        tokio::time::sleep(IDLE).await;
        return;
    };
    tokio::select! {
        _ = tokio::time::sleep_until(e.clock.instant_at(slot.at).into()) => {}
        _ = e.stop.cancelled() => return,
    }
    let unit = &e.units[slot.request];
    match unit.first_step {
        None => {
            let _ = e.exchange(user, &unit.steps[0], slot, (0, Part::Request, slot.at), &[]).await;
        }
        Some(first) => sequence(user, e, slot, unit, first).await,
    }
}

/// A sequence: each step once the previous one answered 2xx, recorded
/// step by step and as a whole (from the intended send time to the last answer).
async fn sequence(user: &mut GooseUser, e: &Engine, slot: Slot, unit: &Unit, first: usize) {
    let whole = InFlight { slot, sent: e.clock.now(), from: slot.at, part: Part::Sequence, ..e.ids(slot.seq, 0) };
    e.inflight.lock().unwrap_or_else(|e| e.into_inner()).insert((slot.seq, 0), whole);
    let mut answers: Vec<Option<serde_json::Value>> = Vec::new();
    let mut outcome = Err("no step was sent".to_string());
    for (k, p) in unit.steps.iter().enumerate() {
        if let Some((i, field)) = p.varying.unresolved(&answers) {
            let of = e.names_of(first + i);
            outcome = Err(format!("`{}` not sent: the answer of `{of}` has no `{field}`", p.name));
            break;
        }
        let step = Slot { request: first + k, ..slot };
        let from = if k == 0 { slot.at } else { e.clock.now() };
        let Some(r) = e.exchange(user, p, step, (k + 1, Part::Step, from), &answers).await else { return };
        match r {
            Ok((status, body)) => {
                outcome = Ok(status);
                if !(200..300).contains(&status) {
                    break;
                }
                answers.push(serde_json::from_slice(&body).ok());
            }
            Err(err) => {
                outcome = Err(format!("`{}`: {err}", p.name));
                break;
            }
        }
    }
    let end = e.clock.now();
    let Some(f) = e.inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(&(slot.seq, 0)) else { return };
    e.record.push(e.sample(f, end, outcome, false));
}

impl Engine {
    /// Fresh ids for send `seq` (`sub` as in [`Key`]); the rest to be filled in.
    fn ids(&self, seq: u64, sub: usize) -> InFlight {
        InFlight {
            slot: Slot { seq, at: Duration::ZERO, request: 0 },
            sent: Duration::ZERO,
            from: Duration::ZERO,
            part: Part::Request,
            request_id: self.request_id(seq, sub),
            trace_id: format!("{:032x}", rand::random::<u128>() | 1),
            span_id: format!("{:016x}", rand::random::<u64>() | 1),
        }
    }

    fn names_of(&self, i: usize) -> String {
        let n = &self.record.names[i];
        n.rsplit_once('.').map_or(n.as_str(), |(_, s)| s).to_string()
    }

    /// Send one request and record it; `(sub, part, from)` as in [`InFlight`].
    /// None: abandoned at the load's end (recorded as unfinished there).
    async fn exchange(
        &self,
        user: &mut GooseUser,
        p: &Prepared,
        slot: Slot,
        (sub, part, from): (usize, Part, Duration),
        answers: &[Option<serde_json::Value>],
    ) -> Option<Result<(u16, bytes::Bytes), String>> {
        let f = InFlight { slot, sent: self.clock.now(), from, part, ..self.ids(slot.seq, sub) };
        let rb = self
            .build(user, p, slot.seq, answers)
            .header("x-request-id", &f.request_id)
            .header("traceparent", format!("00-{}-{}-01", f.trace_id, f.span_id));
        let goose_req =
            GooseRequest::builder().method(p.goose_method).path(p.path.as_str()).name(p.name.as_str()).set_request_builder(rb).build();
        self.inflight.lock().unwrap_or_else(|e| e.into_inner()).insert((slot.seq, sub), f);
        let outcome = tokio::select! {
            r = send(user, goose_req) => r,
            _ = self.cancel.cancelled() => return None,
        };
        let end = self.clock.now();
        // Gone from the table: the load's end recorded it as unfinished already.
        let f = self.inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(&(slot.seq, sub))?;
        self.record.push(self.sample(f, end, outcome.as_ref().map(|(s, _)| *s).map_err(Clone::clone), false));
        Some(outcome)
    }
}

/// Send and read the whole answer: latency runs to its last byte, and a
/// connection whose body was left unread cannot go back to the pool (each
/// request would open a new one: measured 5,110 connects for 8,000 requests).
async fn send(user: &mut GooseUser, req: GooseRequest<'_>) -> Result<(u16, bytes::Bytes), String> {
    let res = user.request(req).await.map_err(|err| format!("request could not be sent: {err}"))?;
    let r = res.response.map_err(|e| crate::runtime::short_reqwest_error(&e))?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|e| format!("{status} with a broken body: {}", crate::runtime::short_reqwest_error(&e)))?;
    Ok((status, body))
}
