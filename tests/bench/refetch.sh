#!/usr/bin/env bash
# refetch.sh — what a downloader's store costs, into a new file and into
# one whose freelist a large delete filled.
#
# What it measures: node A holds a SIZE_MB MiB random file; node B,
# connected to A (no DHT), streams it RUNS times with
# `curl -o /dev/null GET /data/{cid}/network/stream`, and deletes it in
# between. Run 1 writes into B's new LMDB file; each later run reuses the
# pages the delete before it freed. For each run:
#   - seconds (curl) and B's CPU-seconds per GiB (/proc/PID/stat);
#   - MiB B wrote to its store per GiB downloaded (`wchar` of
#     /proc/PID/io: the store's pwrite and writev; the HTTP answer goes out
#     with send, which `wchar` does not count). The blocks alone are
#     1088 MiB per GiB (17 pages of 4 KiB for a 64 KiB value); the rest is
#     B-tree, freelist and meta pages, a price each transaction pays;
#   - B's store transactions: messages `local_store` handled during the
#     run (`GET /api/cairn/v1/actors`), nearly all of them group commits.
# After each run B's copy (GET /data/{cid} on B, not timed) must have the
# original's sha256. Both nodes run with the flags in NODE_FLAGS.
#
# Usage: tests/bench/refetch.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB     file size in MiB (default 1024)
#              RUNS        downloads (default 3)
#              NODE_FLAGS  flags of both nodes (default
#                          --insecure-transport: the store's cost without
#                          the cipher's; set it empty for encrypted sessions)
#              KEEP_TMP    set to 1 to keep the temp dir (logs)
# Needs: curl, python3, sha256sum, awk.

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
NODE_FLAGS=${NODE_FLAGS---insecure-transport}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1

die() { echo "refetch: $*" >&2; exit 1; }

positive_ints SIZE_MB RUNS
bench_start refetch curl python3 sha256sum awk

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
QUOTA=$((SIZE_BYTES * 2 + 1024 * 1024 * 1024))
FILE="$WORK/data.bin"
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
SHA_ORIG=$(sha256sum "$FILE" | awk '{print $1}')
# shellcheck disable=SC2086  # NODE_FLAGS is a list of flags
start_node A $NODE_FLAGS
# shellcheck disable=SC2086
start_node B $NODE_FLAGS
CID=$(upload "$BASE_A" "$FILE")
connect B A

store_messages() { # messages local_store of B handled so far
  curl -s "$BASE_B/api/cairn/v1/actors" | json_get \
    'sum(a["processed"] for a in j["actors"] if a["name"] == "local_store")'
}
written() { awk '$1 == "wchar:" {print $2}' "/proc/$PID_B/io"; }

row() { printf '%-6s %10s %14s %16s %14s\n' "$@"; }
ROWS=()
for ((run = 1; run <= RUNS; run++)); do
  m0=$(store_messages)
  w0=$(written)
  t=$(cpu_run "$WORK/cpu" "$PID_B" -- \
    get_timed "$BASE_B$API/data/$CID/network/stream" "$SIZE_BYTES")
  read -r _ cpu _ < <(tail -n 1 "$WORK/cpu")
  w1=$(written)
  m1=$(store_messages)
  echo "    run $run: ${t}s" >&2
  got=$(curl -s "$BASE_B$API/data/$CID" | sha256sum | awk '{print $1}')
  [[ "$got" == "$SHA_ORIG" ]] || die "run $run: B's copy has sha256 $got, the original $SHA_ORIG"
  ROWS+=("$(row "$run" "$t" \
    "$(awk -v c="$cpu" -v n="$SIZE_BYTES" 'BEGIN{printf "%.2f", c * 1073741824 / n}')" \
    "$(awk -v a="$w0" -v b="$w1" -v n="$SIZE_BYTES" 'BEGIN{printf "%.0f", (b - a) / 1048576 * 1073741824 / n}')" \
    "$((m1 - m0))")")
  delete "$BASE_B" "$CID"
done

echo
echo "cairn-node downloader's store, $SIZE_MB MiB network stream, $RUNS runs (deleted in between), $(nproc) cores"
row "run" "seconds" "B CPU-s/GiB" "MiB written/GiB" "store msgs"
row "------" "----------" "--------------" "----------------" "--------------"
printf '%s\n' "${ROWS[@]}"
