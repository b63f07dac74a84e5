#!/usr/bin/env bash
# latency.sh — a network download over a long link (--link-latency) against
# the same download at 0 ms.
#
# What it measures (all on 127.0.0.1, two cairn-node processes connected
# with GET /connect/{peerId}?addrs=...; no DHT): node A holds a SIZE_MB MiB
# random file (default 256); node B streams it with
# `curl -o /dev/null GET /data/{cid}/network/stream`, every block verified
# and stored in B's LMDB. Both nodes run with `--link-latency L` for each L
# of LATENCIES (one-way milliseconds, default "0 10 50 100"), so the round
# trip is 2 L. For each run both nodes are restarted with that latency on
# their stores (the dataset stays on A; B deletes its copy first). Runs go
# round the latencies RUNS times (default 3), so that each latency meets the
# same load from the rest of the machine; the best of each is reported, as
# MB/s, as a ratio to the 0 ms figure (the first of LATENCIES), as the
# median (and range) of the ratios within each round ("paired ratio": a
# run against the 0 ms run next to it in time, steadier when the machine's
# speed drifts between rounds), with the
# CPU-seconds per GiB of A, B and curl in that run (/proc/PID/stat and
# bash's `time`), and the peak RssAnon of A and B (sampled every 0.2 s).
# The fixed round trips of a download (the manifest's want-block, then
# the first leaves' want-blocks: two round trips) are reported apart: the
# time to first byte (curl's time_starttransfer) of that run, and the MB/s
# after it (size over total less first byte), ramp-up included, with its
# ratio to 0 ms. The peers are connected before the clock starts (no dial,
# no handshake).
# After the last run of each latency B's local copy (GET /data/{cid} on B)
# must have the original's sha256 (not timed).
# MB/s means 10^6 bytes/s. Goal (issue 18): at 50 ms, at least 0.8 of the
# 0 ms throughput.
#
# Usage: tests/bench/latency.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB    file size in MiB (default 256)
#              RUNS       rounds over the latencies (default 3)
#              LATENCIES  one-way latencies in ms (default "0 10 50 100")
#              NODE_FLAGS more cairn-node flags for both nodes (e.g.
#                         "--stream-window 1024"; default none)
#              WARM       set to 1 to time the second download of each pair
#                         of nodes (an untimed one first, then deleted): a
#                         node that has served before, its buffers grown
#              KEEP_TMP   set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, python3, sha256sum, awk. Nothing outside a private temp dir is
# touched; every process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
LATENCIES=${LATENCIES:-0 10 50 100}
WARM=${WARM:-0}
read -r -a NODE_FLAGS <<<"${NODE_FLAGS:-}"
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1

die() { echo "latency: $*" >&2; exit 1; }

positive_ints SIZE_MB RUNS
read -r -a LATS <<<"$LATENCIES"
((${#LATS[@]} > 0)) || die "LATENCIES is empty"
for l in "${LATS[@]}"; do
  [[ "$l" =~ ^[0-9]+$ ]] || die "LATENCIES: '$l' is not a whole number of ms"
done
bench_start latency curl python3 sha256sum awk

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
QUOTA=$((SIZE_BYTES * 3 + 1024 * 1024 * 1024))

FILE="$WORK/data.bin"
echo "creating $SIZE_MB MiB random file ..." >&2
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
SHA_ORIG=$(sha256sum "$FILE" | awk '{print $1}')

start_node A
CID=$(upload "$BASE_A" "$FILE")
rm -f "$FILE"
stop_pid "$PID_A" TERM 10
: >"$WORK/rss.all"

# get_timed_ttfb URL BYTES: get_timed, and curl's time to first byte of
# the same GET in $WORK/ttfb.out.
get_timed_ttfb() {
  local out code size t ttfb
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}' "$1")
  read -r code size t ttfb <<<"$out"
  [[ "$code" == 200 ]] || die "GET $1 returned $code"
  [[ "$size" == "$2" ]] || die "GET $1 gave $size bytes, expected $2"
  echo "$ttfb" >"$WORK/ttfb.out"
  echo "$t"
}

# run_once L VERIFY: starts A and B with --link-latency L ms on their
# stores, streams the file A -> B, appends "seconds cpuA cpuB cpuCurl" to
# $WORK/cpu.L and the RSS samples (phase L) to rss.all, checks B's copy if
# VERIFY is 1, stops both; sets RUN_T to the seconds. Runs in this shell,
# not a subshell, so that the EXIT trap knows every node it started.
run_once() {
  local l=$1 t
  start_node A --link-latency "${l}ms" "${NODE_FLAGS[@]}"
  start_node B --link-latency "${l}ms" "${NODE_FLAGS[@]}"
  connect B A
  # B's copy from the run before (none the first time: 404).
  curl -s -o /dev/null -X DELETE "$BASE_B$API/data/$CID"
  if [[ "$WARM" == 1 ]]; then
    curl -s -o /dev/null "$BASE_B$API/data/$CID/network/stream"
    curl -s -o /dev/null -X DELETE "$BASE_B$API/data/$CID"
  fi
  start_rss_sampler A B
  echo "L$l" >"$WORK/phase"
  t=$(cpu_run "$WORK/cpu.$l" "$PID_A" "$PID_B" -- \
    get_timed_ttfb "$BASE_B$API/data/$CID/network/stream" "$SIZE_BYTES")
  stop_rss_sampler
  cat "$WORK/rss.log" >>"$WORK/rss.all"
  if [[ "$2" == 1 ]]; then
    local sha
    sha=$(curl -s "$BASE_B$API/data/$CID" | sha256sum | awk '{print $1}')
    [[ "$sha" == "$SHA_ORIG" ]] ||
      die "at ${l} ms, B's copy has sha256 $sha, the original $SHA_ORIG"
    echo "    sha256 of B's copy matches the original" >&2
  fi
  stop_pid "$PID_A" TERM 10
  stop_pid "$PID_B" TERM 10
  RUN_T=$t
  RUN_TTFB=$(cat "$WORK/ttfb.out")
}

declare -A BEST TTFB ALL
for ((run = 1; run <= RUNS; run++)); do
  for l in "${LATS[@]}"; do
    run_once "$l" $((run == RUNS))
    t=$RUN_T
    ALL[$run,$l]=$t
    echo "    run $run, ${l} ms one-way: ${t}s, first byte after ${RUN_TTFB}s" >&2
    if [[ -z "${BEST[$l]:-}" ]] || awk -v a="$t" -v b="${BEST[$l]}" 'BEGIN{exit !(a < b)}'; then
      BEST[$l]=$t
      TTFB[$l]=$RUN_TTFB
    fi
  done
done

peak_anon() { # node latency -> MiB
  awk -v n="$1" -v p="L$2" '$2 == n && $1 == p && $4 > m {m = $4} END {printf "%.0f", m / 1024}' "$WORK/rss.all"
}

after_first() { # latency -> seconds after the first byte
  awk -v t="${BEST[$1]}" -v f="${TTFB[$1]}" 'BEGIN{printf "%.6f", t - f}'
}

# paired L -> "median (min-max)" of the ratios of each round's first
# latency to its L: each run against the one next to it in time, which met
# the same load from the rest of the machine (best-of figures of different
# rounds do not).
paired() {
  local run
  for ((run = 1; run <= RUNS; run++)); do
    awk -v a="${ALL[$run,${LATS[0]}]}" -v b="${ALL[$run,$1]}" 'BEGIN{printf "%.4f\n", a / b}'
  done | sort -n | awk '{r[NR] = $1} END {
    m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
    printf "%.2f (%.2f-%.2f)", m, r[1], r[NR]}'
}

BASE_T=${BEST[${LATS[0]}]}
BASE_AFTER=$(after_first "${LATS[0]}")
echo
echo "cairn-node download over a long link, $SIZE_MB MiB, best of $RUNS, $(nproc) cores, $(uname -m)${NODE_FLAGS[*]:+, nodes with ${NODE_FLAGS[*]}}$([[ $WARM == 1 ]] && echo ", second download of each pair")"
echo "(whole download; first byte = the fixed round trips; after it: MB/s and ratio from the first byte on)"
printf '%-8s %7s %8s %6s %17s %11s %8s %6s %20s %14s\n' "one-way" "RTT" "MB/s" "ratio" "paired ratio" "first byte" "after" "ratio" "CPU s/GiB A/B/curl" "RssAnon A/B"
for l in "${LATS[@]}"; do
  t=${BEST[$l]}
  after=$(after_first "$l")
  read -r ca cb cc <<<"$(per_gib "$WORK/cpu.$l")"
  printf '%-8s %7s %8s %6s %17s %11s %8s %6s %20s %14s\n' "${l} ms" "$((2 * l)) ms" \
    "$(mbps "$SIZE_BYTES" "$t")" "$(ratio "$BASE_T" "$t")" "$(paired "$l")" \
    "$(awk -v f="${TTFB[$l]}" 'BEGIN{printf "%.0f ms", f * 1000}')" \
    "$(mbps "$SIZE_BYTES" "$after")" "$(ratio "$BASE_AFTER" "$after")" \
    "$ca / $cb / $cc" "$(peak_anon A "$l") / $(peak_anon B "$l") MiB"
done
