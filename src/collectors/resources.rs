//! Resource usage of the stack: every interval, the CPU time and resident
//! memory of each service's whole process group, read from `/proc` (so a
//! service started through `sh -c` or that forks workers is counted whole).
//! The harness's own CPU time is reported beside it: it shares the machine.
//! Containers are read from Docker's stats instead (cgroup counters: CPU of
//! every process in the container, memory without page cache).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::RunClock;

/// One reading of one service's process group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ResourceSample {
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    pub service: String,
    /// Cumulative user + system CPU seconds of the group's live processes.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Per service over a run: CPU used between the first and last reading, RSS mean and peak.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
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

/// Nanoseconds on CPU of every live thread of every process in `groups`,
/// by `(pgrp, tid)`, from `/proc/<pid>/task/<tid>/schedstat`: exact where
/// `/proc/<pid>/stat` rounds to clock ticks (10 ms), which matters when a
/// window holds a fraction of a CPU second.
pub fn read_group_threads(groups: &[i32]) -> BTreeMap<(i32, u32), u64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some((pgrp, _, _)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|s| parse_stat(&s)) else { continue };
        if !groups.contains(&pgrp) {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(e.path().join("task")) else { continue };
        for t in tasks.flatten() {
            let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() else { continue };
            if let Some(ns) =
                std::fs::read_to_string(t.path().join("schedstat")).ok().and_then(|s| s.split_whitespace().next()?.parse().ok())
            {
                out.insert((pgrp, tid), ns);
            }
        }
    }
    out
}

/// Cumulative CPU of each service at one instant, as precise as the source allows.
#[derive(Debug, Clone)]
pub enum CpuSnapshot {
    /// Process runtime: `(service, pgrp)` and ns per `(pgrp, tid)`.
    Threads { groups: Vec<(String, i32)>, threads: BTreeMap<(i32, u32), u64> },
    /// Containers: cumulative cgroup CPU seconds per service.
    Totals(Vec<(String, f64)>),
}

impl CpuSnapshot {
    /// CPU seconds each service used since `earlier`. Threads are matched by
    /// id, so a thread born in between counts whole and a thread that ended
    /// in between loses its share (the stack's threads are long-lived).
    pub fn since(&self, earlier: &CpuSnapshot) -> BTreeMap<String, f64> {
        match (self, earlier) {
            (CpuSnapshot::Threads { groups, threads }, CpuSnapshot::Threads { threads: before, .. }) => groups
                .iter()
                .map(|(name, pgrp)| {
                    let ns: u64 = threads
                        .iter()
                        .filter(|((g, _), _)| g == pgrp)
                        .map(|(k, ns)| ns.saturating_sub(before.get(k).copied().unwrap_or(0)))
                        .sum();
                    (name.clone(), ns as f64 / 1e9)
                })
                .collect(),
            (CpuSnapshot::Totals(now), CpuSnapshot::Totals(before)) => now
                .iter()
                .map(|(name, secs)| {
                    let b = before.iter().find(|(n, _)| n == name).map_or(0.0, |(_, c)| *c);
                    (name.clone(), (secs - b).max(0.0))
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }
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

/// What to read: process groups from /proc, or containers from Docker.
#[derive(Clone)]
pub enum Source {
    /// `(service, process group id)`.
    Groups(Vec<(String, i32)>),
    /// `(service, container id)`.
    Containers(bollard::Docker, Vec<(String, String)>),
}

impl Source {
    /// Only the named services (all when `names` is empty).
    pub fn only(self, names: &[String]) -> Source {
        let keep = |s: &String| names.is_empty() || names.contains(s);
        match self {
            Source::Groups(g) => Source::Groups(g.into_iter().filter(|(s, _)| keep(s)).collect()),
            Source::Containers(d, c) => Source::Containers(d, c.into_iter().filter(|(s, _)| keep(s)).collect()),
        }
    }

    /// Each service's cumulative CPU now, per thread where the source allows.
    pub async fn cpu_snapshot(&self) -> CpuSnapshot {
        match self {
            Source::Groups(groups) => {
                let ids: Vec<i32> = groups.iter().map(|(_, g)| *g).collect();
                let threads = tokio::task::spawn_blocking(move || read_group_threads(&ids)).await.unwrap_or_default();
                CpuSnapshot::Threads { groups: groups.clone(), threads }
            }
            Source::Containers(..) => {
                let read = self.read().await;
                CpuSnapshot::Totals(read.into_iter().map(|(s, c, _)| (s, c)).collect())
            }
        }
    }

    /// `(service, cumulative CPU seconds, RSS bytes)` now.
    pub async fn read(&self) -> Vec<(String, f64, u64)> {
        match self {
            Source::Groups(groups) => {
                let ids: Vec<i32> = groups.iter().map(|(_, g)| *g).collect();
                let Ok(read) = tokio::task::spawn_blocking(move || read_groups(&ids)).await else { return Vec::new() };
                groups
                    .iter()
                    .map(|(s, g)| {
                        let (c, r) = read.get(g).copied().unwrap_or_default();
                        (s.clone(), c, r)
                    })
                    .collect()
            }
            Source::Containers(docker, ctrs) => {
                let reads = ctrs.iter().map(|(service, id)| async move {
                    let (cpu, mem) = container_usage(docker, id).await.unwrap_or_default();
                    (service.clone(), cpu, mem)
                });
                futures::future::join_all(reads).await
            }
        }
    }
}

/// CPU seconds and memory (RSS: cgroup v1 `rss`, v2 `anon`) of one container; None when it is not running.
async fn container_usage(docker: &bollard::Docker, id: &str) -> Option<(f64, u64)> {
    use futures::StreamExt;
    let opts = bollard::query_parameters::StatsOptionsBuilder::default().stream(false).one_shot(true).build();
    let s = docker.stats(id, Some(opts)).next().await?.ok()?;
    let cpu = s.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).unwrap_or(0) as f64 / 1e9;
    let mem = s.memory_stats.and_then(|m| {
        let stats = m.stats.unwrap_or_default();
        stats.get("rss").or_else(|| stats.get("anon")).copied().or(m.usage)
    });
    Some((cpu, mem.unwrap_or(0)))
}

impl ResourceSampler {
    /// Samples every `interval` until stopped.
    pub fn spawn(source: Source, interval: Duration, clock: RunClock) -> Self {
        let samples: Arc<Mutex<Vec<ResourceSample>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let store = samples.clone();
        let task = tokio::spawn(crate::signals::component("resource sampler", async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let at = clock.now();
                let read = source.read().await;
                let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
                for (service, cpu_seconds, rss_bytes) in read {
                    s.push(ResourceSample { at, service, cpu_seconds, rss_bytes });
                }
            }
        }));
        Self { samples, stop, task }
    }

    pub async fn stop(self) -> Vec<ResourceSample> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Usage per service from its samples (readings of a group with no live
/// process — RSS 0 — are left out of the RSS mean). CPU is the sum of the
/// increases between readings, so a restart (counter back near zero) loses
/// at most one interval's CPU instead of the whole history.
pub fn summarize(samples: &[ResourceSample]) -> BTreeMap<String, ResourceUsage> {
    let mut by: BTreeMap<String, Vec<&ResourceSample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.service.clone()).or_default().push(s);
    }
    by.into_iter()
        .map(|(service, v)| {
            let live: Vec<u64> = v.iter().map(|s| s.rss_bytes).filter(|r| *r > 0).collect();
            // Sum of increases: a counter that drops (a restarted container
            // counts from zero again) starts a new baseline.
            let cpu: f64 = v.windows(2).map(|p| (p[1].cpu_seconds - p[0].cpu_seconds).max(0.0)).sum();
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
        let threads = read_group_threads(&[pgid]);
        let _ = child.kill();
        let _ = child.wait();
        let (cpu, rss) = read[&pgid];
        let precise: u64 = threads.values().sum();
        assert!(!threads.is_empty() && (precise as f64 / 1e9 - cpu).abs() < 0.05, "schedstat {precise} ns vs stat {cpu} s");
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
        let s = |ms: u64, cpu: f64, rss: u64| ResourceSample {
            at: Duration::from_millis(ms),
            service: "a".into(),
            cpu_seconds: cpu,
            rss_bytes: rss,
        };
        let u = &summarize(&[s(0, 1.0, 100), s(500, 1.5, 300), s(1000, 2.5, 0)])["a"];
        assert_eq!(u.cpu_seconds, 1.5);
        assert_eq!(u.mean_rss_bytes, 200);
        assert_eq!(u.peak_rss_bytes, 300);
        assert_eq!(u.samples, 3);
        // A restart: the counter falls back and climbs again.
        let u = &summarize(&[s(0, 1.0, 100), s(500, 2.0, 100), s(1000, 0.0, 0), s(1500, 0.5, 100)])["a"];
        assert_eq!(u.cpu_seconds, 1.5);
    }
}
