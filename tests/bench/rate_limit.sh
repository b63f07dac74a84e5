#!/usr/bin/env bash
# rate_limit.sh — how closely --max-upload-rate and --max-download-rate hold
# a network download to their limit.
#
# What it measures (all on 127.0.0.1, nodes connected explicitly with
# GET /api/codex/v1/connect/{peerId}?addrs=...; no DHT):
#   a. upload limit: seeder A runs with --max-upload-rate RATE; B streams a
#      SIZE_MB MiB dataset from it through /data/{cid}/network/stream into
#      curl. The served rate is SIZE / curl's time (manifest fetch and first
#      blocks included).
#   b. download limit: seeder C without a limit; D runs with
#      --max-download-rate RATE and streams the same dataset.
#   c. no limit: E streams the same dataset from C, for the CPU cost of the
#      same work at full speed.
# Each is repeated RUNS times (default 3), the dataset deleted on the
# downloader in between. Every run's MB/s is printed; the table gives the
# median, its deviation from RATE, the waits the limited node's /metrics
# counted, and the CPU-seconds per GiB of the limited node (from
# /proc/PID/stat; unlike MB/s, they do not depend on the machine's load).
# MB/s means 10^6 bytes/s.
#
# Usage: tests/bench/rate_limit.sh [BUILD_DIR]     (default: build)
# Environment: RATE      the limit, as cairn-node takes it (default 50MB)
#              SIZE_MB   dataset size in MiB (default 256)
#              RUNS      repetitions (default 3)
#              KEEP_TMP  set to 1 to keep the temp dir (logs)
# Needs: curl, python3, awk. Nothing outside a private temp dir is touched;
# every process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
RATE=${RATE:-50MB}
SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1

die() { echo "rate_limit: $*" >&2; exit 1; }

positive_ints SIZE_MB RUNS
bench_start ratebench curl python3 awk

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
QUOTA=$((SIZE_BYTES * 2 + 1024 * 1024 * 1024))
RATE_BYTES=$(python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)\s*([kmgt]?i?b?)', sys.argv[1].strip().lower())
f = {'': 1, 'b': 1, 'k': 1e3, 'kb': 1e3, 'kib': 1024, 'm': 1e6, 'mb': 1e6,
     'mib': 1 << 20, 'g': 1e9, 'gb': 1e9, 'gib': 1 << 30}
print(int(float(m.group(1)) * f[m.group(2)]))" "$RATE") ||
  die "RATE '$RATE' is not a size"

FILE="$WORK/data.bin"
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"

metrics_of() { # node -> its /metrics URL
  local base="BASE_$1"
  curl -sf "${!base}$API/debug/info" | json_get 'j["cairn"]["metrics"]'
}
waits_of() { # node direction -> cairn_rate_limit_waits_total{direction}
  curl -sf "$(metrics_of "$1")" |
    awk -v k="cairn_rate_limit_waits_total{direction=\"$2\"}" '$1 == k {print $2}'
}

# run_case LABEL SEEDER DOWNLOADER LIMITED DIRECTION: RUNS timed streams;
# prints "median-MB/s deviation-% waits CPU-s/GiB(seeder)
# CPU-s/GiB(downloader)", waits being those LIMITED counted in DIRECTION
# ("-" without a limit).
run_case() {
  local label=$1 seeder=$2 node=$3 limited=$4 dir=$5 cid run t
  local base="BASE_$node" sbase="BASE_$seeder" spid="PID_$seeder"
  local pid="PID_$node" rates=() median waits=-
  cid=$(upload "${!sbase}" "$FILE")
  connect "$node" "$seeder"
  echo "$label: $node streams $SIZE_MB MiB from $seeder:" >&2
  for ((run = 1; run <= RUNS; run++)); do
    t=$(cpu_run "$WORK/cpu.$label" "${!spid}" "${!pid}" -- \
      get_timed "${!base}$API/data/$cid/network/stream" "$SIZE_BYTES")
    rates+=("$(mbps "$SIZE_BYTES" "$t")")
    echo "    run $run: ${t}s, ${rates[-1]} MB/s" >&2
    delete "${!base}" "$cid"
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  [[ -z "$dir" ]] || waits=$(waits_of "$limited" "$dir")
  echo "$median $(awk -v m="$median" -v r="$RATE_BYTES" 'BEGIN{printf "%+.1f", (m * 1e6 / r - 1) * 100}')" \
    "$waits $(awk -v g="$SIZE_BYTES" '{s += $2; d += $3; n++} END {
      printf "%.2f %.2f", s / n * 1073741824 / g, d / n * 1073741824 / g}' "$WORK/cpu.$label")"
}

start_node A --max-upload-rate "$RATE" --metrics --metrics-port 0
start_node B
start_node C
start_node D --max-download-rate "$RATE" --metrics --metrics-port 0
start_node E

UP=$(run_case upload A B A upload)
DOWN=$(run_case download C D D download)
FREE=$(run_case none C E C "")
read -r UP_MBPS UP_DEV UP_WAITS UP_CPU _ <<<"$UP"
read -r DOWN_MBPS DOWN_DEV DOWN_WAITS _ DOWN_CPU <<<"$DOWN"
read -r FREE_MBPS _ _ FREE_SCPU FREE_DCPU <<<"$FREE"

echo
echo "cairn-node rate limits, $SIZE_MB MiB, limit $RATE ($RATE_BYTES B/s), median of $RUNS, $(nproc) cores, $(uname -m)"
printf '%-44s %12s\n' "metric" "value"
printf '%-44s %12s\n' "--------------------------------------------" "------------"
printf '%-44s %12s\n' "--max-upload-rate: seeder served MB/s" "$UP_MBPS"
printf '%-44s %12s\n' "  deviation from the limit %" "$UP_DEV"
printf '%-44s %12s\n' "  waits on the upload bucket" "$UP_WAITS"
printf '%-44s %12s\n' "  seeder CPU s/GiB" "$UP_CPU"
printf '%-44s %12s\n' "--max-download-rate: downloader MB/s" "$DOWN_MBPS"
printf '%-44s %12s\n' "  deviation from the limit %" "$DOWN_DEV"
printf '%-44s %12s\n' "  waits on the download bucket" "$DOWN_WAITS"
printf '%-44s %12s\n' "  downloader CPU s/GiB" "$DOWN_CPU"
printf '%-44s %12s\n' "no limit: MB/s" "$FREE_MBPS"
printf '%-44s %12s\n' "  seeder CPU s/GiB" "$FREE_SCPU"
printf '%-44s %12s\n' "  downloader CPU s/GiB" "$FREE_DCPU"
