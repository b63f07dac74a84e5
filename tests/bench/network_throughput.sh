#!/usr/bin/env bash
# network_throughput.sh — block-exchange throughput between cairn-nodes on
# loopback.
#
# What it measures (one run, all on 127.0.0.1, nodes connected explicitly
# with GET /api/codex/v1/connect/{peerId}?addrs=...; no DHT):
#   a. raw TCP baseline: SIZE_MB MiB sent over one loopback TCP connection by
#      a python3 sender process to a python3 receiver process (1 MiB sends and
#      recv_into, no disk, no hashing) — the ceiling of "one TCP stream on
#      this machine".
#   b. network download: node A holds a SIZE_MB MiB random file (uploaded with
#      POST /data); node B, connected to A, serves it with
#      `curl -o /dev/null GET /data/{cid}/network/stream`. Every block crosses
#      the peer connection, is verified against the Merkle tree and stored in
#      B's LMDB before it is streamed to curl. Reported as MB/s and as a ratio
#      to (a). Between repetitions the dataset is DELETEd on B so that each
#      run fetches every block again. Afterwards B's local copy
#      (GET /data/{cid} on B) must have the original's sha256 (not timed).
#      VmRSS of A and B is sampled every 0.2 s for the whole run; the maximum
#      (and its anonymous part, RssAnon) per node is reported.
#      Peer sessions are encrypted (Noise, messages/wire/FORMAT.md §1). The
#      same download runs in the same way between two more nodes, P -> Q,
#      started with --insecure-transport: the cost of encryption is the
#      difference of their CPU-seconds per GiB (e), next to what
#      `openssl speed -evp` says one byte of each AEAD costs on this machine.
#   c. time to first byte: a 1 MiB file on A, fetched by B through
#      /network/stream (curl %{time_starttransfer}: manifest fetch over the
#      network + first blocks). Deleted on B between repetitions.
#   d. aggregate: DOWNLOADERS (default 8) more nodes, each connected to A,
#      stream the same DL_MB MiB file (default 128) from A at once; aggregate
#      MB/s = DOWNLOADERS * size / wall time until the last curl finished.
#   e. CPU: CPU-seconds per GiB of the fastest run of (a) (sender and
#      receiver) and of (b) (A, B and curl, from /proc/PID/stat and bash's
#      `time`), encrypted and --insecure-transport, and their ratio; then, if BUILD_DIR has store_bench (configure with
#      -DCAIRN_BUILD_BENCHMARKS=ON), the floor of (b) on this machine: two
#      TCP hops as in (a), plus SHA-256, an LMDB write and an LMDB read of
#      every byte as store_bench measures them; and the ceiling, the MB/s at
#      which that floor alone keeps every core busy, as a ratio to (a); and
#      each node against its own floor: P and Q (in clear) against the
#      seeder's (LMDB read + one hop) and the downloader's (two hops +
#      SHA-256 + LMDB write), A and B (encrypted) against the same plus one
#      ChaCha20-Poly1305 pass over every byte.
# Each timing is repeated RUNS times (default 3) and the best is reported.
# MB/s means 10^6 bytes/s.
#
# Usage: tests/bench/network_throughput.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB      size of (a) and (b) in MiB (default 1024)
#              RUNS         repetitions per timing (default 3)
#              DL_MB        file size of (d) in MiB (default 128)
#              DOWNLOADERS  nodes in (d) (default 8)
#              KEEP_TMP     set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, python3, sha256sum, awk, openssl. Nothing outside a private
# temp dir is touched; every process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
DL_MB=${DL_MB:-128}
DOWNLOADERS=${DOWNLOADERS:-8}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1

die() { echo "network_throughput: $*" >&2; exit 1; }

positive_ints SIZE_MB RUNS DL_MB DOWNLOADERS
bench_start netbench curl python3 sha256sum awk openssl

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
DL_BYTES=$((DL_MB * 1024 * 1024))
# Room for every dataset plus LMDB overhead.
QUOTA=$((SIZE_BYTES * 2 + DL_BYTES * 2 + 1024 * 1024 * 1024))

# --- a. raw loopback TCP ----------------------------------------------------
echo "raw loopback TCP, $SIZE_MB MiB (python3 sender -> receiver):" >&2
T_TCP=$(best_of tcp_hop "$WORK/cpu.tcp")

# --- b. network download A -> B -------------------------------------------
FILE="$WORK/data.bin"
echo "creating $SIZE_MB MiB random file ..." >&2
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
SHA_ORIG=$(sha256sum "$FILE" | awk '{print $1}')

start_node A
start_node B
start_node P --insecure-transport
start_node Q --insecure-transport

start_rss_sampler A B

echo upload >"$WORK/phase"
echo "uploading to A and P ..." >&2
CID=$(upload "$BASE_A" "$FILE")
CID_P=$(upload "$BASE_P" "$FILE")
[[ "$CID_P" == "$CID" ]] || die "P stored the file as $CID_P, A as $CID"
connect B A
connect Q P

time_stream() { # cpu-file seeder downloader cid bytes -> seconds
  local file=$1 seeder="PID_$2" node="BASE_$3" pid="PID_$3"
  cpu_run "$file" "${!seeder}" "${!pid}" -- \
    get_timed "${!node}$API/data/$4/network/stream" "$5"
}
time_stream_fresh() { # cpu-file seeder downloader cid bytes: delete first
  local node="BASE_$3"
  delete "${!node}" "$4"
  time_stream "$@"
}

echo network >"$WORK/phase"
# Alternately, so that both modes meet the same load from the rest of the
# machine.
echo "B streams $SIZE_MB MiB from A through /network/stream (encrypted), and" \
  "Q from P (--insecure-transport):" >&2
T_NET="" T_PLAIN=""
for ((run = 1; run <= RUNS; run++)); do
  t=$(time_stream_fresh "$WORK/cpu.net" A B "$CID" "$SIZE_BYTES")
  echo "    run $run encrypted: ${t}s" >&2
  T_NET=$(awk -v a="$t" -v b="$T_NET" 'BEGIN{print (b == "" || a < b) ? a : b}')
  t=$(time_stream_fresh "$WORK/cpu.plain" P Q "$CID" "$SIZE_BYTES")
  echo "    run $run --insecure-transport: ${t}s" >&2
  T_PLAIN=$(awk -v a="$t" -v b="$T_PLAIN" 'BEGIN{print (b == "" || a < b) ? a : b}')
done
delete "$BASE_Q" "$CID"

echo verify >"$WORK/phase"
SHA_B=$(curl -s "$BASE_B$API/data/$CID" | sha256sum | awk '{print $1}')
[[ "$SHA_B" == "$SHA_ORIG" ]] || die "sha256 mismatch: B's copy $SHA_B, original $SHA_ORIG"
echo "sha256 of B's copy matches the original" >&2
# Free B's (and the page cache's) copy before the next phases.
delete "$BASE_B" "$CID"

# --- c. time to first byte -------------------------------------------------
echo ttfb >"$WORK/phase"
SMALL="$WORK/small.bin"
head -c $((1024 * 1024)) /dev/urandom >"$SMALL"
CID_SMALL=$(upload "$BASE_A" "$SMALL")
time_ttfb() {
  local out code size t
  delete "$BASE_B" "$CID_SMALL"
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_starttransfer}' \
    "$BASE_B$API/data/$CID_SMALL/network/stream")
  read -r code size t <<<"$out"
  [[ "$code" == 200 && "$size" == $((1024 * 1024)) ]] || die "1 MiB network stream: $code, $size bytes"
  echo "$t"
}
echo "time to first byte, 1 MiB over the network:" >&2
T_TTFB=$(best_of time_ttfb)

# --- d. aggregate of DOWNLOADERS nodes ------------------------------------
echo agg-setup >"$WORK/phase"
DLFILE="$WORK/dl.bin"
head -c "$DL_BYTES" /dev/urandom >"$DLFILE"
CID_DL=$(upload "$BASE_A" "$DLFILE")
for ((d = 1; d <= DOWNLOADERS; d++)); do
  start_node "D$d"
  connect "D$d" A
done
time_aggregate() { # -> wall seconds until all DOWNLOADERS streams finished
  local d t0 t1 base pid rc=0 out code size
  CURL_PIDS=()
  for ((d = 1; d <= DOWNLOADERS; d++)); do
    base="BASE_D$d"
    delete "${!base}" "$CID_DL"
  done
  t0=$(now)
  for ((d = 1; d <= DOWNLOADERS; d++)); do
    base="BASE_D$d"
    curl -s -o /dev/null -w '%{http_code} %{size_download}\n' \
      "${!base}$API/data/$CID_DL/network/stream" >"$WORK/agg.$d" &
    CURL_PIDS+=("$!")
  done
  for pid in "${CURL_PIDS[@]}"; do wait "$pid" || rc=1; done
  t1=$(now)
  CURL_PIDS=()
  ((rc == 0)) || die "a curl of the aggregate phase failed"
  for ((d = 1; d <= DOWNLOADERS; d++)); do
    read -r code size <"$WORK/agg.$d" || true
    [[ "$code" == 200 && "$size" == "$DL_BYTES" ]] ||
      die "downloader D$d: status $code, $size bytes (expected $DL_BYTES)"
  done
  elapsed "$t0" "$t1"
}
echo aggregate >"$WORK/phase"
echo "$DOWNLOADERS nodes stream $DL_MB MiB from A at once:" >&2
T_AGG=$(best_of time_aggregate)

stop_rss_sampler

# --- e. CPU cost and its floor --------------------------------------------
# CPU-seconds per GiB of the fastest run of (a) and of (b), and the floor of
# (b): what its unavoidable work costs on this machine, measured apart by
# store_bench (built with -DCAIRN_BUILD_BENCHMARKS=ON). A download moves
# every byte over two TCP hops (A -> B, B -> curl; each costs what (a)
# does), hashes it once (SHA-256 on B), writes it to LMDB (B) and reads it
# from LMDB (A). The ceiling is the throughput at which that floor alone
# keeps every core busy.
read -r TCP_SEND TCP_RECV <<<"$(per_gib "$WORK/cpu.tcp")"
CPU_TCP=$(awk -v s="$TCP_SEND" -v r="$TCP_RECV" 'BEGIN{printf "%.2f", s + r}')
read -r CPU_A CPU_B CPU_CURL <<<"$(per_gib "$WORK/cpu.net")"
read -r CPU_P CPU_Q CPU_QCURL <<<"$(per_gib "$WORK/cpu.plain")"
# One core's CPU-seconds per GiB of each AEAD, from `openssl speed` (16 KiB
# blocks; its figures are in 1000s of bytes per second).
aead_cpu() {
  openssl speed -seconds 3 -bytes 16384 -evp "$1" 2>/dev/null | tail -n 1 |
    awk '{v = $NF; sub(/k$/, "", v); printf "%.2f", 1073741824 / (v * 1000)}'
}
echo "openssl speed -evp chacha20-poly1305 / aes-256-gcm ..." >&2
AEAD_CHACHA=$(aead_cpu chacha20-poly1305)
AEAD_AES=$(aead_cpu aes-256-gcm)
STORE_BENCH="$BUILD_DIR/bin/store_bench"
FLOOR="" CEILING=""
if [[ -x "$STORE_BENCH" ]]; then
  echo floor >"$WORK/phase"
  store_floor "$STORE_BENCH"
  FLOOR=$(awk -v t="$CPU_TCP" -v s="$SHA_CPU" -v p="$PUT_CPU" -v g="$GET_CPU" 'BEGIN{printf "%.2f", 2 * t + s + p + g}')
  CEILING=$(awk -v f="$FLOOR" -v c="$(nproc)" 'BEGIN{printf "%.1f", c / f * 1073741824 / 1e6}')
fi

TCP=$(mbps "$SIZE_BYTES" "$T_TCP")
NET=$(mbps "$SIZE_BYTES" "$T_NET")
PLAIN=$(mbps "$SIZE_BYTES" "$T_PLAIN")
RATIO=$(awk -v a="$T_TCP" -v b="$T_NET" 'BEGIN{printf "%.2f", a / b}')
AGG=$(mbps $((DL_BYTES * DOWNLOADERS)) "$T_AGG")
TTFB_MS=$(awk -v t="$T_TTFB" 'BEGIN{printf "%.1f", t * 1000}')

echo
echo "cairn-node network throughput, $SIZE_MB MiB, best of $RUNS, $(nproc) cores, $(uname -m)"
printf '%-40s %12s\n' "metric" "value"
printf '%-40s %12s\n' "----------------------------------------" "------------"
printf '%-40s %12s\n' "raw loopback TCP MB/s (python3)" "$TCP"
printf '%-40s %12s\n' "network stream A->B MB/s" "$NET"
printf '%-40s %12s\n' "  --insecure-transport P->Q MB/s" "$PLAIN"
printf '%-40s %12s\n' "network/raw TCP ratio" "$RATIO"
printf '%-40s %12s\n' "time to first byte, 1 MiB (ms)" "$TTFB_MS"
printf '%-40s %12s\n' "aggregate $DOWNLOADERS x $DL_MB MiB MB/s" "$AGG"
printf '%-40s %12s\n' "max RSS A (seeder) MiB" "$(max_rss A 3)"
printf '%-40s %12s\n' "  during network stream" "$(max_rss A 3 network)"
printf '%-40s %12s\n' "  during aggregate" "$(max_rss A 3 aggregate)"
printf '%-40s %12s\n' "max RssAnon A MiB" "$(max_rss A 4)"
printf '%-40s %12s\n' "max RssFile A MiB" "$(max_rss A 5)"
printf '%-40s %12s\n' "max RSS B (downloader) MiB" "$(max_rss B 3)"
printf '%-40s %12s\n' "  during network stream" "$(max_rss B 3 network)"
printf '%-40s %12s\n' "max RssAnon B MiB" "$(max_rss B 4)"
printf '%-40s %12s\n' "max RssFile B MiB" "$(max_rss B 5)"
printf '%-40s %12s\n' "RSS samples (A+B)" "$(wc -l <"$WORK/rss.log")"
printf '%-40s %12s\n' "CPU s/GiB raw TCP (sender+receiver)" "$CPU_TCP"
printf '%-40s %12s\n' "CPU s/GiB network stream: A" "$CPU_A"
printf '%-40s %12s\n' "  B" "$CPU_B"
printf '%-40s %12s\n' "  curl" "$CPU_CURL"
printf '%-40s %12s\n' "  total" "$(awk -v a="$CPU_A" -v b="$CPU_B" -v c="$CPU_CURL" 'BEGIN{printf "%.2f", a + b + c}')"
printf '%-40s %12s\n' "CPU s/GiB --insecure-transport: P (A)" "$CPU_P"
printf '%-40s %12s\n' "  Q (B)" "$CPU_Q"
printf '%-40s %12s\n' "  curl" "$CPU_QCURL"
printf '%-40s %12s\n' "encrypted/insecure CPU: seeder A/P" "$(ratio "$CPU_A" "$CPU_P")"
printf '%-40s %12s\n' "  downloader B/Q" "$(ratio "$CPU_B" "$CPU_Q")"
printf '%-40s %12s\n' "CPU s/GiB chacha20-poly1305 (openssl)" "$AEAD_CHACHA"
printf '%-40s %12s\n' "CPU s/GiB aes-256-gcm (openssl)" "$AEAD_AES"
if [[ -n "$FLOOR" ]]; then
  printf '%-40s %12s\n' "CPU s/GiB SHA-256 (store_bench)" "$SHA_CPU"
  printf '%-40s %12s\n' "CPU s/GiB LMDB write (store_bench)" "$PUT_CPU"
  printf '%-40s %12s\n' "CPU s/GiB LMDB read (store_bench)" "$GET_CPU"
  printf '%-40s %12s\n' "floor CPU s/GiB (2 hops+SHA+write+read)" "$FLOOR"
  # Per node: a seeder reads and sends (one hop); a downloader receives,
  # hashes, writes and sends (two hops). The nodes in clear (P, Q) are held
  # to that floor; the encrypted ones (A, B) to it plus one pass of the
  # session's AEAD over every byte (A seals, B opens), which no secure
  # transport can skip.
  FLOOR_A=$(awk -v t="$CPU_TCP" -v g="$GET_CPU" 'BEGIN{printf "%.2f", t + g}')
  FLOOR_B=$(awk -v t="$CPU_TCP" -v s="$SHA_CPU" -v p="$PUT_CPU" 'BEGIN{printf "%.2f", 2 * t + s + p}')
  FLOOR_AE=$(awk -v f="$FLOOR_A" -v c="$AEAD_CHACHA" 'BEGIN{printf "%.2f", f + c}')
  FLOOR_BE=$(awk -v f="$FLOOR_B" -v c="$AEAD_CHACHA" 'BEGIN{printf "%.2f", f + c}')
  printf '%-40s %12s\n' "P / floor (read+hop) $FLOOR_A" "$(ratio "$CPU_P" "$FLOOR_A")"
  printf '%-40s %12s\n' "Q / floor (2 hops+SHA+write) $FLOOR_B" "$(ratio "$CPU_Q" "$FLOOR_B")"
  printf '%-40s %12s\n' "A / floor + AEAD $FLOOR_AE" "$(ratio "$CPU_A" "$FLOOR_AE")"
  printf '%-40s %12s\n' "B / floor + AEAD $FLOOR_BE" "$(ratio "$CPU_B" "$FLOOR_BE")"
  printf '%-40s %12s\n' "ceiling MB/s on $(nproc) cores" "$CEILING"
  printf '%-40s %12s\n' "ceiling/raw TCP ratio" "$(awk -v c="$CEILING" -v t="$TCP" 'BEGIN{printf "%.2f", c / t}')"
  printf '%-40s %12s\n' "network stream/ceiling" "$(awk -v c="$CEILING" -v n="$NET" 'BEGIN{printf "%.2f", n / c}')"
else
  echo "(no $STORE_BENCH: configure with -DCAIRN_BUILD_BENCHMARKS=ON for the floor)"
fi
