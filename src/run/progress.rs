//! Where a run is while its timeline plays. On a terminal (stderr), one line
//! redrawn in place (indicatif): phase, elapsed / total, the load's rate and
//! error ratio over the last second, and the faults that are on. Elsewhere
//! (a CI log, a file), one plain log line per phase change and fault event,
//! which `drive_timeline` writes through `tracing`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clock::RunClock;
use crate::load::LoadRecord;
use crate::scenario::PhaseSpan;

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(250);

pub struct Progress {
    /// Fault ids that are on now.
    active: Arc<Mutex<Vec<String>>>,
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What the line shows.
struct View {
    phases: Vec<PhaseSpan>,
    total: Duration,
    clock: RunClock,
    origin: Duration,
    load: Option<LoadRecord>,
}

impl View {
    fn line(&self, active: &[String]) -> String {
        let t = self.clock.now().saturating_sub(self.origin);
        let phase = self.phases.iter().find(|p| t < p.end).or(self.phases.last()).map_or("-", |p| p.name.as_str());
        let mut line = format!("{phase:<12} {:>5.1}s / {:.1}s", t.as_secs_f64(), self.total.as_secs_f64());
        if let Some(l) = &self.load {
            let (n, failed) = l.answered_since(self.clock.now().saturating_sub(Duration::from_secs(1)));
            let errors = if n == 0 { 0.0 } else { failed as f64 * 100.0 / n as f64 };
            line.push_str(&format!(" · {n} answered/s · errors {errors:.0}%"));
        }
        if !active.is_empty() {
            line.push_str(&format!(" · faults on: {}", active.join(", ")));
        }
        line
    }
}

impl Progress {
    /// A live line when stderr is a terminal (and `live` is set), else nothing but the log lines.
    pub fn start(phases: &[PhaseSpan], clock: RunClock, origin: Duration, load: Option<LoadRecord>, live: bool) -> Progress {
        let active: Arc<Mutex<Vec<String>>> = Arc::default();
        if !live {
            return Progress { active, bar: None, task: None };
        }
        let view = View { phases: phases.to_vec(), total: phases.last().map_or(Duration::ZERO, |p| p.end), clock, origin, load };
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        let (b, a) = (bar.clone(), active.clone());
        let task = tokio::spawn(async move {
            loop {
                let faults = a.lock().unwrap_or_else(|e| e.into_inner()).clone();
                b.set_message(view.line(&faults));
                b.tick();
                tokio::time::sleep(TICK).await;
            }
        });
        Progress { active, bar: Some(bar), task: Some(task) }
    }

    pub fn fault(&self, id: &str, on: bool) {
        let mut a = self.active.lock().unwrap_or_else(|e| e.into_inner());
        a.retain(|x| x != id);
        if on {
            a.push(id.to_string());
        }
    }

    /// Print `text` above the live line, or log it.
    pub fn say(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => tracing::info!("{text}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
