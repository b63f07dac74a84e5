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

# -- nodes (callers set WORK, NODE_BIN, API, QUOTA, NODE_PIDS=() and die()) --

mbps() { awk -v b="$1" -v t="$2" 'BEGIN{printf "%.1f", b / t / 1e6}'; }

json_get() { # python expression on `j` (the parsed stdin)
  python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

# start_node NAME: starts a node in $WORK/NAME; sets BASE_<NAME>, PID_<NAME>,
# PEER_<NAME>, ADDR_<NAME> (its peer listener multiaddr).
start_node() {
  local name=$1 dir="$WORK/$1" pid ready="" base peer addr i
  mkdir -p "$dir"
  "$NODE_BIN" --data-dir "$dir/data" --api-bindaddr 127.0.0.1 --api-port 0 \
    --listen-ip 127.0.0.1 --listen-port 0 --disc-port 0 \
    --storage-quota "$QUOTA" --log-level "${LOG_LEVEL:-warn}" \
    >"$dir/stdout" 2>"$dir/stderr" &
  pid=$!
  NODE_PIDS+=("$pid")
  ready=$(wait_ready "$dir/stdout" "$dir/stderr" "$pid" "node $name")
  base=$(sed -n 's/.* api=\(http:\/\/[^ ]*\).*/\1/p' <<<"$ready")
  base=${base%/}
  peer=$(sed -n 's/.* peer-id=\([^ ]*\).*/\1/p' <<<"$ready")
  [[ -n "$base" && -n "$peer" ]] || die "cannot parse the ready line of $name: $ready"
  addr=$(curl -sf "$base$API/debug/info" | json_get 'j["addrs"][0]') ||
    die "GET /debug/info of $name failed"
  [[ "$addr" == /ip4/127.0.0.1/tcp/* ]] || die "node $name reports peer address '$addr'"
  printf -v "BASE_$name" '%s' "$base"
  printf -v "PID_$name" '%s' "$pid"
  printf -v "PEER_$name" '%s' "$peer"
  printf -v "ADDR_$name" '%s' "$addr"
  echo "node $name: $base pid $pid peer $peer at $addr" >&2
}

connect() { # from to
  local from="BASE_$1" peer="PEER_$2" addr="ADDR_$2" out
  out=$(curl -s -w ' %{http_code}' "${!from}$API/connect/${!peer}?addrs=${!addr}")
  [[ "$out" == *" 200" ]] || die "connect $1 -> $2 failed: $out"
}

upload() { # base file -> cid
  local out code body
  out=$(curl -s -o "$WORK/upload.body" -w '%{http_code}' \
    -H 'Content-Type: application/octet-stream' -H 'Expect:' \
    -X POST -T "$2" "$1$API/data")
  body=$(cat "$WORK/upload.body")
  [[ "$out" == 200 && "$body" == z* ]] || die "upload to $1 returned $out: $body"
  echo "$body"
}

delete() { # base cid
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$1$API/data/$2")
  [[ "$code" == 204 ]] || die "DELETE $2 on $1 returned $code"
}

# bench_cleanup: the EXIT trap of the node benchmarks (uses WORK, NODE_PIDS,
# CURL_PIDS, SAMPLER_PID): stops the RSS sampler, curls and nodes (SIGTERM to
# all first, then waits for each), removes WORK unless KEEP_TMP=1.
bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID" TERM 1
  for pid in "${CURL_PIDS[@]}"; do stop_pid "$pid" TERM 1; done
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do stop_pid "$pid" TERM 5; done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "temp dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# bench_traps NAME: installs bench_cleanup, and an ERR trap naming the
# failed command of script NAME.
bench_traps() {
  trap bench_cleanup EXIT
  # shellcheck disable=SC2016  # expanded when the trap runs
  trap 'echo "'"$1"': command failed at line $LINENO: $BASH_COMMAND" >&2' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start_rss_sampler NODE...: every 0.2 s appends "phase node VmRSS-kB
# RssAnon-kB" for each named node (PID_<node>) to $WORK/rss.log, the phase
# being the content of $WORK/phase (set to "idle" here). Sets SAMPLER_PID
# (stopped by bench_cleanup, or by stop_rss_sampler).
start_rss_sampler() {
  local nodes=() n pid
  for n in "$@"; do
    pid="PID_$n"
    nodes+=("$n:${!pid}")
  done
  echo idle >"$WORK/phase"
  (
    while :; do
      ph=$(cat "$WORK/phase")
      for n in "${nodes[@]}"; do
        rss=$(awk '/^VmRSS:/{r = $2} /^RssAnon:/{a = $2} END{if (r != "") print r, a + 0}' \
          "/proc/${n#*:}/status" 2>/dev/null || true)
        [[ -n "$rss" ]] && echo "$ph ${n%%:*} $rss"
      done
      sleep 0.2
    done
  ) >"$WORK/rss.log" 2>/dev/null &
  SAMPLER_PID=$!
}

# stop_rss_sampler: takes a last look after 0.3 s, then stops the sampler.
stop_rss_sampler() {
  sleep 0.3
  stop_pid "$SAMPLER_PID" TERM 1
  SAMPLER_PID=""
}

# max_rss NODE COLUMN(3 = VmRSS, 4 = RssAnon) [PHASE] -> MiB, from rss.log.
max_rss() {
  awk -v n="$1" -v c="$2" -v p="${3:-}" \
    '$2 == n && (p == "" || $1 == p) && $c > m {m = $c} END {printf "%.1f", m / 1024}' "$WORK/rss.log"
}
