//! The mutants to try: read from a mutant generator's listing and applied to
//! a scratch copy of the stack's source. Two inputs: a JSON array of objects
//! with a unified `diff` (cargo-mutants' `--list --json --diff`, or its
//! `mutants.out/mutants.json`; `name` and `file` are used when present), or a
//! directory of `*.patch` / `*.diff` files (mutmut's patches, hand-written
//! ones), one mutant each, named by the file. Patches are applied with diffy,
//! so a listing whose `+++` line is a description rather than a path (as
//! cargo-mutants writes it) applies as well.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::MutantsError;

/// One mutant: a unified diff against one file of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutant {
    pub name: String,
    /// The file it changes, relative to the source root.
    pub file: PathBuf,
    pub diff: String,
}

/// The mutants listed at `path` (a JSON listing or a directory of patches);
/// every file they change must be a relative path inside the source.
pub fn load(path: &Path) -> Result<Vec<Mutant>, MutantsError> {
    let all = read(path)?;
    if let Some(m) = all.iter().find(|m| !m.file.components().all(|c| matches!(c, std::path::Component::Normal(_)))) {
        return Err(MutantsError::Listing {
            path: path.to_path_buf(),
            why: format!("mutant `{}` changes `{}`: paths must be relative to --source, without `..`", m.name, m.file.display()),
        });
    }
    Ok(all)
}

fn read(path: &Path) -> Result<Vec<Mutant>, MutantsError> {
    let bad = |why: String| MutantsError::Listing { path: path.to_path_buf(), why };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| bad(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "patch" || x == "diff"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(bad("no *.patch or *.diff file in this directory".into()));
        }
        return files
            .iter()
            .map(|f| {
                let diff = std::fs::read_to_string(f).map_err(|e| bad(format!("{}: {e}", f.display())))?;
                let file = target_of(&diff).ok_or_else(|| bad(format!("{}: no `--- FILE` line", f.display())))?;
                let name = f.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                let diff = normalise(diff, &file).map_err(|e| bad(format!("mutant `{name}` is not a unified diff: {e}")))?;
                Ok(Mutant { name, file, diff })
            })
            .collect();
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let items: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a JSON array of mutants ({e}); write `cargo mutants --list --json --diff > FILE`")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let diff = m["diff"].as_str().ok_or_else(|| bad(format!("mutant {i} has no `diff` (list with `--diff`)")))?.to_string();
            let file =
                m["file"].as_str().map(PathBuf::from).or_else(|| target_of(&diff)).ok_or_else(|| bad(format!("mutant {i}: no file")))?;
            let name = m["name"].as_str().map_or_else(|| format!("{} #{i}", file.display()), str::to_string);
            let diff = normalise(diff, &file).map_err(|e| bad(format!("mutant `{name}` is not a unified diff: {e}")))?;
            Ok(Mutant { name, file, diff })
        })
        .collect()
}

/// The diff as diffy parses it: its `---` / `+++` header lines name `file`
/// and end in LF (cargo-mutants writes a description on the `+++` line,
/// quotes included, and diffy refuses that, or a CR, in a file name); only
/// when it does not parse so, also without the empty lines some generators
/// print after the last hunk (mutmut's `show`), which a strict parser takes
/// for a context line too many. An error when it parses neither way.
fn normalise(diff: String, file: &Path) -> Result<String, diffy::ParsePatchError> {
    let mut header = (false, false);
    let mut out = String::with_capacity(diff.len());
    for line in diff.split_inclusive('\n') {
        if line.starts_with("@@") {
            header = (true, true);
        }
        if !header.0 && line.starts_with("--- ") {
            header.0 = true;
            out.push_str(&format!("--- a/{}\n", file.display()));
        } else if !header.1 && line.starts_with("+++ ") {
            header.1 = true;
            out.push_str(&format!("+++ b/{}\n", file.display()));
        } else {
            out.push_str(line);
        }
    }
    if diffy::Patch::from_str(&out).is_ok() {
        return Ok(out);
    }
    let mut lines: Vec<&str> = out.split_inclusive('\n').collect();
    while lines.last().is_some_and(|l| l.trim_end_matches(['\n', '\r']).is_empty()) {
        lines.pop();
    }
    let tidied = lines.concat();
    diffy::Patch::from_str(&tidied)?;
    Ok(tidied)
}

/// The file a diff changes: its `--- ` line, without a `a/` prefix.
fn target_of(diff: &str) -> Option<PathBuf> {
    let line = diff.lines().find_map(|l| l.strip_prefix("--- "))?;
    let path = line.split('\t').next()?.trim();
    Some(PathBuf::from(path.strip_prefix("a/").unwrap_or(path)))
}

/// `n` of `all`, chosen by `seed` (all of them, in order, when `n` is None or not smaller).
pub fn sample(all: Vec<Mutant>, n: Option<usize>, seed: u64) -> Vec<Mutant> {
    match n {
        Some(n) if n < all.len() => {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut picked = rand::seq::index::sample(&mut rng, all.len(), n).into_vec();
            picked.sort_unstable();
            picked.into_iter().map(|i| all[i].clone()).collect()
        }
        _ => all,
    }
}

/// The mutated text of `original`, or why the diff does not apply.
pub fn apply(original: &str, m: &Mutant) -> Result<String, String> {
    let patch = diffy::Patch::from_str(&m.diff).map_err(|e| format!("not a unified diff: {e}"))?;
    diffy::apply(original, &patch).map_err(|e| format!("does not apply to {}: {e}", m.file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "--- src/a.py\n+++ replace inc with pass\n@@ -1,3 +1,3 @@\n x = 1\n-count += 1\n+pass\n y = 2\n";

    #[test]
    fn cargo_mutants_listings_and_patch_directories_load_and_apply() {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::json!([{ "name": "a.py: replace inc", "file": "src/a.py", "diff": DIFF }, { "diff": DIFF }]);
        std::fs::write(dir.path().join("list.json"), json.to_string()).unwrap();
        let ms = load(&dir.path().join("list.json")).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!((ms[0].name.as_str(), ms[1].file.as_path()), ("a.py: replace inc", Path::new("src/a.py")));
        assert_eq!(apply("x = 1\ncount += 1\ny = 2\n", &ms[0]).unwrap(), "x = 1\npass\ny = 2\n");
        assert!(apply("x = 1\ny = 2\n", &ms[0]).unwrap_err().contains("does not apply to src/a.py"));
        let patches = dir.path().join("patches");
        std::fs::create_dir(&patches).unwrap();
        std::fs::write(patches.join("no_inc.patch"), DIFF.replace("--- src/a.py", "--- a/src/a.py")).unwrap();
        let ms = load(&patches).unwrap();
        assert_eq!((ms[0].name.as_str(), ms[0].file.as_path()), ("no_inc", Path::new("src/a.py")));
        let err = load(&dir.path().join("nope.json")).unwrap_err().to_string();
        assert!(err.contains("nope.json"), "{err}");
        for escape in ["/etc/passwd", "../outside.py", "/dev/null"] {
            std::fs::write(patches.join("no_inc.patch"), DIFF.replace("--- src/a.py", &format!("--- {escape}"))).unwrap();
            let err = load(&patches).unwrap_err().to_string();
            assert!(err.contains("paths must be relative to --source"), "{escape}: {err}");
        }
    }

    /// mutmut 2's `mutmut show ID` prints a blank line after the hunk; a
    /// patch that is no unified diff is refused when the listing is read,
    /// naming the mutant, instead of being counted as a mutant that did not build.
    #[test]
    fn trailing_blank_lines_are_dropped_and_broken_patches_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop-3.patch"), DIFF.replace("--- src/a.py", "--- a.py") + "\n\n").unwrap();
        let ms = load(dir.path()).unwrap();
        assert_eq!(apply("x = 1\ncount += 1\ny = 2\n", &ms[0]).unwrap(), "x = 1\npass\ny = 2\n");
        std::fs::write(dir.path().join("shop-4.patch"), DIFF.replace("@@ -1,3 +1,3 @@", "@@ -1,5 +1,5 @@")).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("mutant `shop-4` is not a unified diff"), "{err}");
    }

    /// cargo-mutants writes the replacement on the `+++` line, quotes and all
    /// (`+++ replace f -> &'static str with "xyzzy"`); CRLF lines keep their endings.
    #[test]
    fn descriptions_on_the_header_lines_and_crlf_patches_apply() {
        let dir = tempfile::tempdir().unwrap();
        let quoted = DIFF.replace("+++ replace inc with pass", "+++ replace as_str -> &'static str with \"xyzzy\"");
        let crlf = DIFF.replace('\n', "\r\n");
        let json =
            serde_json::json!([{ "name": "q", "file": "src/a.py", "diff": quoted }, { "name": "crlf", "file": "src/a.py", "diff": crlf }]);
        std::fs::write(dir.path().join("list.json"), json.to_string()).unwrap();
        let ms = load(&dir.path().join("list.json")).unwrap();
        assert_eq!(apply("x = 1\ncount += 1\ny = 2\n", &ms[0]).unwrap(), "x = 1\npass\ny = 2\n");
        assert_eq!(apply("x = 1\r\ncount += 1\r\ny = 2\r\n", &ms[1]).unwrap(), "x = 1\r\npass\r\ny = 2\r\n");
    }

    #[test]
    fn a_seeded_sample_is_stable_and_in_listing_order() {
        let all: Vec<Mutant> = (0..50).map(|i| Mutant { name: format!("m{i}"), file: "f".into(), diff: String::new() }).collect();
        let a = sample(all.clone(), Some(5), 7);
        assert_eq!(a, sample(all.clone(), Some(5), 7));
        assert_ne!(a, sample(all.clone(), Some(5), 8));
        assert!(a.windows(2).all(|w| w[0].name[1..].parse::<u32>().unwrap() < w[1].name[1..].parse::<u32>().unwrap()));
        assert_eq!(sample(all.clone(), Some(80), 7).len(), 50);
    }
}
