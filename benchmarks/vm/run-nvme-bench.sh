#!/usr/bin/env bash
# NVMe peer benchmark (issue 13 item 4): our NVMe driver (Hotplug.Nvme over vfio-pci, the agent's nvme-bench
# scenario) against the kernel's nvme driver (nvme-kbench on /dev/nvme0n1, O_DIRECT, Linux AIO) on the same QEMU
# NVMe controller, in the same guest boot, through the same QMP device_del / device_add.
#
#   benchmarks/vm/run-nvme-bench.sh [OUT_JSON] [--qd N] [--latn N] [--iops-ms MS] [--post-ms MS] [--sides LIST]
#                                   [--add-after-ms MS] [--errno-wait-ms MS] [--plot SVG] [--keep]
#
# Defaults: artifacts/bench/nvme-results.json, QD 32, 2000 QD1 reads, 3000 ms of QD reads, 500 ms after the first
# successful read, sides "kernel,ours", device_add 1000 ms after DEVICE_DELETED, plot docs/img/nvme-removal.svg.
# --errno-wait-ms: the kernel side keeps reading the removed disk that long for an errno before it closes it
# (default 0: 2000 made the guest kernel oops on the close, see docs/benchmarks.md).
# Prints the figures table (ours, kernel, ratio) on stdout; also writes OUT_JSON, the per-ms data
# (artifacts/bench/nvme-removal.tsv) and the plot (gnuplot; gnuplot-nox is installed if missing).
#
# The anchor: device_del / device_add are placed on the guest's CLOCK_MONOTONIC (the clock both sides stamp
# their I/O with) through the guest-minus-host clock offset. The host writes lines to the guest's second serial
# port (ttyS1): a ping every ~200 ms, and a marker just before each QMP device_del / device_add; nvme-kbench's
# stamp reader (SCHED_FIFO) stamps each on the guest's clock and echoes it back. Each stamp lies between the
# host's write and the echo's arrival, so each line bounds the offset to an interval; figures.jq intersects those
# sent within 5 s of each QMP command and maps the command's send time through the middle: half the width is
# the anchor's error bound (reported). Every console / QMP / marker-port line is stamped on arrival with the host's clock (bash
# $EPOCHREALTIME) in the raw log.
#
# Needs qemu-system-x86 (TCG), root (apt-get, build-image.sh), the .NET 10 SDK, jq. Writes only under the
# ignored cache (.vm-cache/nvme-bench-runs/), artifacts/bench/ and the plot. The guest does all binding;
# nothing here touches the host's PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
OUT=$ROOT/artifacts/bench/nvme-results.json
PLOT=$ROOT/docs/img/nvme-removal.svg
QD=32 LATN=2000 IOPSMS=3000 POSTMS=500 SIDES=kernel,ours ADD_AFTER_MS=1000 ERRNOWAIT=0 KEEP=0
TOTAL_TIMEOUT=${HP_NVME_BENCH_TIMEOUT:-900}
while [ $# -gt 0 ]; do
    case "$1" in
        --qd) QD=$2; shift 2 ;;
        --latn) LATN=$2; shift 2 ;;
        --iops-ms) IOPSMS=$2; shift 2 ;;
        --post-ms) POSTMS=$2; shift 2 ;;
        --sides) SIDES=$2; shift 2 ;;
        --add-after-ms) ADD_AFTER_MS=$2; shift 2 ;;
        --errno-wait-ms) ERRNOWAIT=$2; shift 2 ;;
        --plot) PLOT=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        -*) echo "run-nvme-bench.sh: unknown option $1" >&2; exit 2 ;;
        *) OUT=$1; shift ;;
    esac
done
log() { echo "nvme-bench: $*" >&2; }
fail() { echo "nvme-bench: ERROR: $*" >&2; exit 1; }
command -v jq >/dev/null || { apt-get install -y -qq jq >&2 || fail "jq missing"; }
T_START=$EPOCHREALTIME

IMG=$(bash "$HERE/nvme/build-image.sh" --cache "$CACHE") || fail "building the guest image failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$IMG")
INITRD=$(sed -n 's/^INITRD=//p' <<<"$IMG")

# ---------------------------------------------------------------- boot
. "$HERE/lib.sh" # vm_channels, vm_qemu_args, vm_qemu_start, stamp, qmp, host
vm_channels "$CACHE/nvme-bench-runs/run-$(date +%Y%m%d-%H%M%S)-$$" con qmp mk # LOGF: "<host epoch s> <source> <line>"
DISK=$RUN/nvme.img             # raw file behind the controller; survives device_del
head -c 64M /dev/urandom >"$DISK"

APPEND="console=ttyS0 loglevel=4 intel_iommu=on hugepages=16 panic=-1 hp.run=/bench/guest-nvme-bench.sh"
APPEND+=" hp.qd=$QD hp.latn=$LATN hp.iopsms=$IOPSMS hp.postms=$POSTMS hp.sides=$SIDES hp.errnowait=$ERRNOWAIT"
NVME_ARGS='"driver":"nvme","id":"nvme1","serial":"deadbeef","drive":"nvme0","bus":"rp2"'
vm_qemu_args 2
QEMU+=(-device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
    -blockdev "driver=file,filename=$DISK,node-name=nvme0"
    -device nvme,id=nvme1,serial=deadbeef,drive=nvme0,bus=rp2)
vm_qemu_start
# A marker, then at once the QMP command (two pipe writes, microseconds apart).
marked_qmp() { # marker json
    local t=$EPOCHREALTIME
    printf '%s\n' "$1" >&$MK
    printf '%s\n' "$2" >&$QIN
    host "$t" "sent $1"
}
log "guest booting (pid $QPID, run $RUN)"

# ---------------------------------------------------------------- drive: pull and plug on the guest's cues
exec {CON}< <(exec tail -n +1 -f "$LOGF")
TAILPID=$!
now_ms() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }
deadline=$(( $(now_ms) + TOTAL_TIMEOUT * 1000 ))
side="" pulled=0 add_at=0 pings=0 next_ping=0 ok=0 pend="" deleted0=0
deleted() { grep -c '"event": "DEVICE_DELETED"' "$LOGF" || true; }
while :; do
    [ "$(now_ms)" -gt "$deadline" ] && { log "timeout after ${TOTAL_TIMEOUT}s"; break; }
    if ! kill -0 "$QPID" 2>/dev/null; then # powered off: the reader may still be behind the log
        sleep 0.3
        grep -q "HPB all-done" "$LOGF" && { ok=1; log "guest done"; } || log "QEMU exited"
        break
    fi
    # read -t keeps a partial line when it times out: keep it for the next round.
    part=""
    if IFS= read -r -t 0.05 -u "$CON" part; then line=$pend$part; pend=""; else pend=$pend$part; line=""; fi
    src=${line#* }; src=${src%% *}; text=${line#* * }
    case "$src:$text" in
        con:*"HPB all-done"*) ok=1; log "guest done"; break ;;
        con:"HPB "*|con:*'"t":"error"'*) log "${text}" ;;
        con:*"] BUG: "*|con:*"] Oops: "*) log "GUEST KERNEL: ${text}" ;;
        con:*'"t":"lat"'*|con:*'"t":"iops"'*|con:*'"t":"removal-done"'*) log "${text:0:220}" ;;
        con:*'"t":"stamp-ready"'*) pings=1 ;;
        con:*'"t":"removal-running"'*)
            side=$(jq -r .side <<<"$text" 2>/dev/null || echo "?")
            deleted0=$(deleted)
            marked_qmp "del $side" '{"execute":"device_del","arguments":{"id":"nvme1"}}'
            pulled=1; log "device_del ($side)" ;;
    esac
    # QEMU's DEVICE_DELETED (counted in the log itself: no line can be missed), then device_add ADD_AFTER_MS later.
    if [ "$pulled" = 1 ] && [ "$add_at" = 0 ] && [ "$(deleted)" -gt "$deleted0" ]; then
        add_at=$(( $(now_ms) + ADD_AFTER_MS )); log "DEVICE_DELETED ($side)"
    fi
    # Round-trip pings to the marker port every ~200 ms from the stamper's start: each gives an interval for the
    # guest-clock minus host-clock offset (figures.jq intersects them to place device_del / device_add on the
    # guest's clock, with the interval's width as the error bound).
    if [ "$pings" -ge 1 ] && [ "$(now_ms)" -ge "$next_ping" ]; then
        t=$EPOCHREALTIME; printf 'ping %d\n' "$pings" >&$MK; host "$t" "sent ping $pings"
        pings=$((pings + 1)); next_ping=$(( $(now_ms) + 200 ))
    fi
    if [ "$add_at" -gt 0 ] && [ "$(now_ms)" -ge "$add_at" ]; then
        marked_qmp "add $side" "{\"execute\":\"device_add\",\"arguments\":{$NVME_ARGS}}"
        add_at=0; pulled=0; log "device_add ($side)"
    fi
done
T_GUEST=$EPOCHREALTIME
sleep 0.5
vm_cleanup
trap - EXIT
rm -f "$DISK"
[ "$ok" = 1 ] || { tail -n 60 "$LOGF" >&2; fail "the guest did not finish (log: $LOGF)"; }

# ---------------------------------------------------------------- figures, per-ms data, plot
KVER=$(grep -o 'HPB guest kernel=[^ ]*' "$LOGF" | head -1 | sed 's/.*kernel=//')
QVER=$(qemu-system-x86_64 --version | head -1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
RUNTXT="guest kernel $KVER, QEMU $QVER TCG (-cpu max, q35, 2 vCPUs, vIOMMU, intel_iommu=on), QD $QD, host $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), log $LOGF"
mkdir -p "$(dirname "$OUT")"
TSV=$(dirname "$OUT")/nvme-removal.tsv
bash "$HERE/nvme/figures.sh" "$LOGF" "$OUT" "$TSV" "$PLOT" "$RUNTXT"
cp "$OUT" "$TSV" "$RUN/" 2>/dev/null || true
[ "$KEEP" = 1 ] || rm -f "$RUN"/*.in "$RUN"/*.out
log "image+guest $(awk -v a="$T_START" -v b="$T_GUEST" 'BEGIN{printf "%.0f", b-a}') s; wrote $OUT, $TSV, $PLOT"
