#!/usr/bin/env bash
# sim_scale.sh — how many nodes one cairn-sim agent holds, and how fast a
# dataset spreads through them.
#
# What it measures (all on 127.0.0.1, one agent, one coordinator):
# - idle: for each N of IDLE_NODES, a fresh agent starts N nodes (all
#   bootstrapping from node 0) that stay idle for IDLE seconds. Half-way,
#   the agent's VmRSS, RssAnon, threads and open fds are read from /proc,
#   and its CPU use over the next IDLE/4 seconds (utime + stime). Per node
#   = (figure at N - figure at the first N) / (N - first N). Start-up is
#   the coordinator's `startup_seconds` (every node up and joined).
# - spread: for each N of SPREAD_NODES, a fresh agent starts N nodes; node
#   0 uploads SIZE (default 10MiB), and once it is stored all N - 1 others
#   download it at once. Spread = from the downloads' start to the last
#   one done, from report.json (each download's `at` + `seconds`), with
#   their median and the agent's CPU-seconds for the whole run (start-up
#   included; sampled from /proc until it exits, so it misses at most
#   0.2 s of its shutdown), its peak RssAnon (every 0.2 s) and its peak of
#   open descriptors (every second; about two per peer session, both ends
#   being in the agent). A run where a download did not complete counts
#   as failed and prints why.
#
# Usage: tests/bench/sim_scale.sh [BUILD_DIR]        (default: build)
#        env IDLE_NODES="1 50 100 200 500" SPREAD_NODES="10 50 100 200"
#            SIZE=10MiB IDLE=12 KEEP=DIR (keeps each run's report there)
#        IDLE_NODES="" or SPREAD_NODES="" skips that part.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
sim=$build/bin/cairn-sim
[[ -x $sim ]] || { echo "sim_scale.sh: no $sim (build first)" >&2; exit 1; }
idle_nodes=${IDLE_NODES-"1 50 100 200 500"}
spread_nodes=${SPREAD_NODES-"10 50 100 200"}
idle=${IDLE:-12}
size=${SIZE:-10MiB}
hz=$(getconf CLK_TCK)
tmp=$(mktemp -d /tmp/cairn-sim-scale-XXXXXX)
agent_pid=""
trap '[[ -n $agent_pid ]] && kill -9 $agent_pid 2>/dev/null; rm -rf "$tmp"' EXIT
"$sim" cert --out "$tmp/keys" > /dev/null

status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# utime + stime of a process, in clock ticks (fields 14 and 15 of stat,
# counted after the command name, which may hold spaces).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
json() { python3 -c "import json,sys; j=json.load(open('$1')); print($2)"; }

# start_agent: a fresh agent; sets agent_pid and addr.
start_agent() {
  rm -rf "$tmp/agent" "$tmp/out"
  "$sim" agent --listen 127.0.0.1:0 --data-dir "$tmp/agent" \
    --tls-dir "$tmp/keys" --log-level warn \
    > "$tmp/agent.out" 2> "$tmp/agent.err" &
  agent_pid=$!
  for _ in $(seq 100); do grep -q ready "$tmp/agent.out" && break; sleep 0.1; done
  addr=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$tmp/agent.out")
  [[ -n $addr ]] || { cat "$tmp/agent.err" >&2; echo "sim_scale.sh: agent did not start" >&2; exit 1; }
}

# run_scenario FILE: plays FILE on the agent in the background; sets run_pid.
run_scenario() {
  "$sim" run "$1" --agent "$addr" --tls-dir "$tmp/keys" \
    --out "$tmp/out" > /dev/null 2> "$tmp/run.err" &
  run_pid=$!
}

# wait_run: waits for the run and the agent; sets agent_ticks to the
# agent's last CPU ticks seen, peak_anon to its largest RssAnon (KiB) and
# peak_fds to its most open descriptors (read every second).
wait_run() {
  local t a i=0
  agent_ticks=0 peak_anon=0 peak_fds=0
  while kill -0 "$agent_pid" 2>/dev/null; do
    t=$(ticks "$agent_pid" 2>/dev/null) && agent_ticks=$t
    a=$(status "$agent_pid" RssAnon 2>/dev/null) && ((a > peak_anon)) && peak_anon=$a
    if ((i++ % 5 == 0)); then
      t=$(ls "/proc/$agent_pid/fd" 2>/dev/null | wc -l)
      ((t > peak_fds)) && peak_fds=$t
    fi
    sleep 0.2
  done
  wait "$run_pid" || true
  wait "$agent_pid" || true
  agent_pid=""
}

keep() { # NAME: copies the run's report into $KEEP/NAME
  [[ -n ${KEEP:-} ]] || return 0
  mkdir -p "$KEEP/$1" && cp "$tmp/out"/report.* "$KEEP/$1/"
}

declare -A rss anon threads fds cpu
set -- $idle_nodes
[[ $# -gt 0 ]] && echo "idle nodes (IDLE=$idle s):"
for n in $idle_nodes; do
  start_agent
  cat > "$tmp/idle.toml" <<TOML
time_limit = $((idle + 30))
[[group]]
count = $n
[group.node]
storage-quota = "64MiB"
[[event]]
at = $idle
action = "upload"
node = 0
data = "x"
size = 1
TOML
  run_scenario "$tmp/idle.toml"
  # Half-way through the idle time (the nodes are up once the report's
  # start-up is over; the timeline starts then).
  for _ in $(seq 600); do grep -q "nodes $n/$n up" "$tmp/run.err" 2>/dev/null && break; sleep 0.1; done
  sleep $((idle / 2))
  rss[$n]=$(status $agent_pid VmRSS)
  anon[$n]=$(status $agent_pid RssAnon)
  threads[$n]=$(status $agent_pid Threads)
  fds[$n]=$(ls /proc/$agent_pid/fd | wc -l)
  t0=$(ticks $agent_pid)
  sleep $((idle / 4))
  cpu[$n]=$(awk -v a="$t0" -v b="$(ticks $agent_pid)" -v hz="$hz" -v s=$((idle / 4)) \
    'BEGIN{printf "%.3f", (b - a) / hz / s}')
  wait_run
  keep "idle-$n"
  startup=$(json "$tmp/out/report.json" 'j["startup_seconds"]')
  printf '%4d nodes: start-up %6.2f s, VmRSS %7d KiB, RssAnon %7d KiB, %4d threads, %5d fds, idle CPU %.3f s/s\n' \
    "$n" "$startup" "${rss[$n]}" "${anon[$n]}" "${threads[$n]}" "${fds[$n]}" "${cpu[$n]}"
done
if [[ $# -ge 2 ]]; then
  a=$1; b=${!#}
  awk -v a="$a" -v b="$b" -v r1="${rss[$a]}" -v r2="${rss[$b]}" \
      -v n1="${anon[$a]}" -v n2="${anon[$b]}" -v t1="${threads[$a]}" \
      -v t2="${threads[$b]}" -v f1="${fds[$a]}" -v f2="${fds[$b]}" 'BEGIN {
    d = b - a
    printf "per node (%d to %d nodes): VmRSS %.0f KiB, RssAnon %.0f KiB, %.2f threads, %.2f fds\n",
      a, b, (r2 - r1) / d, (n2 - n1) / d, (t2 - t1) / d, (f2 - f1) / d }'
fi

set -- $spread_nodes
[[ $# -gt 0 ]] && echo "spread of $size from node 0 to all others:"
for n in $spread_nodes; do
  start_agent
  cat > "$tmp/spread.toml" <<TOML
time_limit = 300
[[group]]
count = $n
[group.node]
storage-quota = "256MiB"
[[event]]
name = "up"
at = 0
action = "upload"
node = 0
data = "d"
size = "$size"
[[event]]
after = "event:up"
at = 0
action = "download"
data = "d"
TOML
  run_scenario "$tmp/spread.toml"
  wait_run
  keep "spread-$n"
  line=$(python3 - "$tmp/out/report.json" "$agent_ticks" "$hz" "$peak_anon" "$peak_fds" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ds = j["downloads"]
done = [d for d in ds if d["state"] == "done"]
start = min(d["at"] for d in ds) if ds else 0
ends = sorted(d["at"] + d["seconds"] - start for d in done)
med = ends[len(ends) // 2] if ends else 0
hops = sorted(h for d in ds for h in d.get("dht_hops", []))
cpu = int(sys.argv[2]) / int(sys.argv[3])
out = (f"{len(done)}/{len(ds)} done, start-up {j['startup_seconds']:.2f} s, "
       f"spread {ends[-1] if ends else 0:.2f} s (median {med:.2f} s), "
       f"agent {cpu:.1f} CPU-s, peak RssAnon {int(sys.argv[4]) / 1024:.0f} MiB, "
       f"peak fds {sys.argv[5]}")
if hops:
    out += f", DHT hops median {hops[len(hops) // 2]} max {hops[-1]}"
if len(done) != len(ds):
    out += " FAILED: " + (j["reason"] or "downloads not done")
print(out)
PY
)
  printf '%4d nodes: %s\n' "$n" "$line"
done
