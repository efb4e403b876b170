//! A Python with the packages a test needs: the system `python3` if it already
//! imports them, else a venv cached under the target dir
//! (`$CARGO_TARGET_TMPDIR/<name>`), created and filled from PyPI on first use
//! and shared by the tests that ask for the same one (a file lock keeps
//! concurrent nextest processes from building it twice). If that cannot be
//! done, the test fails and says why: it never skips.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// A venv `name` holding `packages` (pip requirement strings); `import_check`
/// is Python that succeeds only when they are importable.
pub struct Venv {
    pub name: &'static str,
    pub packages: &'static [&'static str],
    pub import_check: &'static str,
}

impl Venv {
    /// The interpreter to use: system python3 or the cached venv's.
    pub fn python(&self) -> PathBuf {
        let system = PathBuf::from("python3");
        let Some(version) = run(&system, &["--version"]).filter(|o| o.status.success()) else {
            panic!("python3 is not on PATH: this test needs Python >= 3.9 with venv (Debian: apt-get install python3 python3-venv)");
        };
        if self.imports(&system) {
            return system;
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(self.name);
        let venv_python = venv.join("bin/python");
        let _lock = lock(&venv.with_extension("lock"));
        if self.imports(&venv_python) {
            return venv_python;
        }
        let _ = std::fs::remove_dir_all(&venv);
        let began = Instant::now();
        let made = run(&system, &["-m", "venv", venv.to_str().expect("UTF-8 target dir")]);
        require(made, &format!("python3 -m venv {} ({})", venv.display(), String::from_utf8_lossy(&version.stdout).trim()));
        let mut args = vec!["-m", "pip", "install", "--quiet", "--disable-pip-version-check"];
        args.extend(self.packages);
        require(run(&venv_python, &args), &format!("pip install of {:?} from PyPI (is PyPI reachable?)", self.packages));
        eprintln!("created {} and installed {:?} in {:?}", venv.display(), self.packages, began.elapsed());
        assert!(
            self.imports(&venv_python),
            "pip installed {:?} but `{}` still fails in {}",
            self.packages,
            self.import_check,
            venv.display()
        );
        venv_python
    }

    fn imports(&self, python: &Path) -> bool {
        run(python, &["-c", self.import_check]).is_some_and(|o| o.status.success())
    }
}

/// The one venv of the Python tests: the OpenTelemetry SDK with both OTLP
/// exporters (tests/otlp_python.rs) and the libraries of the second test stack,
/// fixtures/pyshop (tests/pyshop.rs; its requirements.txt lists the same).
pub const PYTHON: Venv = Venv {
    name: "ordeal-py-venv",
    packages: &[
        "opentelemetry-sdk>=1.20,<2",
        "opentelemetry-exporter-otlp-proto-grpc>=1.20,<2",
        "opentelemetry-exporter-otlp-proto-http>=1.20,<2",
        "pybreaker>=1.2,<2",
        "prometheus_client>=0.20,<1",
    ],
    import_check: "import opentelemetry.sdk.trace, \
        opentelemetry.exporter.otlp.proto.grpc.trace_exporter, \
        opentelemetry.exporter.otlp.proto.http.trace_exporter, pybreaker, prometheus_client",
};

fn run(program: &Path, args: &[&str]) -> Option<Output> {
    Command::new(program).args(args).output().ok()
}

fn require(output: Option<Output>, what: &str) {
    match output {
        Some(o) if o.status.success() => {}
        Some(o) => panic!("{what} failed ({}):\n{}\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        None => panic!("{what}: could not start the command"),
    }
}

/// An exclusive lock on `path`, held until the file is dropped.
fn lock(path: &Path) -> File {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("target tmp dir");
    }
    let file = File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    // SAFETY: flock on a descriptor we own; it is released when `file` closes.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {}: {}", path.display(), std::io::Error::last_os_error());
    file
}
