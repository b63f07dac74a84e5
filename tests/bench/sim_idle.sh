#!/usr/bin/env bash
# sim_idle.sh — memory and threads of idle nodes hosted by one cairn-sim
# agent.
#
# What it measures (all on 127.0.0.1): for each N of NODES, a fresh agent
# is started and a coordinator starts N nodes on it (all bootstrapping from
# node 0) and leaves them idle for IDLE seconds (one 1-byte upload at the
# end keeps the run going). Half-way, the agent's VmRSS, RssAnon, threads
# and open fds are read from /proc. Per node = (figure at N - figure at 1)
# / (N - 1). Also prints how long the N nodes took to start.
#
# Usage: tests/bench/sim_idle.sh [BUILD_DIR]     (default: build)
#        env NODES="1 50" IDLE=12
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
sim=$build/bin/cairn-sim
[[ -x $sim ]] || { echo "sim_idle.sh: no $sim (build first)" >&2; exit 1; }
nodes=${NODES:-"1 50"}
idle=${IDLE:-12}
tmp=$(mktemp -d /tmp/cairn-sim-idle-XXXXXX)
agent_pid=""
trap '[[ -n $agent_pid ]] && kill -9 $agent_pid 2>/dev/null; rm -rf "$tmp"' EXIT
echo secret > "$tmp/secret"

status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

declare -A rss anon threads fds
for n in $nodes; do
  rm -rf "$tmp/agent" "$tmp/out"
  "$sim" agent --listen 127.0.0.1:0 --data-dir "$tmp/agent" \
    --secret-file "$tmp/secret" > "$tmp/agent.out" 2> "$tmp/agent.err" &
  agent_pid=$!
  for _ in $(seq 100); do grep -q ready "$tmp/agent.out" && break; sleep 0.1; done
  addr=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$tmp/agent.out")
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
  "$sim" run "$tmp/idle.toml" --agent "$addr" --secret-file "$tmp/secret" \
    --out "$tmp/out" > /dev/null 2> "$tmp/run.err" &
  run_pid=$!
  sleep $((idle / 2 + 2))
  rss[$n]=$(status $agent_pid VmRSS)
  anon[$n]=$(status $agent_pid RssAnon)
  threads[$n]=$(status $agent_pid Threads)
  fds[$n]=$(ls /proc/$agent_pid/fd | wc -l)
  wait $run_pid || true
  wait $agent_pid || true
  agent_pid=""
  startup=$(sed -n 's/.*"startup_seconds": \([0-9.]*\).*/\1/p' "$tmp/out/report.json")
  printf '%4d nodes: start-up %5.2f s, VmRSS %7d KiB, RssAnon %7d KiB, %4d threads, %4d fds\n' \
    "$n" "$startup" "${rss[$n]}" "${anon[$n]}" "${threads[$n]}" "${fds[$n]}"
done
set -- $nodes
if [[ $# -ge 2 ]]; then
  a=$1; b=${!#}
  awk -v a="$a" -v b="$b" -v r1="${rss[$a]}" -v r2="${rss[$b]}" \
      -v n1="${anon[$a]}" -v n2="${anon[$b]}" -v t1="${threads[$a]}" \
      -v t2="${threads[$b]}" -v f1="${fds[$a]}" -v f2="${fds[$b]}" 'BEGIN {
    d = b - a
    printf "per node: VmRSS %.0f KiB, RssAnon %.0f KiB, %.2f threads, %.2f fds\n",
      (r2 - r1) / d, (n2 - n1) / d, (t2 - t1) / d, (f2 - f1) / d }'
fi
