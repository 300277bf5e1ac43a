#!/usr/bin/env bash
# Fail-safe packet benchmark (issue 14 item 4): the same guest boot, the same traffic, the same device_del /
# device_add of the primary NIC, for our FailSafeGroup over two e1000 ports (the agent's failsafe scenario) and for
# DPDK 22.11's failsafe PMD over the same two e1000s (fsrecv.c: EAL + --vdev net_failsafe0,dev(P),dev(S), polled
# rx bursts, the same counting), over vfio-pci and igb_uio.
#
#   benchmarks/vm/run-failsafe-bench.sh [OUT_DIR] [--scen LIST] [--pps N] [--secs S] [--keep]
#
# --no-agent builds the image without our agent (the dpdk-* scenarios only). OUT_DIR (default artifacts/bench/failsafe) gets results.json, table.md, per-ms series (*.dat) and the plot
# (failsafe-removal.svg; copied to docs/img/ with --docs). LIST: comma-separated SIDE-DRIVER, SIDE one of ours,
# ours_mbb (the agent keeps polling the old port after a switch-back until the new one delivers), ours_s1500 (the
# group's switch-back settle 1.5 s instead of 500 ms), dpdk; DRIVER vfio-pci or igb_uio (default: ours, ours_s1500
# and dpdk on both drivers). Network: a QEMU hub (hubid 0) joins a virtio-net NIC
# (the guest kernel's eth0: hpsend, N frames/s for S seconds), e1000 nic1 (rp1, primary) and e1000 nic2 (rp2,
# standby); a hub repeats every frame to every other port, so both e1000s receive all of them.
# Timing: the host stamps every console and QMP line on arrival ($EPOCHREALTIME); the guest prints its
# CLOCK_MONOTONIC every 0.5 s ("HPB clock"), which gives the guest->host offset; the receivers' per-ms counts and
# the frames' send stamps are guest clock. The host does device_del nic1 2 s after the sender starts and
# device_add nic1 4 s after the device_del (or at once after DEVICE_DELETED, if that comes later).
#
# Needs qemu-system-x86 (TCG), root (apt-get: dpdk-dev, librte-net-failsafe23, gnuplot-nox, python3), the .NET 10
# SDK (the agent). Writes only under .vm-cache/bench-runs/, OUT_DIR and (with --docs) docs/img/. The guest does its
# own binding; nothing here touches the host's PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
OUT=$ROOT/artifacts/bench/failsafe
SCEN=ours-vfio-pci,ours_s1500-vfio-pci,dpdk-vfio-pci,ours-igb_uio,ours_s1500-igb_uio,dpdk-igb_uio
PPS=5000
SECS=14
KEEP=0
DOCS=0
PRE_S=2
MID_S=4
TOTAL_TIMEOUT=${HP_VM_BENCH_TIMEOUT:-1500}
PEER_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scen) SCEN=$2; shift 2 ;;
        --pps) PPS=$2; shift 2 ;;
        --secs) SECS=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --docs) DOCS=1; shift ;;
        --no-agent) PEER_ARGS+=(--no-agent); shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        -*) echo "run-failsafe-bench.sh: unknown option $1" >&2; exit 2 ;;
        *) OUT=$1; shift ;;
    esac
done
log() { echo "failsafe-bench: $*" >&2; }
fail() { echo "failsafe-bench: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- tools and the image
need=()
[ -e /usr/lib/x86_64-linux-gnu/pkgconfig/libdpdk.pc ] || need+=(dpdk-dev)
ls /usr/lib/x86_64-linux-gnu/dpdk/pmds-*/librte_net_failsafe.so.* >/dev/null 2>&1 || need+=(librte-net-failsafe23)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v python3 >/dev/null || need+=(python3)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
        || fail "apt-get install ${need[*]} failed"
fi
IMG=$(bash "$HERE/build-peer-image.sh" --cache "$CACHE" "${PEER_ARGS[@]}") || fail "building the peer image failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$IMG")
PEER_INITRD=$(sed -n 's/^INITRD=//p' <<<"$IMG")
TPVER=$(sed -n 's/^TESTPMD_VERSION=//p' <<<"$IMG")

# A second overlay: the failsafe PMD, fsrecv (built here against Debian's DPDK) and this benchmark's guest script.
STAGE=$CACHE/failsafe-stage
FSIMG=$CACHE/failsafe-image
rm -rf "$STAGE"
mkdir -p "$STAGE"/{dpdk/pmds,bench} "$FSIMG"
gcc -O2 -Wall -Wextra -Werror -o "$STAGE/bench/fsrecv" "$HERE/fsrecv.c" $(pkg-config --cflags libdpdk) \
    -lrte_ethdev -lrte_mbuf -lrte_mempool -lrte_eal || fail "building fsrecv failed"
# A library that lives in the plugin directory must be ONE file in the guest: EAL loads every plugin of that
# directory and of -d, and a second copy of bus_pci panics ("Cannot initialize tailq"). So every name that points
# into the plugin directory on the host becomes a symlink to the plugin file (the path build-peer-image.sh uses).
PMDDIR=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* | head -1)
FS=$PMDDIR/$(cd "$PMDDIR" && ls librte_net_failsafe.so.* | head -1)
for l in $( { ldd "$STAGE/bench/fsrecv"; ldd "$FS"; } | grep -Eo '/[^ ]+\.so[^ ]*' | sort -u) "$FS"; do
    [ -e "$l" ] || fail "library $l missing"
    case "$(readlink -f "$l")" in
        "$PMDDIR"/*)
            p=$PMDDIR/$(basename "$l")
            mkdir -p "$STAGE$PMDDIR" "$STAGE$(dirname "$l")"
            [ -e "$STAGE$p" ] || cp -L "$p" "$STAGE$p"
            [ "$l" = "$p" ] || ln -sf "$p" "$STAGE$l" ;;
        *) mkdir -p "$STAGE$(dirname "$l")"; cp -L "$l" "$STAGE$l" ;;
    esac
done
ln -s "$FS" "$STAGE/dpdk/pmds/librte_net_failsafe.so"
install -m 755 "$HERE/failsafe-guest.sh" "$STAGE/bench/failsafe-guest.sh"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$FSIMG/overlay.cpio.gz"
cat "$PEER_INITRD" "$FSIMG/overlay.cpio.gz" >"$FSIMG/initrd.img"
rm -rf "$STAGE"

# ---------------------------------------------------------------- boot
. "$HERE/lib.sh" # vm_channels, vm_qemu_args, vm_qemu_start, stamp, qmp, host
vm_channels "$CACHE/bench-runs/failsafe-$(date +%Y%m%d-%H%M%S)-$$" con qmp # LOGF: "<host epoch s> <source> <line>"

APPEND="console=ttyS0 loglevel=4 intel_iommu=on iommu=pt no_timer_check panic=-1 hp.run=/bench/failsafe-guest.sh hp.scen=$SCEN hp.pps=$PPS hp.secs=$SECS"
INITRD=$FSIMG/initrd.img
vm_qemu_args 2
QEMU+=(-netdev hubport,id=hp0,hubid=0 -device virtio-net-pci,netdev=hp0,bus=pcie.0,addr=0x5
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
    -netdev hubport,id=hp1,hubid=0 -device e1000,id=nic1,netdev=hp1,bus=rp1
    -netdev hubport,id=hp2,hubid=0 -device e1000,id=nic2,netdev=hp2,bus=rp2)
vm_qemu_start
log "guest booting (pid $QPID, run $RUN)"

# ---------------------------------------------------------------- drive: pull on the guest's cue, plug back later
exec {CON}< <(exec tail -n +1 -f "$LOGF")
TAILPID=$!
# No forks in this loop (it must keep up with the console): times are integer microseconds from $EPOCHREALTIME.
us() { local t=${1/./}; REPLY=$((10#$t)); }
pull_at=0; add_at=0; deleted=0; pulled=0; pending=""
us "$EPOCHREALTIME"; deadline=$((REPLY + TOTAL_TIMEOUT * 1000000))
ok=0
while :; do
    us "$EPOCHREALTIME"; now=$REPLY
    if [ "$now" -gt "$deadline" ]; then log "timeout after ${TOTAL_TIMEOUT}s"; break; fi
    if ! kill -0 "$QPID" 2>/dev/null; then
        # This loop may lag behind the log (the receivers' reports come in a burst at the end): look at the log itself.
        grep -q ' con HPB all-done' "$LOGF" && { ok=1; log "guest done"; break; }
        log "QEMU exited"; break
    fi
    # read -t keeps a partial line when it times out: carry it over, never drop it.
    part=""
    if IFS= read -r -t 0.05 -u "$CON" part; then line=$pending$part; pending=""; else pending+=$part; line=""; fi
    stamp_s=${line%% *}
    src=${line#* }; src=${src%% *}
    text=${line#* * }
    case "$src:$text" in
        con:"HPB clock"*|con:'{"t":"rx-'*) ;;
        con:"HPB all-done"*) ok=1; log "guest done"; break ;;
        con:"HPB error"*|con:"HPB fs-"*|con:"HPB rebound"*) log "${text#HPB }" ;;
        # From the line's own arrival stamp: a lagging loop does not move the pull.
        con:"HPB pull "*) us "$stamp_s"; pull_at=$((REPLY + PRE_S * 1000000)) ;;
        qmp:*DEVICE_DELETED*'"nic1"'*) deleted=1 ;;
    esac
    us "$EPOCHREALTIME"; now=$REPLY
    if [ "$pull_at" -gt 0 ] && [ "$now" -ge "$pull_at" ]; then
        t=$EPOCHREALTIME
        qmp '{"execute":"device_del","arguments":{"id":"nic1"}}'
        host "$t" "device_del nic1"
        [ $((now - pull_at)) -gt 200000 ] && log "device_del $(( (now - pull_at) / 1000 )) ms late (the host is busy)"
        pull_at=0; deleted=0; pulled=1
        us "$t"; add_at=$((REPLY + MID_S * 1000000))
    fi
    if [ "$pulled" = 1 ] && [ "$deleted" = 1 ] && [ "$now" -ge "$add_at" ]; then
        t=$EPOCHREALTIME
        qmp '{"execute":"device_add","arguments":{"driver":"e1000","id":"nic1","netdev":"hp1","bus":"rp1"}}'
        host "$t" "device_add nic1"
        pulled=0
    fi
done
sleep 1
vm_cleanup
trap - EXIT
[ "$ok" = 1 ] || { tail -n 60 "$LOGF" >&2; fail "the guest did not finish (log: $LOGF)"; }

# ---------------------------------------------------------------- figures
KVER=$(grep -o 'HPB guest kernel=[^ ]*' "$LOGF" | head -1 | sed 's/.*kernel=//')
QVER=$(qemu-system-x86_64 --version | head -1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
mkdir -p "$OUT"
python3 "$HERE/failsafe-figures.py" "$LOGF" "$OUT" \
    "guest kernel $KVER, QEMU $QVER TCG (-cpu max, q35, 2 vCPUs, ACPI hotplug), DPDK $TPVER failsafe PMD, $PPS frames/s asked, host $(date -u +%Y-%m-%dT%H:%MZ)" \
    || fail "failsafe-figures.py failed (log: $LOGF)"
gnuplot "$OUT/plot.gp" || fail "gnuplot failed"
[ "$DOCS" = 1 ] && { mkdir -p "$ROOT/docs/img"; cp "$OUT/failsafe-removal.svg" "$ROOT/docs/img/failsafe-removal.svg"; }
cp "$LOGF" "$OUT/events.tlog"
log "wrote $OUT (table.md, results.json, failsafe-removal.svg); log $LOGF"
[ "$KEEP" = 1 ] || rm -f "$RUN"/*.in "$RUN"/*.out
