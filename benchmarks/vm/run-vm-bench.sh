#!/usr/bin/env bash
# End-to-end VM benchmark (issues 7 and 14): QMP device_del in a QEMU guest -> first kernel signal -> REMOVE ->
# detached/released, and device_add -> re-attach, for DPDK 22.11's `dpdk-testpmd --hot-plug` (io
# forwarding, net_e1000_em PMD) and for our agent (tests/Hotplug.VmAgent's hotplug loop with Hotplug.E1000's
# port polling receive bursts) on the SAME QEMU e1000, both over igb_uio and vfio-pci, in the same guest boot,
# same kernel, same QMP.
#
#   benchmarks/vm/run-vm-bench.sh [OUT_JSON] [--cycles N] [--scen LIST] [--keep] [--trace|--trace-kernel] [--loglevel L] [--rx-idle yield]
#
# OUT_JSON defaults to artifacts/bench/vm-results.json (the file benchmarks/run.sh reads; set
# HOTPLUG_BENCH_VM_CMD=benchmarks/vm/run-vm-bench.sh to have run.sh call this). LIST is a comma-separated
# subset of dpdk-igb_uio,dpdk-vfio-pci,ours-igb_uio,ours-vfio-pci (default: all) or pairs-igb_uio / pairs-vfio-pci
# (N times a DPDK cycle then one of ours, each a fresh process: both sides under the same guest and host state; the
# way to compare them on a noisy host), N the cycles of each (default 3). --trace: a diagnostic run; the guest records ftrace (scheduler, IRQs, the vfio request, epoll
# returns, writes) while the device is bound and prints it, from the hot-plug interrupt to 300 ms after the
# removal, as "TR " lines in the raw log (it perturbs the timings: not for figures); --trace-kernel: only the
# kernel's removal path (IRQs and kprobes from the ACPI interrupt to vfio's request; light). --loglevel: the guest kernel's
# console loglevel (default 4: warnings and worse). At 6 the kernel prints its notices on the emulated UART in the
# middle of the removal (vfio's "Relaying device request" goes out before it signals the request: 2-9 ms under TCG),
# the same for both sides but noise on both. The guest boots with tsc=reliable: with 2 vCPUs under TCG the kernel
# otherwise drops the TSC for the HPET, and every clock read becomes a syscall and an HPET read that waits for QEMU's
# big lock (busy with the removal itself): milliseconds per stamp, charged to the side that reads the clock more.
# --rx-idle yield: our receive thread calls sched_yield after an empty burst (default: it spins, as testpmd's lcore).
# Timing, the same for both sides, on the GUEST's clock: our agent stamps its lines itself ("ms"),
# testpmd's output goes through `hpguest stamp TP` (line-buffered by linebuf.so), the kernel's uevents through
# `hpguest uevents`; device_del / device_add are placed on that clock through pings and markers on the guest's
# second serial port, echoed by `hpguest marks` (parse.awk says how; its error bound is reported). Every line
# is also stamped on arrival with the host's clock (bash $EPOCHREALTIME) in the raw log.
#
# Needs qemu-system-x86 (TCG), root (apt-get for dpdk-dev, build-image.sh), the .NET 10 SDK (the agent).
# Writes only under the ignored cache (.vm-cache/bench-runs/) and the JSON file. The guest does its own
# binding/unbinding; nothing here touches the host's PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
OUT=$ROOT/artifacts/bench/vm-results.json
CYCLES=3
SCEN=dpdk-igb_uio,dpdk-vfio-pci,ours-igb_uio,ours-vfio-pci
KEEP=0
TRACE=0
LOGLEVEL=4
RXIDLE=spin
TOTAL_TIMEOUT=${HP_VM_BENCH_TIMEOUT:-1200}
while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) CYCLES=$2; shift 2 ;;
        --scen) SCEN=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --trace) TRACE=1; shift ;;
        --trace-kernel) TRACE=2; shift ;;
        --loglevel) LOGLEVEL=$2; shift 2 ;;
        --rx-idle) RXIDLE=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "run-vm-bench.sh: unknown option $1" >&2; exit 2 ;;
        *) OUT=$1; shift ;;
    esac
done
log() { echo "vm-bench: $*" >&2; }
fail() { echo "vm-bench: ERROR: $*" >&2; exit 1; }
T_START=$EPOCHREALTIME
trap "" PIPE # a ping written after QEMU powered off must not end the script

# ---------------------------------------------------------------- image
IMG=$(bash "$HERE/build-peer-image.sh" --cache "$CACHE") || fail "building the guest image failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$IMG")
INITRD=$(sed -n 's/^INITRD=//p' <<<"$IMG")
TPVER=$(sed -n 's/^TESTPMD_VERSION=//p' <<<"$IMG")
T_IMAGE=$EPOCHREALTIME

# ---------------------------------------------------------------- boot
. "$HERE/lib.sh" # vm_channels, vm_qemu_args, vm_qemu_start, stamp, qmp, host
vm_channels "$CACHE/bench-runs/run-$(date +%Y%m%d-%H%M%S)-$$" con qmp mk # LOGF: "<host epoch s> <source> <line>"

APPEND="console=ttyS0 loglevel=$LOGLEVEL tsc=reliable intel_iommu=on iommu=pt panic=-1 hp.run=/bench/guest-bench.sh hp.cycles=$CYCLES hp.scen=$SCEN hp.trace=$TRACE hp.rxidle=$RXIDLE"
vm_qemu_args 2
QEMU+=(-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
    -device e1000,id=dut,bus=rp1)
vm_qemu_start
mark() { # a line to the guest's marker reader (stamped on the guest clock, echoed back)
    local t=$EPOCHREALTIME
    printf '%s\n' "$1" >&$MK
    printf '%s host sent %s\n' "$t" "$1" >>"$LOGF"
}
log "guest booting (pid $QPID, run $RUN)"

# ---------------------------------------------------------------- drive: pull and plug on the guest's cues
exec {CON}< <(exec tail -n +1 -f "$LOGF")
TAILPID=$!
state=boot; pulled=""; t_pull=0; dead=0; gone=0; ours_left=0; dev=""; pings=0; next_ping=0; marks=0
now_ms() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }
now_s() { echo "${EPOCHREALTIME%.*}"; }
pull() { # qmp id
    sleep 1
    marks=$((marks + 1)); mark "del $marks"
    local t=$EPOCHREALTIME
    qmp "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"$1\"}}"
    host "$t" "device_del $1"
    pulled=$1; t_pull=$(now_s); dead=0; gone=0
}
plug() { # id driver bus
    marks=$((marks + 1)); mark "add $marks"
    local t=$EPOCHREALTIME
    qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"$2\",\"id\":\"$1\",\"bus\":\"$3\"}}"
    host "$t" "device_add $1"
    pulled=""
}
deadline=$(( $(now_s) + TOTAL_TIMEOUT ))
ok=0; pend=""
while :; do
    if [ "$(now_s)" -gt "$deadline" ]; then log "timeout after ${TOTAL_TIMEOUT}s"; break; fi
    if ! kill -0 "$QPID" 2>/dev/null; then # powered off: the reader may still be behind the log
        sleep 0.3
        if grep -q "HPB all-done" "$LOGF"; then ok=1; log "guest done"; else log "QEMU exited"; fi
        break
    fi
    # read -t keeps a partial line when it times out: keep it for the next round.
    part=""
    if IFS= read -r -t 0.1 -u "$CON" part; then line=$pend$part; pend=""; else pend=$pend$part; line=""; fi
    src=${line#* }; src=${src%% *}
    text=${line#* * }
    case "$src:$text" in
        con:*"HPB all-done"*) ok=1; log "guest done"; break ;;
        con:*"HPB error"*) log "guest: $text" ;;
        con:*"HPB dpdk-start"*) state=dpdk-wait; log "${text#HPB }" ;;
        con:*"HPB ours-start"*) state=ours; ours_left=${text##*cycles=}; ours_left=${ours_left%% *}; log "${text#HPB }" ;;
        con:*'"t":"stamp-ready"'*) pings=1 ;;
        con:*"HPB dpdk-end"*|con:*"HPB ours-end"*) state=idle; log "${text#HPB }" ;;
        con:*"Press enter to exit"*) [ "$state" = dpdk-wait ] && { pull dut; state=dpdk-pulled; } ;;
        con:*'"t":"attached"'*|con:*'"t":"reattached"'*)
            if [ "$state" = ours ] && [ "$ours_left" -gt 0 ]; then
                pull dut; state=ours-pulled; ours_left=$((ours_left - 1))
            fi ;;
        qmp:*DEVICE_DELETED*'"device": "'*) case "$text" in *"\"$pulled\""*) gone=1 ;; esac ;;
        con:*detached*) case "$state" in dpdk-pulled|ours-pulled) dead=1 ;; esac ;;
    esac
    # Pings to the marker reader every ~200 ms (each bounds the guest-minus-host clock offset; parse.awk).
    if [ "$pings" -ge 1 ] && [ "$(now_ms)" -ge "$next_ping" ]; then
        mark "ping $pings"; pings=$((pings + 1)); next_ping=$(( $(now_ms) + 200 ))
    fi
    # Plug back once the device is gone from QEMU and the app has detached (DPDK: or 15 s passed).
    if [ -n "$pulled" ] && [ "$gone" = 1 ]; then
        if [ "$dead" = 1 ] || [ $(( $(now_s) - t_pull )) -gt 15 ]; then
            [ "$dead" = 1 ] || log "no detach 15 s after device_del $pulled: plugging back anyway"
            sleep 0.5   # let late lines land before the ADD
            case "$state" in ours-pulled) plug dut e1000 rp1; state=ours ;; *) plug dut e1000 rp1; state=dpdk-plugged ;; esac
        fi
    fi
done
T_GUEST=$EPOCHREALTIME
sleep 1
vm_cleanup
trap - EXIT
[ "$ok" = 1 ] || { tail -n 60 "$LOGF" >&2; fail "the guest did not finish (log: $LOGF)"; }

# ---------------------------------------------------------------- parse
# One row per cycle and step: "scenario driver cycle step ms_from_trigger".
awk -f "$HERE/parse.awk" "$LOGF" "$LOGF" >"$RUN/steps.tsv"
log "steps: $RUN/steps.tsv"
column -t "$RUN/steps.tsv" >&2 2>/dev/null || cat "$RUN/steps.tsv" >&2

KVER=$(grep -o 'HPB guest kernel=[^ ]*' "$LOGF" | head -1 | sed 's/.*kernel=//')
QVER=$(qemu-system-x86_64 --version | head -1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
RUNTXT="guest kernel $KVER, QEMU $QVER TCG (-cpu max, q35, 2 vCPUs, ACPI hotplug), DPDK testpmd $TPVER, $CYCLES cycles, loglevel $LOGLEVEL, tsc=reliable, our receive thread idles by $RXIDLE, host $(date -u +%Y-%m-%dT%H:%MZ), log $LOGF"
mkdir -p "$(dirname "$OUT")"
awk -v run="$RUNTXT" -f "$HERE/figures.awk" "$RUN/steps.tsv" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
T_END=$EPOCHREALTIME
log "wrote $OUT; image $(awk -v a="$T_START" -v b="$T_IMAGE" 'BEGIN{printf "%.0f", b-a}') s, guest $(awk -v a="$T_IMAGE" -v b="$T_GUEST" 'BEGIN{printf "%.0f", b-a}') s, total $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s"
[ "$KEEP" = 1 ] || rm -f "$RUN"/*.in "$RUN"/*.out
