#!/usr/bin/env bash
# first_byte.sh — time to first byte of a network download right after an
# upload on another node.
#
# What it measures (all on 127.0.0.1): node A is started once. Per run:
#   0. a fresh node B joins the DHT through A's signed peer record
#      (`--bootstrap-node`; no TCP connection between them yet: a B that
#      is connected already asks A directly and skips the DHT);
#   1. a fresh random file of SIZE_KB KiB is uploaded to A (POST /data) and
#      the upload is answered;
#   2. at once, B is asked for GET /data/{cid}/network/stream; curl's
#      `time_starttransfer` (seconds from the request to the first byte of
#      the answer) is the figure. It covers B's provider lookup in the DHT
#      (and its retries while A's provider record is not there yet), dialing
#      A, the manifest's round trip (a want-block) and the first data
#      blocks' (want-blocks to the peer that sent the manifest).
# Each run uses a new dataset and a new B. The best, the median and the
# worst of RUNS runs are printed, and every run on stderr.
#
# Usage: tests/bench/first_byte.sh [BUILD_DIR]     (default: build)
# Environment: RUNS      runs (default 5)
#              SIZE_KB   file size in KiB (default 1024)
#              KEEP_TMP  set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, python3, head (/dev/urandom). Nothing outside a private temp
# dir is touched; every process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
RUNS=${RUNS:-5}
SIZE_KB=${SIZE_KB:-1024}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1
QUOTA=1GiB

die() { echo "first_byte: $*" >&2; exit 1; }

positive_ints RUNS SIZE_KB
bench_start firstbyte curl python3

# start NAME [FLAGS...]: starts a node in $WORK/NAME with extra flags; sets
# BASE_<NAME> and PID_<NAME>.
start() {
  local name=$1 dir="$WORK/$1" pid ready base
  shift
  mkdir -p "$dir"
  "$NODE_BIN" --data-dir "$dir/data" --api-bindaddr 127.0.0.1 --api-port 0 \
    --listen-ip 127.0.0.1 --listen-port 0 --disc-port 0 \
    --storage-quota "$QUOTA" --log-level "${LOG_LEVEL:-warn}" "$@" \
    >"$dir/stdout" 2>"$dir/stderr" &
  pid=$!
  NODE_PIDS+=("$pid")
  ready=$(wait_ready "$dir/stdout" "$dir/stderr" "$pid" "node $name")
  base=$(sed -n 's/.* api=\(http:\/\/[^ ]*\).*/\1/p' <<<"$ready")
  [[ -n "$base" ]] || die "cannot parse the ready line of $name: $ready"
  printf -v "BASE_$name" '%s' "${base%/}"
  printf -v "PID_$name" '%s' "$pid"
}

start A
SPR=$(curl -sf -H 'Accept: text/plain' "$BASE_A$API/spr") || die "GET /spr of A failed"
[[ "$SPR" == spr:* ]] || die "A's record is not an spr: $SPR"

times=()
for ((i = 1; i <= RUNS; i++)); do
  start "B$i" --bootstrap-node "$SPR"
  b="BASE_B$i"
  head -c $((SIZE_KB * 1024)) /dev/urandom >"$WORK/file"
  cid=$(upload "$BASE_A" "$WORK/file")
  out=$(curl -s -o "$WORK/got" -w '%{http_code} %{time_starttransfer} %{time_total}' \
    --max-time 60 "${!b}$API/data/$cid/network/stream") || die "download $i failed: $out"
  read -r code ttfb total <<<"$out"
  [[ "$code" == 200 ]] || die "download $i answered $code: $(head -c 200 "$WORK/got")"
  cmp -s "$WORK/file" "$WORK/got" || die "download $i differs from the upload"
  echo "    run $i: first byte ${ttfb}s, whole ${total}s" >&2
  times+=("$ttfb")
  p="PID_B$i"
  stop_pid "${!p}" TERM 5
done
printf '%s\n' "${times[@]}" | sort -g | awk -v kb="$SIZE_KB" '
  {t[NR] = $1}
  END {printf "first byte after upload elsewhere (%d KiB): best %.3f s, median %.3f s, worst %.3f s\n",
         kb, t[1], t[int((NR + 1) / 2)], t[NR]}'
