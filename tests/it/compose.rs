//! `docker-compose.yml` (manual drills with public images) is valid for the
//! compose tool this machine has, mounts files that exist, publishes ports on
//! 127.0.0.1 only, and its Prometheus config is valid for promtool.

use crate::common::*;

/// `docker-compose` (Debian's v1) or the `docker compose` plugin, whichever exists.
fn compose() -> std::process::Command {
    let v1 = std::process::Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success());
    if v1 {
        return std::process::Command::new("docker-compose");
    }
    let mut c = std::process::Command::new("docker");
    c.arg("compose");
    c
}

#[test]
fn compose_file_is_valid_mounts_existing_files_and_binds_loopback_only() {
    let out = compose()
        .current_dir(root())
        .args(["-f", "docker-compose.yml", "config"])
        .output()
        .expect("docker-compose or `docker compose` is installed (.ci/run installs docker-compose)");
    assert!(out.status.success(), "compose config failed: {}", String::from_utf8_lossy(&out.stderr));
    let cfg: serde_json::Value = serde_norway::from_slice(&out.stdout).expect("compose config prints YAML");
    let services = cfg["services"].as_object().unwrap();
    for name in ["worker", "coordinator", "prometheus", "alertmanager", "grafana", "jaeger"] {
        assert!(services.contains_key(name), "no `{name}` service");
    }
    for (name, s) in services {
        // docker-compose v1 prints the short syntax (`src:dst:ro`, `ip:host:ctr/tcp`), the plugin the long one.
        for v in s["volumes"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let source = v["source"].as_str().or_else(|| v.as_str().and_then(|t| t.split(':').next())).unwrap_or_default();
            assert!(std::path::Path::new(source).exists(), "service `{name}` mounts missing {source}");
        }
        for p in s["ports"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let ip = p["host_ip"].as_str().or_else(|| p.as_str().and_then(|t| t.split(':').next())).unwrap_or_default();
            assert_eq!(ip, "127.0.0.1", "service `{name}` publishes beyond loopback: {p}");
        }
    }
}

#[test]
fn compose_prometheus_config_is_valid() {
    let out = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(root().join("fixtures/compose/prometheus.yml"))
        .output()
        .expect("promtool (Debian package prometheus)");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
