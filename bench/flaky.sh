#!/usr/bin/env bash
# Green on every run, by design: runs the end-to-end group (or the tests a
# nextest filter selects) N times while a CPU hog occupies one of the two cores,
# and prints, per test, how many of the N runs it passed.
#
#   bench/flaky.sh N [FILTER]        e.g. bench/flaky.sh 5
#                                         bench/flaky.sh 10 'binary(it) & test(/^teardown::/)'
#
# FILTER is a nextest filter expression; the default is the e2e group (the
# tests .config/nextest.toml runs at most two at a time). No retries: a test that
# passes only sometimes is a defect to fix by design. Needs stress-ng
# (apt-get install -y stress-ng); set HOG=0 to run without the hog.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:?usage: bench/flaky.sh N [FILTER]}
# The e2e group's own filter, read from .config/nextest.toml (one source).
e2e_filter=$(python3 -c 'import tomllib; c = tomllib.load(open(".config/nextest.toml", "rb")); print(next(o["filter"] for o in c["profile"]["default"]["overrides"] if o.get("test-group") == "e2e"))')
filter=${2:-$e2e_filter}
if [ "${HOG:-1}" != 0 ] && ! command -v stress-ng >/dev/null 2>&1; then
  echo "bench/flaky.sh needs stress-ng: apt-get install -y stress-ng (or HOG=0)" >&2
  exit 3
fi

# Scratch space under a name ordeal never uses.
work=$(mktemp -d "${TMPDIR:-/tmp}/flaky.XXXXXX")
echo "bench/flaky.sh: junit files in $work" >&2
hog=
cleanup() { [ -n "$hog" ] && kill "$hog" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release --workspace --quiet
cargo nextest run --workspace --no-run >/dev/null 2>&1
if [ "${HOG:-1}" != 0 ]; then
  stress-ng --cpu 1 --quiet &
  hog=$!
fi
start=$SECONDS
for i in $(seq 1 "$n"); do
  echo "== run $i/$n" >&2
  cargo nextest run --workspace -E "$filter" --no-fail-fast --status-level fail >&2 || true
  cp target/nextest/default/junit.xml "$work/run-$i.xml"
done
echo "== $n runs in $((SECONDS - start)) s$( [ -n "$hog" ] && echo ', one core busy (stress-ng --cpu 1)')" >&2
python3 - "$n" "$work"/run-*.xml <<'PY'
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

n = int(sys.argv[1])
passed, seen, worst = defaultdict(int), defaultdict(int), defaultdict(float)
for path in sys.argv[2:]:
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname', '')} {case.get('name', '')}"
        seen[key] += 1
        worst[key] = max(worst[key], float(case.get("time", "0")))
        if case.find("failure") is None and case.find("error") is None:
            passed[key] += 1
flaky = 0
for key in sorted(seen, key=lambda k: (passed[k] - seen[k], k)):
    mark = "" if passed[key] == n else "  <-- not green"
    flaky += passed[key] != n
    print(f"{passed[key]:3d}/{n}  {worst[key]:7.1f}s max  {key}{mark}")
print(f"{len(seen)} tests, {flaky} not passing {n}/{n}")
sys.exit(1 if flaky else 0)
PY
