//! Resource usage of the stack: every interval, the CPU time and resident
//! memory of each service's whole process group, read from `/proc` (so a
//! service started through `sh -c` or that forks workers is counted whole).
//! The harness's own CPU time is reported beside it: it shares the machine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::RunClock;

/// One reading of one service's process group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResourceSample {
    #[serde(with = "crate::clock::ms")]
    pub at: Duration,
    pub service: String,
    /// Cumulative user + system CPU seconds of the group's live processes.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Per service over a run: CPU used between the first and last reading, RSS mean and peak.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ResourceUsage {
    pub cpu_seconds: f64,
    pub mean_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub samples: usize,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// `(pgrp, utime + stime ticks, rss pages)` from one `/proc/<pid>/stat` line.
pub fn parse_stat(line: &str) -> Option<(i32, u64, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, rss 24.
    let pgrp = f.get(2)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let rss = f.get(21)?.parse().ok()?;
    Some((pgrp, ticks, rss))
}

/// CPU seconds and RSS bytes of every live process in each of `groups`.
pub fn read_groups(groups: &[i32]) -> BTreeMap<i32, (f64, u64)> {
    let mut out: BTreeMap<i32, (f64, u64)> = groups.iter().map(|g| (*g, (0.0, 0))).collect();
    let (hz, page) = (clock_ticks(), page_size());
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        if let Some((pgrp, ticks, rss)) = parse_stat(&stat)
            && let Some(acc) = out.get_mut(&pgrp)
        {
            acc.0 += ticks as f64 / hz;
            acc.1 += rss * page;
        }
    }
    out
}

/// CPU seconds this process (the harness) has used so far.
pub fn own_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| parse_stat(&s)).map_or(0.0, |(_, t, _)| t as f64 / clock_ticks())
}

pub struct ResourceSampler {
    samples: Arc<Mutex<Vec<ResourceSample>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ResourceSampler {
    /// Samples `(service, process group id)` every `interval` until stopped.
    pub fn spawn(groups: Vec<(String, i32)>, interval: Duration, clock: RunClock) -> Self {
        let samples: Arc<Mutex<Vec<ResourceSample>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let store = samples.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let ids: Vec<i32> = groups.iter().map(|(_, g)| *g).collect();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let ids = ids.clone();
                let at = clock.now();
                let Ok(read) = tokio::task::spawn_blocking(move || read_groups(&ids)).await else { continue };
                let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
                for (service, g) in &groups {
                    let (cpu_seconds, rss_bytes) = read.get(g).copied().unwrap_or_default();
                    s.push(ResourceSample { at, service: service.clone(), cpu_seconds, rss_bytes });
                }
            }
        });
        Self { samples, stop, task }
    }

    pub async fn stop(self) -> Vec<ResourceSample> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Usage per service from its samples (readings of a group with no live
/// process — RSS 0 — are left out of the RSS mean).
pub fn summarize(samples: &[ResourceSample]) -> BTreeMap<String, ResourceUsage> {
    let mut by: BTreeMap<String, Vec<&ResourceSample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.service.clone()).or_default().push(s);
    }
    by.into_iter()
        .map(|(service, v)| {
            let live: Vec<u64> = v.iter().map(|s| s.rss_bytes).filter(|r| *r > 0).collect();
            let cpu = v.iter().map(|s| s.cpu_seconds).fold(f64::NEG_INFINITY, f64::max) - v.first().map_or(0.0, |s| s.cpu_seconds);
            let usage = ResourceUsage {
                cpu_seconds: cpu.max(0.0),
                mean_rss_bytes: if live.is_empty() { 0 } else { live.iter().sum::<u64>() / live.len() as u64 },
                peak_rss_bytes: live.iter().copied().max().unwrap_or(0),
                samples: v.len(),
            };
            (service, usage)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 100 123456789 2048 18446744073709551615";
        assert_eq!(parse_stat(line), Some((1234, 300, 2048)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_busy_process_group_is_measured() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        std::thread::sleep(Duration::from_millis(700));
        let read = read_groups(&[pgid]);
        let _ = child.kill();
        let _ = child.wait();
        let (cpu, rss) = read[&pgid];
        assert!(cpu > 0.2, "a busy loop for 0.7s used only {cpu}s");
        assert!(rss > 100_000, "rss {rss}");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(own_cpu_seconds() > 0.0, "after {x} spins");
    }

    #[test]
    fn usage_is_the_cpu_used_between_readings_and_rss_of_live_readings() {
        let s = |ms: u64, cpu: f64, rss: u64| ResourceSample { at: Duration::from_millis(ms), service: "a".into(), cpu_seconds: cpu, rss_bytes: rss };
        let u = &summarize(&[s(0, 1.0, 100), s(500, 1.5, 300), s(1000, 2.5, 0)])["a"];
        assert_eq!(u.cpu_seconds, 1.5);
        assert_eq!(u.mean_rss_bytes, 200);
        assert_eq!(u.peak_rss_bytes, 300);
        assert_eq!(u.samples, 3);
    }
}
