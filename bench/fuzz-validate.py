#!/usr/bin/env python3
"""Mutation fuzz of `ordeal validate`: mutate the bundled scenarios and check
that every mutant gets an answer, never a crash or a hang.

    bench/fuzz-validate.py [--mutants 5000] [--seed 1] [--ordeal target/release/ordeal] [--jobs 2]

Each mutant is a copy of a scenario under scenarios/ with one to three
mutations (a line deleted, duplicated or moved; an indentation changed; a
value replaced by an extreme or hostile one: huge or negative numbers, 0s,
CR/LF, NUL, deep nesting, a template, a BOM; a key misspelt; the text cut
short), written in a folder beside scenarios/ so relative paths still
resolve. `ordeal validate` must exit 0 (valid) or 2 (invalid, with a
diagnostic on stderr) within 10 s. Anything else (a panic's 101, a signal,
exit 1 or 3, a timeout, an exit 2 with nothing on stderr) is a finding: the
mutant is kept in reports/fuzz-validate/ and the script exits 1.

The last line is
    fuzz-validate: N mutants, V valid, I invalid, 0 panics, 0 over 10 s, 0 other; slowest X.XX s
"""
import argparse
import concurrent.futures
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_S = 10.0

HOSTILE = [
    "0", "-1", "0s", "-5s", "18446744073709551615", "18446744073709551615s", "1e309", "NaN", ".inf",
    "99999999999", "25h", "1ms", "\"\"", "\"\\r\\nX: y\"", "\"a\\u0000b\"", "null", "~", "[]", "{}",
    "[[[[[[[[[[[[]]]]]]]]]]]]", "\"{{mocks.nope.url}}\"", "\"{{\"", "\"../../x\"", "\"/dev/zero\"",
    "\"é\"", "\"" + "x" * 5000 + "\"", "true", "\"< \"", "\"=< 0\"", "\"> 1e400\"", "\"rate(x[5m]\"",
    "\"{{seq}}\"", "\"{{data.x}}\"", "!!binary aGVsbG8=", "&a x", "*a", "<<: *a",
]


def mutate_once(lines, rng):
    if not lines:
        return lines
    i = rng.randrange(len(lines))
    op = rng.randrange(9)
    line = lines[i]
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, line)
    elif op == 2:
        j = rng.randrange(len(lines))
        lines.insert(j, lines.pop(i))
    elif op == 3:
        lines[i] = (" " * rng.choice([1, 2, 4])) + line if rng.random() < 0.5 else line.lstrip()
    elif op in (4, 5, 6):
        # Replace a value (after `key:` or in a flow map) with a hostile one.
        spots = [m.end() for m in re.finditer(r":\s", line)]
        if spots:
            at = rng.choice(spots)
            rest = line[at:]
            end = len(rest)
            for stop in (",", "}", "]", " #"):
                k = rest.find(stop)
                if 0 <= k < end:
                    end = k
            lines[i] = line[:at] + rng.choice(HOSTILE) + rest[end:]
        else:
            lines[i] = line + " " + rng.choice(HOSTILE)
    elif op == 7:
        m = re.search(r"[a-z_]{3,}", line)
        if m:
            w = m.group(0)
            k = rng.randrange(len(w))
            w2 = w[:k] + w[k + 1:] if rng.random() < 0.5 else w[:k] + rng.choice("aeiou_") + w[k:]
            lines[i] = line[: m.start()] + w2 + line[m.end():]
    else:
        cut = rng.randrange(len(line) + 1)
        lines[i] = line[:cut]
        del lines[i + 1 :]
    return lines


def mutant(text, rng):
    lines = text.split("\n")
    for _ in range(rng.choice([1, 1, 2, 3])):
        lines = mutate_once(lines, rng)
    out = "\n".join(lines)
    if rng.random() < 0.02:
        out = "\ufeff" + out
    return out


def judge(ordeal, path):
    start = time.monotonic()
    try:
        p = subprocess.run([ordeal, "validate", path], capture_output=True, timeout=LIMIT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "timeout", LIMIT_S, b""
    took = time.monotonic() - start
    if p.returncode == 0:
        return "valid", took, p.stderr
    if p.returncode == 2 and p.stderr.strip():
        return "invalid", took, p.stderr
    if p.returncode == 101 or b"panicked" in p.stderr:
        return "panic", took, p.stderr
    return "other", took, p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ordeal", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "ordeal"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", default=os.path.join(ROOT, "reports", "fuzz-validate"))
    a = ap.parse_args()
    if not os.access(a.ordeal, os.X_OK):
        sys.exit(f"fuzz-validate: no ordeal binary at {a.ordeal} (build it: cargo build --release, or pass --ordeal)")
    sources = sorted(os.path.join(ROOT, "scenarios", f) for f in os.listdir(os.path.join(ROOT, "scenarios")) if f.endswith(".yaml"))
    texts = {s: open(s, encoding="utf-8").read() for s in sources}
    rng = random.Random(a.seed)
    # Mutants sit in a temp folder at the depth of scenarios/, so `../fixtures/...` resolves.
    work = tempfile.mkdtemp(prefix=".fuzz-validate-", dir=ROOT)
    print(f"fuzz-validate: mutants in {work} (removed at the end)", file=sys.stderr)
    counts = {"valid": 0, "invalid": 0, "panic": 0, "timeout": 0, "other": 0}
    slowest = 0.0
    try:
        jobs = []
        for n in range(a.mutants):
            src = rng.choice(sources)
            path = os.path.join(work, f"m{n}.yaml")
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(mutant(texts[src], rng))
            jobs.append((path, src))
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            results = pool.map(lambda j: (j, judge(a.ordeal, j[0])), jobs)
            for (path, src), (verdict, took, stderr) in results:
                counts[verdict] += 1
                slowest = max(slowest, took)
                if verdict in ("panic", "timeout", "other"):
                    os.makedirs(a.keep, exist_ok=True)
                    kept = os.path.join(a.keep, f"{verdict}-{os.path.basename(src)[:-5]}-{os.path.basename(path)}")
                    shutil.copy(path, kept)
                    print(f"{verdict}: {kept} (from {os.path.relpath(src, ROOT)}): {stderr.decode('utf-8', 'replace')[-400:]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"fuzz-validate: {a.mutants} mutants, {counts['valid']} valid, {counts['invalid']} invalid, "
        f"{counts['panic']} panics, {counts['timeout']} over {LIMIT_S:.0f} s, {counts['other']} other; slowest {slowest:.2f} s"
    )
    sys.exit(1 if counts["panic"] + counts["timeout"] + counts["other"] else 0)


if __name__ == "__main__":
    main()
