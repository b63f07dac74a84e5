#!/usr/bin/env bash
# ec_throughput.sh — cost of erasure coding on loopback: encoding a dataset,
# and downloading it from a peer with and without lost blocks.
#
# What it measures (one run, all on 127.0.0.1, node B connected to node A
# explicitly with GET /api/codex/v1/connect/{peerId}?addrs=...; no DHT):
#   a. protect: A holds a SIZE_MB MiB random file (POST /data → CID U);
#      POST /api/cairn/v1/data/{U}/protect?ecK=K&ecM=M encodes it into a
#      protected dataset P (tree T: K data + M parity blocks per step).
#      Reported as SIZE / wall time of that request.
#   b. baseline: A also holds a second random file of the same size
#      (CID D, unprotected, blocks of its own); B streams it with
#      `curl -o /dev/null GET /data/{D}/network/stream`, every block crossing
#      the peer connection. Deleted on B before every repetition.
#   c. protected, no losses: the same for P (only P's data blocks are
#      fetched), each repetition right after one of (b) (pairs, so that both
#      sides of the ratio see the same moments of this shared machine).
#      Reported as MB/s and as a ratio to the best of its paired baselines.
#   d. protected, M losses in every step: U is DELETEd on A (so only T holds
#      the blocks), then DELETE /api/cairn/v1/blocks/{T}/{index} removes the
#      M DATA shards of every step on A (PATTERN; Codex's stepped layout: data
#      shard j of step s is leaf s + j*steps, parity j is rounded + s +
#      j*steps) — the worst case, every lost block has to be rebuilt from
#      the K survivors of its step. B streams P as in (c), again in pairs
#      with (b); reported as MB/s, ratio to the best of its paired baselines
#      (goal >= 0.60) and blocksRepaired of B's newest download entry for P
#      (GET /api/cairn/v1/downloads).
#   After (b), (c) and (d) B's local copy (GET /data/{cid} on B) must have the
#   original's sha256 (once each, not timed). VmRSS of A and B is sampled
#   every 0.2 s for the whole run; the maximum per node is reported.
# Each download is repeated RUNS times (default 3) and the best is reported
# (the baseline 2 x RUNS times, RUNS in each pairing);
# a download that takes longer than MAX_TIME seconds fails the run.
# MB/s means 10^6 bytes/s.
#
# Usage: tests/bench/ec_throughput.sh [BUILD_DIR]     (default: build)
# Environment: SIZE_MB   dataset size in MiB (default 256)
#              RUNS      repetitions per download (default 3)
#              K, M      data and parity blocks per step (default 4, 2;
#                        K + M <= 256, M <= K)
#              PATTERN   which M data shards of each step are lost: "first"
#                        (shards 0..M-1, so the first M/K of the data is
#                        gone as one run; default) or "rotating" (shards
#                        s, s+1, ... mod K in step s: losses spread evenly)
#              MAX_TIME  curl --max-time of each download, s (default 600)
#              KEEP_TMP  set to 1 to keep the temp dir (logs) for inspection
# Needs: curl, python3, sha256sum, awk. Nothing outside a private temp dir is
# touched; every process started here is stopped on exit (trap).

set -Eeuo pipefail
shopt -s inherit_errexit

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${1:-build}
SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
K=${K:-4}
M=${M:-2}
PATTERN=${PATTERN:-first}
MAX_TIME=${MAX_TIME:-600}
NODE_BIN="$BUILD_DIR/bin/cairn-node"
API=/api/codex/v1
CAPI=/api/cairn/v1
BLOCK=65536
DELETERS=4

die() { echo "ec_throughput: $*" >&2; exit 1; }

positive_ints SIZE_MB RUNS K M MAX_TIME
((K + M <= 256)) || die "K + M must be at most 256 (got $K + $M)"
((M <= K)) || die "M must be at most K (M data shards per step are deleted)"
[[ "$PATTERN" == first || "$PATTERN" == rotating ]] || die "PATTERN must be first or rotating"
bench_start ecbench curl python3 sha256sum awk

# die_logs REASON: dies after showing the tails of both nodes' stderr.
die_logs() {
  local n
  for n in A B; do
    [[ -f "$WORK/$n/stderr" ]] || continue
    [[ -s "$WORK/$n/stderr" ]] || { echo "--- node $n's stderr is empty" >&2; continue; }
    echo "--- tail of node $n's stderr ($WORK/$n/stderr):" >&2
    tail -n 20 "$WORK/$n/stderr" >&2
  done
  die "$*"
}

SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
BLOCKS=$(((SIZE_BYTES + BLOCK - 1) / BLOCK))
STEPS=$(((BLOCKS + K - 1) / K))
ROUNDED=$((STEPS * K))
# 8 GiB, or more if the datasets (U, P with parity, B's copy) need it.
QUOTA=$((8 * 1024 * 1024 * 1024))
((SIZE_BYTES * 4 + (1 << 30) <= QUOTA)) || QUOTA=$((SIZE_BYTES * 4 + (1 << 30)))

# time_stream_fresh BASE CID: deletes CID on that node, then streams it
# through /network/stream; prints the seconds.
time_stream_fresh() {
  local out rc=0 code size t
  delete "$1" "$2"
  out=$(curl -s --max-time "$MAX_TIME" -o /dev/null \
    -w '%{http_code} %{size_download} %{time_total}' \
    "$1$API/data/$2/network/stream") || rc=$?
  read -r code size t <<<"$out"
  ((rc == 0)) ||
    die_logs "network stream of $2 from $1: curl exit $rc after ${t:-?} s, status ${code:-?}, $size of $SIZE_BYTES bytes"
  [[ "$code" == 200 ]] || die_logs "network stream of $2 from $1 returned $code"
  [[ "$size" == "$SIZE_BYTES" ]] ||
    die_logs "network stream of $2 from $1 gave $size bytes, expected $SIZE_BYTES"
  echo "$t"
}

check_sha() { # base cid what [sha]
  local sha
  sha=$(curl -s --max-time "$MAX_TIME" "$1$API/data/$2" | sha256sum | awk '{print $1}')
  [[ "$sha" == "${4:-$SHA_ORIG}" ]] || die_logs "sha256 mismatch ($3): B's copy $sha, original ${4:-$SHA_ORIG}"
  echo "sha256 of B's copy ($3) matches the original" >&2
}

# paired CID PHASE: RUNS pairs of downloads on B, the baseline dataset D
# then CID (labelled PHASE in the RSS log); sets PAIR_BASE and PAIR_OTHER to
# the best seconds of each side. B holds one of them at a time: a store
# that has to grow its file is slower (on this VM, much slower: memory it
# has not touched yet), and the ratio is about the downloads.
paired() {
  local i tb to
  PAIR_BASE="" PAIR_OTHER=""
  for ((i = 1; i <= RUNS; i++)); do
    echo baseline >"$WORK/phase"
    delete "$BASE_B" "$1"
    tb=$(time_stream_fresh "$BASE_B" "$CID_D")
    ((i > 1)) || check_sha "$BASE_B" "$CID_D" "unprotected" "$SHA_D"
    echo "$2" >"$WORK/phase"
    delete "$BASE_B" "$CID_D"
    to=$(time_stream_fresh "$BASE_B" "$1")
    echo "    run $i: baseline ${tb}s, $2 ${to}s" >&2
    PAIR_BASE=$(awk -v a="$tb" -v b="$PAIR_BASE" 'BEGIN{print (b == "" || a < b) ? a : b}')
    PAIR_OTHER=$(awk -v a="$to" -v b="$PAIR_OTHER" 'BEGIN{print (b == "" || a < b) ? a : b}')
  done
}

FILE="$WORK/data.bin"
FILE_D="$WORK/baseline.bin"
echo "creating two $SIZE_MB MiB random files ..." >&2
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
head -c "$SIZE_BYTES" /dev/urandom >"$FILE_D"
SHA_ORIG=$(sha256sum "$FILE" | awk '{print $1}')
SHA_D=$(sha256sum "$FILE_D" | awk '{print $1}')

start_node A
start_node B

start_rss_sampler A B

echo upload >"$WORK/phase"
echo "uploading $SIZE_MB MiB to A ..." >&2
CID_U=$(upload "$BASE_A" "$FILE")
CID_D=$(upload "$BASE_A" "$FILE_D")
connect B A

# --- a. protect -------------------------------------------------------------
echo protect >"$WORK/phase"
echo "protecting $CID_U on A (K=$K, M=$M) ..." >&2
# An empty body, sent with Content-Length: 0 (the API answers a bare POST
# without Content-Length with an empty 400).
rc=0
out=$(curl -s --max-time "$MAX_TIME" -o "$WORK/protect.body" \
  -w '%{http_code} %{time_total}' --data-binary '' \
  "$BASE_A$CAPI/data/$CID_U/protect?ecK=$K&ecM=$M") || rc=$?
read -r code T_PROTECT <<<"$out"
((rc == 0)) || die_logs "protect: curl exit $rc after ${T_PROTECT:-?} s"
[[ "$code" == 200 ]] || die "protect returned $code: $(cat "$WORK/protect.body")"
CID_P=$(json_get 'j["cid"]' <"$WORK/protect.body")
TREE_P=$(json_get 'j["manifest"]["treeCid"]' <"$WORK/protect.body")
[[ "$CID_P" == z* && "$TREE_P" == z* ]] || die "protect answered $(cat "$WORK/protect.body")"
# The leaf indices below assume the stepped layout of ROUNDED data leaves
# (padding included) followed by STEPS * M parity leaves.
P_SIZE=$(json_get 'j["manifest"]["datasetSize"]' <"$WORK/protect.body")
((P_SIZE == (ROUNDED + STEPS * M) * BLOCK)) ||
  die "protected dataset has $P_SIZE bytes, expected $(((ROUNDED + STEPS * M) * BLOCK)) for the stepped layout"
echo "  protected CID $CID_P, tree $TREE_P (${T_PROTECT}s)" >&2

# --- b, c. baseline and protected without losses, in pairs --------------------
echo "B streams $SIZE_MB MiB from A, unprotected (baseline) then protected without losses:" >&2
paired "$CID_P" protected
T_BASE_C=$PAIR_BASE
T_PROT=$PAIR_OTHER
check_sha "$BASE_B" "$CID_P" "protected, no losses"
delete "$BASE_B" "$CID_P"

# --- d. protected, M data shards lost in every step ----------------------------
echo delete-leaves >"$WORK/phase"
delete "$BASE_A" "$CID_U"
# Leaf indices of data shards 0..M-1 of every step, except padding (leaves
# >= BLOCKS are all-zero and never stored), dealt round-robin into DELETERS
# curl config files; each curl runs its URLs one after the other (the API
# closes a connection after each answer).
awk -v steps="$STEPS" -v m="$M" -v k="$K" -v pattern="$PATTERN" \
  -v blocks="$BLOCKS" -v n="$DELETERS" \
  -v url="$BASE_A$CAPI/blocks/$TREE_P/" -v dir="$WORK" 'BEGIN {
    c = 0
    for (s = 0; s < steps; s++)
      for (j = 0; j < m; j++) {
        sh = pattern == "rotating" ? (s + j) % k : j
        i = s + sh * steps
        if (i >= blocks) continue
        f = dir "/del." (c++ % n)
        printf "url = \"%s%d\"\noutput = \"/dev/null\"\n", url, i > f
      }
    print c > (dir "/del.count")
  }'
LOST=$(cat "$WORK/del.count")
((LOST > 0)) || die "no data leaves to delete"
echo "deleting $LOST data leaves of $TREE_P on A ($M per step, $STEPS steps) ..." >&2
t0=$(date +%s.%N)
CURL_PIDS=()
for ((d = 0; d < DELETERS; d++)); do
  [[ -s "$WORK/del.$d" ]] || continue
  curl -s -X DELETE -w '%{http_code}\n' -K "$WORK/del.$d" >"$WORK/del.$d.codes" &
  CURL_PIDS+=("$!")
done
rc=0
for pid in "${CURL_PIDS[@]}"; do wait "$pid" || rc=1; done
CURL_PIDS=()
t1=$(date +%s.%N)
((rc == 0)) || die_logs "a curl deleting leaves failed"
DELETED=$(cat "$WORK"/del.*.codes | grep -c '^204$' || true)
((DELETED == LOST)) ||
  die_logs "deleting leaves: $DELETED of $LOST answered 204 (codes: $(cat "$WORK"/del.*.codes | sort | uniq -c | tr -s ' \n' ' '))"
echo "  $DELETED leaves deleted in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s" >&2

echo "B streams $SIZE_MB MiB from A, unprotected (baseline) then protected with $M of $K data blocks lost per step:" >&2
paired "$CID_P" lossy
T_BASE_D=$PAIR_BASE
T_LOSS=$PAIR_OTHER
curl -s "$BASE_B$CAPI/downloads" >"$WORK/downloads.json" || die "GET /downloads on B failed"
read -r REPAIRED DL_STATE < <(python3 -c '
import json, sys
d = [x for x in json.load(open(sys.argv[1]))["downloads"]
     if x["cid"] == sys.argv[2] and x["kind"] == "stream"]
print(d[-1]["blocksRepaired"], d[-1]["state"]) if d else print("? none")
' "$WORK/downloads.json" "$CID_P")
echo "  newest download of P on B: state $DL_STATE, blocksRepaired $REPAIRED (lost: $LOST)" >&2
check_sha "$BASE_B" "$CID_P" "protected, $M losses per step"

stop_rss_sampler

T_BASE=$(awk -v a="$T_BASE_C" -v b="$T_BASE_D" 'BEGIN{print (a < b) ? a : b}')
BASE=$(mbps "$SIZE_BYTES" "$T_BASE")
PROT=$(mbps "$SIZE_BYTES" "$T_PROT")
LOSS=$(mbps "$SIZE_BYTES" "$T_LOSS")
R_PROT=$(ratio "$T_BASE_C" "$T_PROT")
R_LOSS=$(ratio "$T_BASE_D" "$T_LOSS")
GOAL=$(awk -v r="$R_LOSS" 'BEGIN{print (r >= 0.60) ? "met" : "MISSED"}')

echo
echo "cairn-node erasure-coding throughput, $SIZE_MB MiB ($BLOCKS blocks, $STEPS steps), K=$K M=$M, best of $RUNS, $(nproc) cores, $(uname -m)"
printf '%-44s %12s\n' "metric" "value"
printf '%-44s %12s\n' "--------------------------------------------" "------------"
printf '%-44s %12s\n' "protect (encode on A) MB/s" "$(mbps "$SIZE_BYTES" "$T_PROTECT")"
printf '%-44s %12s\n' "baseline stream A->B (unprotected) MB/s" "$BASE"
printf '%-44s %12s\n' "protected, no losses MB/s" "$PROT"
printf '%-44s %12s\n' "  paired baseline MB/s" "$(mbps "$SIZE_BYTES" "$T_BASE_C")"
printf '%-44s %12s\n' "  ratio to baseline" "$R_PROT"
printf '%-44s %12s\n' "protected, $M losses/step MB/s" "$LOSS"
printf '%-44s %12s\n' "  paired baseline MB/s" "$(mbps "$SIZE_BYTES" "$T_BASE_D")"
printf '%-44s %12s\n' "  ratio to baseline (goal >= 0.60: $GOAL)" "$R_LOSS"
printf '%-44s %12s\n' "blocks lost on A / repaired by B (last run)" "$LOST / $REPAIRED"
printf '%-44s %12s\n' "max RSS B (downloader) MiB" "$(max_rss B 3)"
printf '%-44s %12s\n' "  during baseline" "$(max_rss B 3 baseline)"
printf '%-44s %12s\n' "  during protected, no losses" "$(max_rss B 3 protected)"
printf '%-44s %12s\n' "  during protected, $M losses/step" "$(max_rss B 3 lossy)"
printf '%-44s %12s\n' "max RSS A (seeder) MiB" "$(max_rss A 3)"
printf '%-44s %12s\n' "  during protect" "$(max_rss A 3 protect)"
printf '%-44s %12s\n' "RSS samples (A+B)" "$(wc -l <"$WORK/rss.log")"
