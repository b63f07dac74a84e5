# Shell helpers shared by the benchmark scripts in this folder (sourced).
# Each script sets RUNS before calling best_of.

# stop_pid PID SIGNAL GRACE_SECONDS: signals PID, waits, then SIGKILLs it.
stop_pid() { # pid signal grace_seconds
  local pid=$1 sig=$2 grace=$3 i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# best_of CMD...: runs CMD (which prints seconds on stdout) RUNS times and
# prints the smallest value.
best_of() {
  local best="" t i
  for ((i = 1; i <= RUNS; i++)); do
    t=$("$@")
    echo "    run $i: ${t}s" >&2
    if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a < b)}'; then
      best=$t
    fi
  done
  echo "$best"
}

# wait_ready STDOUT STDERR PID NAME: waits up to 20 s for cairn-node's ready
# line in STDOUT and prints it; dies (with STDERR's tail) if PID exits first.
wait_ready() {
  local out=$1 err=$2 pid=$3 name=$4 line="" i
  for ((i = 0; i < 200; i++)); do
    line=$(grep -m1 '^cairn-node ready ' "$out" || true)
    [[ -n "$line" ]] && break
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$err" >&2; die "$name exited before its ready line"; }
    sleep 0.1
  done
  [[ -n "$line" ]] || { tail -n 20 "$err" >&2; die "no ready line from $name within 20 s"; }
  echo "$line"
}
