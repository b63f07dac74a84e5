# shellcheck shell=bash
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

# start_node NAME [FLAG...]: starts a node in $WORK/NAME, with the extra
# flags given; sets BASE_<NAME>, PID_<NAME>, PEER_<NAME>, ADDR_<NAME> (its
# peer listener multiaddr).
start_node() {
  local name=$1 dir="$WORK/$1" pid ready="" base peer addr i
  mkdir -p "$dir"
  # Emptied here, not only by the redirections below: those happen in the
  # child, which may run after wait_ready has read a restarted node's
  # last ready line.
  : >"$dir/stdout"
  : >"$dir/stderr"
  "$NODE_BIN" --data-dir "$dir/data" --api-bindaddr 127.0.0.1 --api-port 0 \
    --listen-ip 127.0.0.1 --listen-port 0 --disc-port 0 \
    --storage-quota "$QUOTA" --log-level "${LOG_LEVEL:-warn}" "${@:2}" \
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
# CURL_PIDS, SERVER_PIDS, SAMPLER_PID): stops the RSS sampler, curls, other
# servers, and nodes (SIGTERM to all nodes first, then waits for each);
# removes WORK unless KEEP_TMP=1.
bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID" TERM 1
  for pid in "${CURL_PIDS[@]}"; do stop_pid "$pid" TERM 1; done
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid" TERM 5; done
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do stop_pid "$pid" TERM 5; done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "temp dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# positive_ints VAR...: dies (the caller's die) unless each named variable
# holds a positive integer.
positive_ints() {
  local v
  for v; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
  done
}

# bench_start NAME TOOL...: the start of a node benchmark named NAME (the
# caller sets NODE_BIN and die()): checks NODE_BIN and each TOOL, makes
# NODE_BIN absolute, creates the private temp dir WORK, empties NODE_PIDS,
# CURL_PIDS, SERVER_PIDS and SAMPLER_PID, and installs the traps that stop
# all of them on exit (bench_traps).
bench_start() {
  local name=$1 tool
  shift
  [[ -x "$NODE_BIN" ]] || die "no executable $NODE_BIN (build first, or pass the build dir as \$1)"
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  NODE_BIN=$(cd "$(dirname "$NODE_BIN")" && pwd)/$(basename "$NODE_BIN")
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-$name-XXXXXX")
  NODE_PIDS=()
  CURL_PIDS=()
  SERVER_PIDS=()
  SAMPLER_PID=""
  bench_traps "$name"
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
# RssAnon-kB RssFile-kB" for each named node (PID_<node>) to $WORK/rss.log,
# the phase being the content of $WORK/phase (set to "idle" here). Sets
# SAMPLER_PID (stopped by bench_cleanup, or by stop_rss_sampler). RssAnon
# (heap, buffers, stacks) is what a node costs; RssFile is mostly the pages
# of LMDB's map it touched: page cache, shared and reclaimable.
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
        rss=$(awk '/^VmRSS:/{r = $2} /^RssAnon:/{a = $2} /^RssFile:/{f = $2}
            END{if (r != "") print r, a + 0, f + 0}' \
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

# max_rss NODE COLUMN(3 = VmRSS, 4 = RssAnon, 5 = RssFile) [PHASE] -> MiB,
# from rss.log.
max_rss() {
  awk -v n="$1" -v c="$2" -v p="${3:-}" \
    '$2 == n && (p == "" || $1 == p) && $c > m {m = $c} END {printf "%.1f", m / 1024}' "$WORK/rss.log"
}

# -- CPU cost (callers set WORK and SIZE_BYTES) ------------------------------

CLK_TCK=$(getconf CLK_TCK)
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }

# get_timed URL BYTES: GETs URL into /dev/null and prints curl's seconds;
# dies unless the answer is 200 with BYTES bytes.
get_timed() {
  local out code size t
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$1")
  read -r code size t <<<"$out"
  [[ "$code" == 200 ]] || die "GET $1 returned $code"
  [[ "$size" == "$2" ]] || die "GET $1 gave $size bytes, expected $2"
  echo "$t"
}

# cpu_run CPU_FILE PID... -- CMD...: runs CMD (which prints seconds on
# stdout), prints them, and appends to CPU_FILE "seconds cpu(PID)...
# cpu(CMD)": the CPU-seconds (user + system) each PID used meanwhile, and
# those of CMD's own processes (bash's `time`).
cpu_run() {
  local file=$1 pids=() before=() p i t cu cs line TIMEFORMAT='%3U %3S'
  shift
  while [[ "$1" != -- ]]; do pids+=("$1"); shift; done
  shift
  for p in "${pids[@]}"; do before+=("$(cpu_ticks "$p")"); done
  { time "$@" >"$WORK/cpu_run.out" 2>&3; } 3>&2 2>"$WORK/cpu_run.time"
  t=$(cat "$WORK/cpu_run.out")
  line=$t
  for i in "${!pids[@]}"; do
    line+=" $(awk -v a="${before[$i]}" -v b="$(cpu_ticks "${pids[$i]}")" \
      -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b - a) / hz}')"
  done
  read -r cu cs <"$WORK/cpu_run.time"
  echo "$line $(awk -v u="$cu" -v s="$cs" 'BEGIN{printf "%.3f", u + s}')" >>"$file"
  echo "$t"
}

# per_gib FILE: the columns after the first (seconds) of FILE's fastest
# row, per GiB of SIZE_BYTES.
per_gib() {
  sort -g "$1" | head -n 1 |
    awk -v n="$SIZE_BYTES" '{for (i = 2; i <= NF; i++) printf "%.2f ", $i * 1073741824 / n}'
}

# tcp_hop CPU_FILE: moves SIZE_BYTES over one loopback TCP connection from
# a python3 sender process to a python3 receiver (1 MiB sends and
# recv_into, no disk, no hashing), prints the seconds, and appends
# "seconds sender-CPU receiver-CPU" to CPU_FILE: one hop's cost.
tcp_hop() {
  python3 - "$SIZE_BYTES" "$1" <<'EOF'
import os, resource, socket, sys, time
size = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
pid = os.fork()
if pid == 0:
    srv.close()
    c = socket.create_connection(("127.0.0.1", port))
    buf = memoryview(os.urandom(1 << 20))
    left = size
    while left > 0:
        n = min(left, len(buf))
        c.sendall(buf[:n])
        left -= n
    c.close()
    os._exit(0)
conn, _ = srv.accept()
t0 = time.monotonic()
me0 = resource.getrusage(resource.RUSAGE_SELF)
buf = bytearray(1 << 20)
got = 0
while True:
    n = conn.recv_into(buf)
    if n == 0:
        break
    got += n
t = time.monotonic() - t0
_, _, child = os.wait4(pid, 0)
me = resource.getrusage(resource.RUSAGE_SELF)
if got != size:
    sys.exit("received %d bytes, expected %d" % (got, size))
# The sender's whole life (a fork and 1 MiB of urandom besides its sends)
# and the receiver's CPU from the accept on.
send = child.ru_utime + child.ru_stime
recv = me.ru_utime + me.ru_stime - me0.ru_utime - me0.ru_stime
with open(sys.argv[2], "a") as f:
    f.write("%.3f %.3f %.3f\n" % (t, send, recv))
print("%.3f" % t)
EOF
}

# store_floor STORE_BENCH: runs store_bench (built with
# -DCAIRN_BUILD_BENCHMARKS=ON) and sets SHA_CPU, PUT_CPU and GET_CPU to the
# CPU-seconds per GiB of SHA-256 of 64 KiB blocks, of LMDB writes of them
# (into a file that has grown already, PutLeaves/1, as a node's) and of
# LMDB reads. Dies if store_bench fails.
store_floor() {
  echo "store_bench: CPU of SHA-256, LMDB writes and reads per GiB ..." >&2
  TMPDIR="$WORK" "$1" --benchmark_format=json \
    --benchmark_filter='Sha256Block|PutLeaves/1/|GetLeafProofs' \
    >"$WORK/store_bench.json" 2>"$WORK/store_bench.err" ||
    die "store_bench failed: $(tail -n 3 "$WORK/store_bench.err")"
  # shellcheck disable=SC2034  # read by the callers
  read -r SHA_CPU PUT_CPU GET_CPU <<<"$(python3 - "$WORK/store_bench.json" <<'EOF'
import json, sys
rate = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("error_occurred"):
        sys.exit("%s: %s" % (b["name"], b.get("error_message", "error")))
    if b.get("run_type", "iteration") != "iteration":
        continue
    parts = b["name"].split("/")
    key = parts[0] + ("/" + parts[1] if parts[0] == "BM_PutLeaves" else "")
    rate[key] = b["bytes_per_second"]
print(" ".join("%.2f" % (2**30 / rate[k]) for k in ("BM_Sha256Block", "BM_PutLeaves/1", "BM_GetLeafProofs")))
EOF
)" || true
  [[ -n "${GET_CPU:-}" ]] || die "cannot read store_bench's results in $WORK/store_bench.json"
}
