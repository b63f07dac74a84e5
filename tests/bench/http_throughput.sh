#!/usr/bin/env bash
# http_throughput.sh — speed and cost of one cairn-node's HTTP upload and
# local download on loopback, next to baselines and floors measured in the
# same run on the same machine.
#
# What it measures (one run, all on 127.0.0.1):
#   1. nginx baseline: `curl -o /dev/null` of a random file served by nginx
#      (static files, worker_processes 1, sendfile on) from the page cache —
#      the speed of "loopback HTTP + page cache" on this machine — and the
#      CPU of its worker per GiB.
#   2. upload: POST /api/codex/v1/data of a fresh cairn-node, body streamed
#      from the file (`curl -T file -X POST`, Content-Length set; curl's
#      `--data-binary @file` would load the whole file into memory first and
#      fails with "out of memory" at 1 GiB). Measures chunking, hashing, the
#      Merkle tree, LMDB writes and the durable commit.
#      Before every repetition after the first, the dataset is DELETEd so that
#      each upload writes every block (no deduplication shortcut).
#   2b. durable disk baseline: `dd conv=fsync` of the same file into the same
#      temp dir — the speed at which this disk makes bytes durable, which
#      bounds an upload that fsyncs before it answers (see README, Durability).
#   3. local download: `curl -o /dev/null` of GET /api/codex/v1/data/{cid}.
#   4. correctness: one more download piped into sha256sum must equal the
#      original file's digest (not timed).
#   5. memory: VmRSS, RssAnon and RssFile of the node sampled every 0.2 s
#      for the whole run; the maxima (overall and per phase) are reported.
#      RssAnon (heap, buffers, stacks) is what the node costs; RssFile is
#      mostly the pages of LMDB's map it touched (page cache: shared,
#      reclaimable).
#   6. cost: CPU-seconds (user + system, /proc/PID/stat) per GiB of the node,
#      nginx, dd and curl in the fastest run of each timing, and the floor
#      of each node phase: one loopback TCP hop (python3 sender -> receiver,
#      each side apart), and, if BUILD_DIR has store_bench (configure with
#      -DCAIRN_BUILD_BENCHMARKS=ON), SHA-256 of 64 KiB blocks, an LMDB write
#      and an LMDB read of every byte. Upload floor: TCP receive + SHA-256 +
#      LMDB write; download floor: LMDB read + TCP send.
# Each timing is repeated RUNS times (default 3; the machine is small and
# noisy) and the best (shortest) time is reported. MB/s means 10^6 bytes/s.
# Method and the meaning of each term: tests/bench/README.md.
#
# Usage: tests/bench/http_throughput.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB   file size in MiB (default 1024)
#              RUNS      repetitions per timing (default 3)
#              KEEP_TMP  set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, nginx (/usr/sbin/nginx, `tools/deps --bench`), python3,
# sha256sum, awk. Nothing outside a private temp dir is touched; every
# process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
API=/api/codex/v1

die() { echo "http_throughput: $*" >&2; exit 1; }

[[ -x "$NGINX_BIN" ]] || die "nginx not found at $NGINX_BIN"
positive_ints SIZE_MB RUNS
bench_start http curl python3 sha256sum awk
STORE_BENCH="$BUILD_DIR/bin/store_bench"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- the test file --------------------------------------------------------
SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
mkdir -p "$WORK/www"
FILE="$WORK/www/data.bin"
echo "creating $SIZE_MB MiB random file in $WORK ..." >&2
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
SHA_ORIG=$(sha256sum "$FILE" | awk '{print $1}')
# nginx workers may run as another user when started as root.
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$FILE"

# --- one loopback TCP hop -------------------------------------------------
echo "raw loopback TCP, $SIZE_MB MiB (python3 sender -> receiver):" >&2
T_TCP=$(best_of tcp_hop "$WORK/cpu.tcp")

# --- nginx baseline -------------------------------------------------------
NGX="$WORK/nginx"
mkdir -p "$NGX/tmp"
NGINX_PORT=$(free_port)
temp_paths=""
for mod in client_body proxy fastcgi uwsgi scgi; do
  if [[ $mod == client_body ]] || ! "$NGINX_BIN" -V 2>&1 | grep -q -- "--without-http_${mod}_module"; then
    temp_paths+="  ${mod}_temp_path $NGX/tmp/$mod;"$'\n'
  fi
done
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
$temp_paths
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
  }
}
EOF
"$NGINX_BIN" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" \
  >"$NGX/stdout.log" 2>&1 &
NGINX_PID=$!
SERVER_PIDS+=("$NGINX_PID")
NGINX_URL="http://127.0.0.1:$NGINX_PORT/data.bin"
for ((i = 0; i < 100; i++)); do
  curl -s -o /dev/null -r 0-0 "$NGINX_URL" && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$NGX/error.log" "$NGX/stdout.log" >&2; die "nginx exited"; }
  sleep 0.1
done
curl -s -o /dev/null -r 0-0 "$NGINX_URL" || die "nginx does not answer on port $NGINX_PORT"
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
[[ -n "$NGINX_WORKER" ]] || die "no nginx worker process"
# The file in the page cache before the timed runs.
cat "$FILE" >/dev/null

echo "nginx download (port $NGINX_PORT):" >&2
T_NGINX=$(best_of cpu_run "$WORK/cpu.nginx" "$NGINX_WORKER" -- \
  get_timed "$NGINX_URL" "$SIZE_BYTES")
stop_pid "$NGINX_PID" QUIT 5

# --- durable write baseline ---------------------------------------------
time_dd() { # -> seconds to write the file with fsync
  local t0 t1
  t0=$(now)
  dd if="$FILE" of="$WORK/dd.out" bs=4M conv=fsync status=none
  t1=$(now)
  rm -f "$WORK/dd.out"
  elapsed "$t0" "$t1"
}
echo "dd conv=fsync of the same file:" >&2
T_DD=$(best_of cpu_run "$WORK/cpu.dd" -- time_dd)

# --- cairn-node -----------------------------------------------------------
# Room for the dataset plus LMDB overhead; deletes free it between runs.
QUOTA=$((SIZE_BYTES * 3 + 1024 * 1024 * 1024))
start_node N
start_rss_sampler N
sleep 0.5 # a few idle samples

time_upload() { # -> seconds; the CID goes to $WORK/cid
  if [[ -s "$WORK/cid" ]]; then
    delete "$BASE_N" "$(cat "$WORK/cid")"
  fi
  local t0 t1
  t0=$(now)
  upload "$BASE_N" "$FILE" >"$WORK/cid"
  t1=$(now)
  elapsed "$t0" "$t1"
}

echo upload >"$WORK/phase"
echo "cairn-node upload:" >&2
T_UP=$(best_of cpu_run "$WORK/cpu.up" "$PID_N" -- time_upload)
CID=$(cat "$WORK/cid")

echo download >"$WORK/phase"
echo "cairn-node download of $CID:" >&2
T_DOWN=$(best_of cpu_run "$WORK/cpu.down" "$PID_N" -- \
  get_timed "$BASE_N$API/data/$CID" "$SIZE_BYTES")

echo verify >"$WORK/phase"
SHA_DOWN=$(curl -s "$BASE_N$API/data/$CID" | sha256sum | awk '{print $1}')
[[ "$SHA_DOWN" == "$SHA_ORIG" ]] || die "sha256 mismatch: downloaded $SHA_DOWN, original $SHA_ORIG"
echo "sha256 of the download matches the original ($SHA_ORIG)" >&2
stop_rss_sampler

# --- floors ------------------------------------------------------------------
read -r TCP_SEND TCP_RECV <<<"$(per_gib "$WORK/cpu.tcp")"
read -r CPU_NGINX CPU_NGINX_CURL <<<"$(per_gib "$WORK/cpu.nginx")"
read -r CPU_DD <<<"$(per_gib "$WORK/cpu.dd")"
read -r CPU_UP CPU_UP_CURL <<<"$(per_gib "$WORK/cpu.up")"
read -r CPU_DOWN CPU_DOWN_CURL <<<"$(per_gib "$WORK/cpu.down")"
FLOOR_UP="" FLOOR_DOWN=""
if [[ -x "$STORE_BENCH" ]]; then
  echo floor >"$WORK/phase"
  store_floor "$STORE_BENCH"
  FLOOR_UP=$(awk -v r="$TCP_RECV" -v s="$SHA_CPU" -v p="$PUT_CPU" 'BEGIN{printf "%.2f", r + s + p}')
  FLOOR_DOWN=$(awk -v t="$TCP_SEND" -v g="$GET_CPU" 'BEGIN{printf "%.2f", t + g}')
fi

row() { printf '%-40s %12s\n' "$1" "$2"; }
echo
echo "cairn-node HTTP throughput, $SIZE_MB MiB file, best of $RUNS, $(nproc) cores, $(uname -m)"
row "metric" "value"
row "----------------------------------------" "------------"
row "upload MB/s" "$(mbps "$SIZE_BYTES" "$T_UP")"
row "disk MB/s (dd conv=fsync)" "$(mbps "$SIZE_BYTES" "$T_DD")"
row "upload/disk ratio" "$(ratio "$T_DD" "$T_UP")"
row "download MB/s" "$(mbps "$SIZE_BYTES" "$T_DOWN")"
row "nginx MB/s" "$(mbps "$SIZE_BYTES" "$T_NGINX")"
row "download/nginx ratio" "$(ratio "$T_NGINX" "$T_DOWN")"
row "raw loopback TCP MB/s (python3)" "$(mbps "$SIZE_BYTES" "$T_TCP")"
row "max RSS MiB" "$(max_rss N 3)"
row "  idle RSS MiB" "$(max_rss N 3 idle)"
row "max RssAnon MiB" "$(max_rss N 4)"
row "  during upload" "$(max_rss N 4 upload)"
row "  during download" "$(max_rss N 4 download)"
row "max RssFile MiB" "$(max_rss N 5)"
row "  during upload" "$(max_rss N 5 upload)"
row "  during download" "$(max_rss N 5 download)"
row "RSS samples" "$(wc -l <"$WORK/rss.log")"
row "CPU s/GiB upload: node" "$CPU_UP"
row "  curl" "$CPU_UP_CURL"
row "CPU s/GiB dd conv=fsync" "$CPU_DD"
row "CPU s/GiB download: node" "$CPU_DOWN"
row "  curl" "$CPU_DOWN_CURL"
row "CPU s/GiB nginx download: worker" "$CPU_NGINX"
row "  curl" "$CPU_NGINX_CURL"
row "download node / nginx worker CPU" "$(ratio "$CPU_DOWN" "$CPU_NGINX")"
row "CPU s/GiB TCP hop: sender" "$TCP_SEND"
row "  receiver" "$TCP_RECV"
if [[ -n "$FLOOR_UP" ]]; then
  row "CPU s/GiB SHA-256 (store_bench)" "$SHA_CPU"
  row "CPU s/GiB LMDB write (store_bench)" "$PUT_CPU"
  row "CPU s/GiB LMDB read (store_bench)" "$GET_CPU"
  row "upload floor (TCP recv+SHA+write)" "$FLOOR_UP"
  row "upload node / floor" "$(ratio "$CPU_UP" "$FLOOR_UP")"
  row "download floor (read+TCP send)" "$FLOOR_DOWN"
  row "download node / floor" "$(ratio "$CPU_DOWN" "$FLOOR_DOWN")"
else
  echo "(no $STORE_BENCH: configure with -DCAIRN_BUILD_BENCHMARKS=ON for the floors)"
fi
