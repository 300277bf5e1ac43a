#!/usr/bin/env bash
# The figures of the NVMe peer benchmark from one run's raw log (benchmarks/vm/run-nvme-bench.sh):
#
#   figures.sh EVENTS_TLOG OUT_JSON OUT_TSV OUT_SVG RUN_TEXT
#
# Reads the guest's JSON lines (agent nvme-bench and nvme-kbench: lat, iops, removal-done, buckets, mark), the
# host's marker sends, their echoes ("ack") and QEMU's DEVICE_DELETED events; writes OUT_JSON (every figure,
# both sides, ratio ours / kernel), OUT_TSV (completed reads per ms, both sides, time from each side's device_del
# marker) and OUT_SVG (gnuplot); prints the table on stdout.
set -euo pipefail
LOGF=$1 OUT=$2 TSV=$3 SVG=$4 RUNTXT=$5
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
J=$(mktemp)
trap 'rm -f "$J" "$J.rows"' EXIT

# The guest's JSON lines (a line mangled by kernel messages on the console is skipped), plus host-side facts.
grep -a ' con {' "$LOGF" | sed 's/^[0-9.]* con //' | jq -cR 'fromjson? | select(type == "object" and .t != null)' >"$J"
awk '$2 == "host" && $3 == "sent" { k = $0; sub(/^[^ ]+ host sent /, "", k); sent[k] = $1;
         printf "{\"t\":\"sent\",\"text\":\"%s\",\"host\":%s}\n", k, $1 }
     $2 == "mk" && $3 == "ack" { k = $0; sub(/^[^ ]+ mk ack /, "", k);
         if (k in sent) printf "{\"t\":\"rtt\",\"text\":\"%s\",\"rtt_ms\":%.3f}\n", k, ($1 - sent[k]) * 1000 }
     $2 == "qmp" && /"DEVICE_DELETED"/ && /"nvme1"/ { printf "{\"t\":\"deleted\",\"host\":%s}\n", $1 }' "$LOGF" >>"$J"

jq -s --arg run "$RUNTXT" -f "$HERE/figures.jq" "$J" >"$OUT"

# Per-ms completions: "side rel_ms count", then one dense row per ms (missing = 0).
jq -r -s --slurpfile res "$OUT" '
  .[] | select(.t == "buckets") | . as $b
  | ($b.c | split(",")[] | split(":")) as [$i, $n]
  | "\($b.side) \((($b.ms0 + ($i | tonumber) - $res[0].sides[$b.side].del_ms) | floor)) \($n)"' "$J" >"$J.rows"
{
    printf 'ms_from_device_del\tours\tkernel\n'
    awk '{ c[$1, $2] += $3; if (!seen || $2 < lo) lo = $2; if (!seen || $2 > hi) hi = $2; seen = 1 }
         END { if (lo < -300) lo = -300; for (t = lo; t <= hi; t++) printf "%d\t%d\t%d\n", t, c["ours", t], c["kernel", t] }' "$J.rows"
} >"$TSV"

# The plot: two panels (ours, kernel) on one time axis; device_add and the first failed / successful read marked.
if ! command -v gnuplot >/dev/null; then
    echo "figures: installing gnuplot-nox" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >&2 || { echo "figures: no gnuplot: no plot" >&2; exit 0; }
fi
mkdir -p "$(dirname "$SVG")"
val() { jq -r "$1" "$OUT"; }
gnuplot -e "tsv='$TSV'; svg='$SVG'; \
  add_o=$(val '.sides.ours.add_rel_ms // 0'); add_k=$(val '.sides.kernel.add_rel_ms // 0'); \
  err_o=$(val '.sides.ours.outage_del_ms // 0'); err_k=$(val '.sides.kernel.outage_del_ms // 0'); \
  ok_o=$(val '.sides.ours.first_ok_rel_ms // 0'); ok_k=$(val '.sides.kernel.first_ok_rel_ms // 0'); \
  qd=$(val '.qd'); aerr=$(val '.anchor_error_ms // 0'); run='$(val '.run_short')'" "$HERE/plot.gp"
echo "figures: plot $SVG" >&2

jq -r '"\nNVMe peer benchmark (\(.run))\n"' "$OUT"
jq -r '(["figure", "ours", "kernel", "ours/kernel"] | @tsv),
  (.figures[] | [.name, (.ours // "-" | tostring), (.kernel // "-" | tostring), (.ratio // "-" | tostring)] | @tsv)' "$OUT" \
    | column -t -s $'\t'
jq -r '"\nanchor (device_del / device_add on the guest clock): \(.anchor_methods | join(", ")), error at most +/- \(.anchor_error_ms) ms; marker stamp lag behind it, ms: ours \(.sides.ours.marker_stamp_lag_ms | tostring), kernel \(.sides.kernel.marker_stamp_lag_ms | tostring)",
  "marker-port round trips (host write -> guest stamp -> echo back), ms: pings \(.marker_rtt_ms.pings | length) from \(.marker_rtt_ms.pings | min) to \(.marker_rtt_ms.pings | max), markers \(.marker_rtt_ms.markers | tostring)"' "$OUT"
