#!/usr/bin/env bash
# Load-engine benchmark: ordeal against wrk on the same loopback nginx (a
# 3-byte 200), alternated, RUNS times each (default 3). Not a test: it takes a
# couple of minutes and its figures depend on the machine.
#
#   bench/load.sh            # RUNS=3 DURATION=5 RATE=1000
#
# Per run it prints the figures, and last one summary line:
#   load-bench: max throughput ordeal/wrk 0.NN (min..max); cpu per request at
#   1000 req/s ordeal/wrk N.N (min..max); achieved/target at 1000 req/s 0.NNN
#   (min..max); first request after X.XX s (max)
#
# Goals on the 2-core dev machine: throughput >= 0.6x wrk, CPU per request
# <= 2x wrk at 1,000 req/s, achieved/target >= 0.99, first request < 0.2 s.
#
# Measures: max throughput = `rate: max, connections: 50` vs `wrk -t2 -c50`;
# CPU per request at 1,000 req/s = ordeal's own CPU over the timeline
# (report.json `resources.harness_cpu_seconds`, children excluded) vs wrk's
# CPU (getrusage) paced by a Lua delay to the same rate; both divided by the
# requests sent.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
RATE=${RATE:-1000}
CONNECTIONS=${CONNECTIONS:-50}

missing=()
for tool in nginx wrk python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/load.sh needs: ${missing[*]}" >&2
  echo "install them with: apt-get install -y nginx wrk python3" >&2
  exit 2
fi

ordeal=${ORDEAL:-target/release/ordeal}
if [ ! -x "$ordeal" ]; then
  echo "building ordeal (cargo build --release)..." >&2
  cargo build --release --quiet --bin ordeal
fi

# Scratch space under a name ordeal never uses (ordeal's own temp folders are
# `ordeal-*` with a marker file; it never removes anything else).
work=$(mktemp -d "${TMPDIR:-/tmp}/load-bench.XXXXXX")
echo "bench/load.sh: working in $work (removed at exit)" >&2
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One nginx config for both tools; PORT is filled in per instance.
nginx_conf() { # port dir
  mkdir -p "$2"
  cat > "$2/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $2/nginx.pid;
error_log $2/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $2/body;
  proxy_temp_path $2/proxy;
  fastcgi_temp_path $2/fastcgi;
  uwsgi_temp_path $2/uwsgi;
  scgi_temp_path $2/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$1;
    location / { return 200 "ok\n"; }
  }
}
CONF
}

# wrk's target: its own nginx on a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_conf "$port" "$work/wrk-nginx"
nginx -e "$work/wrk-nginx/error.log" -c "$work/wrk-nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.1
done

# ordeal's target: the same nginx config, started by ordeal as the stack on
# the port it picks (sh fills it into the config, then becomes nginx).
nginx_conf PORT "$work/nginx-conf"
scenario() { # name load-lines
  cat > "$work/$1.yaml" <<YAML
name: $1
stack:
  services:
    nginx:
      command: sh
      args: [-c, 'sed "s/:PORT;/:\$PORT;/" $work/nginx-conf/nginx.conf > $work/nginx-conf/run.conf && exec nginx -e $work/nginx-conf/error.log -c $work/nginx-conf/run.conf']
      env: { PORT: "{{self.port}}" }
      ready: { path: /, timeout: 10s }
load:
  target: nginx
  timeout: 5s
$2
  requests:
    - { name: get, method: GET, path: / }
timeline:
  phases: [{ name: measured, duration: ${DURATION}s }]
YAML
}
scenario max "  rate: max
  connections: $CONNECTIONS"
scenario paced "  rate: $RATE"

cat > "$work/pace.lua" <<LUA
-- Each of the connections waits so that together they send $RATE req/s.
local per_conn_ms = 1000 * 10 / $RATE
function delay() return per_conn_ms end
LUA

# `cpu CMD...`: run CMD, print its output, then "cpu=<user+sys seconds>".
cpu() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(out.stdout)
sys.stderr.write(out.stderr[-2000:] if out.returncode else "")
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"cpu={r.ru_utime + r.ru_stime:.3f}")
PY
}

wrk_rps() { awk '/Requests\/sec:/ {print $2}'; }
wrk_requests() { awk '/requests in/ {print $1}'; }
json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'r': r}))" "$@"; }

run_ordeal() { # scenario -> report dir
  local dir="$work/report-$1-$2"
  "$ordeal" run "$work/$1.yaml" --report-dir "$dir" >"$dir.out" 2>"$dir.err" || {
    echo "ordeal run $1 failed:" >&2; tail -20 "$dir.err" >&2; exit 1; }
  echo "$dir"
}

tp_ratios=(); cpu_ratios=(); achieved=(); first=()
for i in $(seq "$RUNS"); do
  # Alternate which tool goes first.
  for tool in $( [ $((i % 2)) = 1 ] && echo "ordeal wrk" || echo "wrk ordeal"); do
    if [ "$tool" = wrk ]; then
      w_max=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/" | wrk_rps)
      out=$(cpu wrk -t1 -c10 -d"${DURATION}s" -s "$work/pace.lua" "http://127.0.0.1:$port/")
      w_req=$(echo "$out" | wrk_requests); w_cpu=$(echo "$out" | sed -n 's/^cpu=//p')
      w_cpr=$(python3 -c "print($w_cpu / $w_req)")
      printf 'run %d wrk:    max %8.0f req/s; paced %6.0f req/s, %5.1f us cpu/request\n' "$i" "$w_max" "$(python3 -c "print($w_req/$DURATION)")" "$(python3 -c "print($w_cpr*1e6)")"
    else
      d=$(run_ordeal max "$i")
      o_max=$(json "$d/report.json" "r['phases'][0]['load']['achieved_rate']")
      d=$(run_ordeal paced "$i")
      o_req=$(json "$d/report.json" "r['phases'][0]['load']['requests']")
      o_cpu=$(json "$d/report.json" "r['resources']['harness_cpu_seconds']")
      o_ach=$(json "$d/report.json" "r['phases'][0]['load']['achieved_rate'] / r['phases'][0]['load']['target_rate']")
      o_first=$(json "$d/report.json" "r['load']['first_send_ms'] / 1000")
      o_cpr=$(python3 -c "print($o_cpu / $o_req)")
      printf 'run %d ordeal: max %8.0f req/s; paced %6.0f req/s, %5.1f us cpu/request; achieved/target %.3f; first request after %.3f s\n' \
        "$i" "$o_max" "$(python3 -c "print($o_req/$DURATION)")" "$(python3 -c "print($o_cpr*1e6)")" "$o_ach" "$o_first"
    fi
  done
  tp_ratios+=("$(python3 -c "print($o_max / $w_max)")")
  cpu_ratios+=("$(python3 -c "print($o_cpr / $w_cpr)")")
  achieved+=("$o_ach"); first+=("$o_first")
done

python3 - "${tp_ratios[*]}" "${cpu_ratios[*]}" "${achieved[*]}" "${first[*]}" <<'PY'
import statistics, sys
tp, cpu, ach, first = ([float(x) for x in a.split()] for a in sys.argv[1:])
f = lambda v, d: f"{statistics.median(v):.{d}f} ({min(v):.{d}f}..{max(v):.{d}f})"
print(f"load-bench: max throughput ordeal/wrk {f(tp, 2)}; cpu per request at 1000 req/s ordeal/wrk {f(cpu, 1)}; "
      f"achieved/target at 1000 req/s {f(ach, 3)}; first request after {statistics.median(first):.2f} s (max {max(first):.2f})")
PY
