#!/usr/bin/env bash
# http_throughput.sh — end-to-end HTTP throughput of one cairn-node on loopback.
#
# What it measures (one run, all on 127.0.0.1):
#   1. nginx baseline: `curl -o /dev/null` of a random file served by nginx
#      (static files, worker_processes 1, sendfile on) — the speed of
#      "loopback HTTP + page cache" on this machine.
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
#   5. memory: VmRSS of the node sampled every 0.2 s for the whole run; the
#      maximum (overall and per phase) is reported. VmRSS includes the pages
#      of the LMDB memory map that the node touched (RssFile), so the anonymous
#      part (RssAnon: heap, buffers, stacks) is reported separately.
# Each timing is repeated RUNS times (default 3; the machine is small and
# noisy) and the best (shortest) time is reported. MB/s means 10^6 bytes/s.
#
# Usage: tests/bench/http_throughput.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB   file size in MiB (default 1024)
#              RUNS      repetitions per timing (default 3)
#              KEEP_TMP  set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, nginx (/usr/sbin/nginx), python3 (free port), sha256sum.
# Nothing outside a private temp dir is touched; every process started here
# is stopped on exit (trap).

set -euo pipefail

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
shopt -s inherit_errexit

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
API=/api/codex/v1

die() { echo "http_throughput: $*" >&2; exit 1; }

[[ -x "$NODE_BIN" ]] || die "no executable $NODE_BIN (build first, or pass the build dir as \$1)"
[[ -x "$NGINX_BIN" ]] || die "nginx not found at $NGINX_BIN"
[[ "$SIZE_MB" =~ ^[1-9][0-9]*$ ]] || die "SIZE_MB must be a positive integer"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
for tool in curl python3 sha256sum awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
NODE_BIN=$(cd "$(dirname "$NODE_BIN")" && pwd)/$(basename "$NODE_BIN")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-XXXXXX")
NODE_PID=""
NGINX_PID=""
SAMPLER_PID=""


cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID" TERM 1
  stop_pid "$NODE_PID" TERM 5
  stop_pid "$NGINX_PID" QUIT 5
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "temp dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
NGINX_URL="http://127.0.0.1:$NGINX_PORT/data.bin"
for ((i = 0; i < 100; i++)); do
  curl -s -o /dev/null -r 0-0 "$NGINX_URL" && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$NGX/error.log" "$NGX/stdout.log" >&2; die "nginx exited"; }
  sleep 0.1
done
curl -s -o /dev/null -r 0-0 "$NGINX_URL" || die "nginx does not answer on port $NGINX_PORT"

time_get() { # url -> seconds; checks status and size
  local out code size t
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$1")
  read -r code size t <<<"$out"
  [[ "$code" == 200 ]] || die "GET $1 returned $code"
  [[ "$size" == "$SIZE_BYTES" ]] || die "GET $1 returned $size bytes, expected $SIZE_BYTES"
  echo "$t"
}

echo "nginx download (port $NGINX_PORT):" >&2
T_NGINX=$(best_of time_get "$NGINX_URL")
stop_pid "$NGINX_PID" QUIT 5
NGINX_PID=""

# --- durable write baseline ---------------------------------------------
time_dd() { # -> seconds to write the file with fsync
  local t0 t1
  t0=$(date +%s.%N)
  dd if="$FILE" of="$WORK/dd.out" bs=4M conv=fsync status=none
  t1=$(date +%s.%N)
  rm -f "$WORK/dd.out"
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}'
}
echo "dd conv=fsync of the same file:" >&2
T_DD=$(best_of time_dd)

# --- cairn-node -----------------------------------------------------------
DATA="$WORK/node-data"
# Room for the dataset plus LMDB overhead; deletes free it between runs.
QUOTA=$((SIZE_BYTES * 3 + 1024 * 1024 * 1024))
"$NODE_BIN" --data-dir "$DATA" --api-bindaddr 127.0.0.1 --api-port 0 \
  --listen-port 0 --disc-port 0 --storage-quota "$QUOTA" --log-level warn \
  >"$WORK/node.stdout" 2>"$WORK/node.stderr" &
NODE_PID=$!
READY=$(wait_ready "$WORK/node.stdout" "$WORK/node.stderr" "$NODE_PID" cairn-node)
BASE=$(sed -n 's/.* api=\(http:\/\/[^ ]*\).*/\1/p' <<<"$READY")
BASE=${BASE%/}
[[ -n "$BASE" ]] || die "cannot parse the ready line: $READY"
echo "cairn-node ready at $BASE (pid $NODE_PID)" >&2

# RSS sampler: "phase VmRSS-kB RssAnon-kB" every 0.2 s while the node lives.
echo idle >"$WORK/phase"
(
  while kill -0 "$NODE_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/{r = $2} /^RssAnon:/{a = $2} END{if (r != "") print r, a + 0}' \
      "/proc/$NODE_PID/status" 2>/dev/null || true)
    [[ -n "$rss" ]] && echo "$(cat "$WORK/phase") $rss"
    sleep 0.2
  done
) >"$WORK/rss.log" 2>/dev/null &
SAMPLER_PID=$!
sleep 0.5 # a few idle samples

CID=""
time_upload() { # -> seconds; sets nothing (CID goes to a file)
  local out code t body
  if [[ -s "$WORK/cid" ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE$API/data/$(cat "$WORK/cid")")
    [[ "$code" == 204 ]] || die "DELETE before re-upload returned $code"
  fi
  out=$(curl -s -o "$WORK/upload.body" -w '%{http_code} %{time_total}' \
    -H 'Content-Type: application/octet-stream' -H 'Expect:' \
    -X POST -T "$FILE" "$BASE$API/data")
  read -r code t <<<"$out"
  body=$(cat "$WORK/upload.body")
  [[ "$code" == 200 ]] || die "upload returned $code: $body"
  [[ "$body" == z* ]] || die "upload returned no CID: $body"
  echo "$body" >"$WORK/cid"
  echo "$t"
}

echo upload >"$WORK/phase"
echo "cairn-node upload:" >&2
T_UP=$(best_of time_upload)
CID=$(cat "$WORK/cid")

echo download >"$WORK/phase"
echo "cairn-node download of $CID:" >&2
T_DOWN=$(best_of time_get "$BASE$API/data/$CID")

echo verify >"$WORK/phase"
SHA_DOWN=$(curl -s "$BASE$API/data/$CID" | sha256sum | awk '{print $1}')
[[ "$SHA_DOWN" == "$SHA_ORIG" ]] || die "sha256 mismatch: downloaded $SHA_DOWN, original $SHA_ORIG"
echo "sha256 of the download matches the original ($SHA_ORIG)" >&2

sleep 0.3
stop_pid "$SAMPLER_PID" TERM 1
SAMPLER_PID=""

max_rss() { # column(2 = VmRSS, 3 = RssAnon) [phase] -> MiB
  awk -v c="$1" -v p="${2:-}" '(p == "" || $1 == p) && $c > m {m = $c} END {printf "%.1f", m / 1024}' "$WORK/rss.log"
}

UP=$(mbps "$SIZE_BYTES" "$T_UP")
DOWN=$(mbps "$SIZE_BYTES" "$T_DOWN")
NGINX=$(mbps "$SIZE_BYTES" "$T_NGINX")
RATIO=$(awk -v a="$T_NGINX" -v b="$T_DOWN" 'BEGIN{printf "%.2f", a / b}')
DISK=$(mbps "$SIZE_BYTES" "$T_DD")
UP_RATIO=$(awk -v a="$T_DD" -v b="$T_UP" 'BEGIN{printf "%.2f", a / b}')

echo
echo "cairn-node HTTP throughput, $SIZE_MB MiB file, best of $RUNS, $(nproc) cores, $(uname -m)"
printf '%-28s %12s\n' "metric" "value"
printf '%-28s %12s\n' "----------------------------" "------------"
printf '%-28s %12s\n' "upload MB/s" "$UP"
printf '%-28s %12s\n' "disk MB/s (dd conv=fsync)" "$DISK"
printf '%-28s %12s\n' "upload/disk ratio" "$UP_RATIO"
printf '%-28s %12s\n' "download MB/s" "$DOWN"
printf '%-28s %12s\n' "nginx MB/s" "$NGINX"
printf '%-28s %12s\n' "download/nginx ratio" "$RATIO"
printf '%-28s %12s\n' "max RSS MiB" "$(max_rss 2)"
printf '%-28s %12s\n' "  idle RSS MiB" "$(max_rss 2 idle)"
printf '%-28s %12s\n' "  max RSS during upload" "$(max_rss 2 upload)"
printf '%-28s %12s\n' "  max RSS during download" "$(max_rss 2 download)"
printf '%-28s %12s\n' "max RssAnon MiB" "$(max_rss 3)"
printf '%-28s %12s\n' "  max RssAnon upload" "$(max_rss 3 upload)"
printf '%-28s %12s\n' "  max RssAnon download" "$(max_rss 3 download)"
printf '%-28s %12s\n' "RSS samples" "$(wc -l <"$WORK/rss.log")"
