#!/usr/bin/env bash
# handoffs.sh — how often a block waits for a thread to wake on a local
# download: context switches and futex calls of one cairn-node per GiB.
#
# What it measures: a SIZE_MB MiB random file is uploaded to a fresh node,
# then GET /api/codex/v1/data/{cid} is run twice into /dev/null:
#   1. under `perf stat -e context-switches,cpu-migrations -p PID`
#      (cheap: the download runs at full speed), and
#   2. under `strace -f -c -e trace=futex -p PID` (slow: the counts matter,
#      not the time), whose futex calls (waits and wakes) are reported.
# Each count is divided by the GiB moved. The code's count of hand-offs per
# block is in tests/bench/README.md, "handoffs.sh".
#
# Usage: tests/bench/handoffs.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB  file size in MiB (default 256)
#              KEEP_TMP set to 1 to keep the temp dir (logs)
# Needs: curl, perf, strace, python3, awk. Run as root, or with
# kernel.perf_event_paranoid <= 1 and ptrace allowed.

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-256}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1

die() { echo "handoffs: $*" >&2; exit 1; }

positive_ints SIZE_MB
bench_start handoffs curl perf strace python3 awk

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
QUOTA=$((SIZE_BYTES * 2 + 1024 * 1024 * 1024))
FILE="$WORK/data.bin"
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
start_node N
CID=$(upload "$BASE_N" "$FILE")
URL="$BASE_N$API/data/$CID"
get_timed "$URL" "$SIZE_BYTES" >/dev/null # warm: the first read pays for faults

# run_traced OUT CMD...: runs CMD attached to the node while one GET runs;
# prints the GET's seconds.
run_traced() {
  local out=$1 pid t
  shift
  "$@" -p "$PID_N" -o "$out" &
  pid=$!
  SERVER_PIDS+=("$pid")
  sleep 1 # attached before the GET starts
  t=$(get_timed "$URL" "$SIZE_BYTES")
  kill -INT "$pid"
  wait "$pid" || true
  echo "$t"
}

T_PERF=$(run_traced "$WORK/perf.txt" perf stat -e context-switches,cpu-migrations)
T_STRACE=$(run_traced "$WORK/strace.txt" strace -f -c -e trace=futex)

GIB=$(awk -v b="$SIZE_BYTES" 'BEGIN{print b / 1073741824}')
BLOCKS=$((SIZE_BYTES / 65536))
count() { awk -v k="$2" '$2 == k {gsub(",", "", $1); print $1}' "$1"; }
CS=$(count "$WORK/perf.txt" context-switches)
MIG=$(count "$WORK/perf.txt" cpu-migrations)
FUTEX=$(awk '$NF == "futex" {print $4}' "$WORK/strace.txt")
[[ -n "$CS" && -n "$FUTEX" ]] || die "no counts (see $WORK/perf.txt, $WORK/strace.txt; KEEP_TMP=1)"

row() { printf '%-44s %12s\n' "$1" "$2"; }
echo
echo "cairn-node local download hand-offs, $SIZE_MB MiB ($BLOCKS blocks), $(nproc) cores"
row "metric" "value"
row "--------------------------------------------" "------------"
row "GET seconds under perf stat" "$T_PERF"
row "context switches per GiB" "$(awk -v n="$CS" -v g="$GIB" 'BEGIN{printf "%.0f", n / g}')"
row "  per block" "$(awk -v n="$CS" -v b="$BLOCKS" 'BEGIN{printf "%.2f", n / b}')"
row "cpu migrations per GiB" "$(awk -v n="$MIG" -v g="$GIB" 'BEGIN{printf "%.0f", n / g}')"
row "GET seconds under strace" "$T_STRACE"
row "futex calls per GiB" "$(awk -v n="$FUTEX" -v g="$GIB" 'BEGIN{printf "%.0f", n / g}')"
row "  per block" "$(awk -v n="$FUTEX" -v b="$BLOCKS" 'BEGIN{printf "%.2f", n / b}')"
