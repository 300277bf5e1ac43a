#!/usr/bin/env bash
# Forwarding benchmark (issue 14 item 6): in ONE guest boot, the same two QEMU e1000s (alone on QEMU hub 0, bound
# to vfio-pci and/or igb_uio), the same work for the same time: INFLIGHT frames injected through B, then A's receive
# bursts of 32 straight into B's transmit bursts for SECONDS, through our driver (the agent's e1000-fwd,
# tests/Hotplug.VmAgent/E1000ForwardScenario.cs) and through DPDK 22.11's em PMD (fwd.c, the same loop in C).
#
#   benchmarks/vm/run-fwd-bench.sh [OUT_DIR] [--scen LIST] [--secs S] [--smp N]
#
# LIST: comma-separated SIDE-INFLIGHT-DRIVER, SIDE ours, dpdk or dpdkhuge (DPDK on vfio-pci with 2 MiB hugepages;
# dpdk on vfio-pci runs as our other benchmarks run it, --no-huge, 4 KiB pages), DRIVER vfio-pci or igb_uio (default:
# ours and DPDK with hugepages at 256 and 32 frames in flight on both drivers, and dpdk --no-huge at 256 on
# vfio-pci). A repeated entry makes alternating pairs (each DPDK run is paired with the nearest run of ours; the
# table then adds the median ratio). OUT_DIR (default artifacts/bench/fwd) gets results.json, table.md and the
# console log. The image is the fail-safe/VM benchmark's (build-peer-image.sh: the Vm tier's
# image with our NativeAOT agent, plus Debian's DPDK libraries and the e1000 PMD), with one more archive appended:
# fwd (built here with pkg-config libdpdk) and fwd-guest.sh. Needs qemu-system-x86 (TCG), dpdk-dev, python3, the
# .NET 10 SDK. Nothing here touches the host's PCI devices: the guest binds its own emulated NICs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
OUT=$ROOT/artifacts/bench/fwd
SCEN=ours-256-vfio-pci,dpdkhuge-256-vfio-pci,dpdk-256-vfio-pci,ours-32-vfio-pci,dpdkhuge-32-vfio-pci,ours-256-igb_uio,dpdk-256-igb_uio,ours-32-igb_uio,dpdk-32-igb_uio
SECS=5
SMP=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scen) SCEN=$2; shift 2 ;;
        --secs) SECS=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "run-fwd-bench.sh: unknown option $1" >&2; exit 2 ;;
        *) OUT=$1; shift ;;
    esac
done
log() { echo "fwd-bench: $*" >&2; }
fail() { echo "fwd-bench: ERROR: $*" >&2; exit 1; }

IMG=$(bash "$HERE/build-peer-image.sh" --cache "$CACHE") || fail "building the peer image failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$IMG")
PEER_INITRD=$(sed -n 's/^INITRD=//p' <<<"$IMG")
TPVER=$(sed -n 's/^TESTPMD_VERSION=//p' <<<"$IMG")

# The overlay: fwd and the guest script. fwd's libraries are a subset of testpmd's, which the peer image carries.
STAGE=$CACHE/fwd-stage
FIMG=$CACHE/fwd-image
rm -rf "$STAGE"
mkdir -p "$STAGE/bench" "$FIMG"
# Linked to bus_pci with testpmd's RUNPATH (the plugin directory), as testpmd is: the loader then maps the very file
# EAL's plugin scan opens, and net_e1000's DT_NEEDED finds it loaded (a second copy of bus_pci panics EAL).
PMDDIR=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* | head -1)
gcc -O2 -Wall -Wextra -Werror -o "$STAGE/bench/fwd" "$HERE/fwd.c" $(pkg-config --cflags libdpdk) -L"$PMDDIR" \
    -Wl,--no-as-needed,--enable-new-dtags,-rpath,"$PMDDIR" -lrte_bus_pci -lrte_ethdev -lrte_mbuf -lrte_mempool -lrte_eal \
    || fail "building fwd failed"
missing=$(comm -23 <(ldd "$STAGE/bench/fwd" | grep -Eo '/[^ ]+\.so[^ ]*' | sort -u) \
    <(ldd /usr/bin/dpdk-testpmd | grep -Eo '/[^ ]+\.so[^ ]*' | sort -u))
[ -z "$missing" ] || fail "fwd needs libraries the peer image lacks: $missing"
install -m 755 "$HERE/fwd-guest.sh" "$STAGE/bench/fwd-guest.sh"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$FIMG/overlay.cpio.gz"
cat "$PEER_INITRD" "$FIMG/overlay.cpio.gz" >"$FIMG/initrd.img"
rm -rf "$STAGE"

RUN=$CACHE/bench-runs/fwd-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$RUN"
N=$(tr ',' '\n' <<<"$SCEN" | grep -c .)
APPEND="console=ttyS0 loglevel=4 intel_iommu=on iommu=pt no_timer_check panic=-1 hp.run=/bench/fwd-guest.sh hp.scen=$SCEN hp.secs=$SECS"
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -M q35 -m 1024 -smp "$SMP"
    -nodefaults -no-reboot -display none -monitor none
    -kernel "$KERNEL" -initrd "$FIMG/initrd.img" -append "$APPEND"
    -serial "file:$RUN/console.log"
    -device intel-iommu,intremap=on
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
    -netdev hubport,id=hp1,hubid=0 -device e1000,id=nicA,netdev=hp1,bus=rp1
    -netdev hubport,id=hp2,hubid=0 -device e1000,id=nicB,netdev=hp2,bus=rp2)
printf '%q ' "${QEMU[@]}" >"$RUN/qemu.cmdline"
log "guest booting ($N runs of ${SECS}s; run $RUN)"
# The guest powers off after its script; the budget: boot, plus per run its seconds and up to 60 s of set-up.
timeout $((180 + N * (SECS + 60))) "${QEMU[@]}" >"$RUN/qemu.stderr" 2>&1 || log "QEMU exited with $?"
grep -q 'HPB all-done' "$RUN/console.log" || { tail -n 40 "$RUN/console.log" >&2; fail "the guest did not finish (log: $RUN/console.log)"; }

mkdir -p "$OUT"
cp "$RUN/console.log" "$OUT/console.log"
QVER=$(qemu-system-x86_64 --version | head -1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
KVER=$(grep -o 'HPB guest kernel=[^ ]*' "$RUN/console.log" | head -1 | sed 's/.*kernel=//')
python3 - "$RUN/console.log" "$OUT" "$SECS" "$SMP" "guest kernel $KVER, QEMU $QVER TCG (-cpu max, q35, $SMP vCPU), DPDK $TPVER em PMD, host $(date -u +%Y-%m-%dT%H:%MZ)" <<'PY'
import json, re, sys
log, out, secs, smp, setting = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = []
for line in open(log, errors="replace"):
    m = re.search(r"HPB res (\S+) (\d+) (\S+) rc=(\d+) (.*)$", line.strip())
    if not m:
        continue
    side, inflight, drv, rc, js = m.groups()
    r = {"side": side, "inflight": int(inflight), "driver": drv, "rc": int(rc)}
    try:
        r.update({k: v for k, v in json.loads(js).items() if k != "t"})
    except ValueError:
        r["error"] = js
    runs.append(r)
rows, pairs = [], []
f = lambda v, fmt: "—" if v is None else fmt.format(v)
for i, p in enumerate(runs):
    if p["side"] == "ours":
        continue
    n, d = p["inflight"], p["driver"]
    # A list may repeat scenarios (ours, dpdk, ours, dpdk...): each DPDK run is paired with the nearest run of ours.
    near = sorted((abs(j - i), j) for j, r in enumerate(runs) if (r["side"], r["inflight"], r["driver"]) == ("ours", n, d))
    o = runs[near[0][1]] if near else None
    fo, fp = (o or {}).get("pps"), p.get("pps")
    ratio = fo / fp if fo and fp else None
    alloc = (o or {}).get("alloc_bytes")
    per_burst = alloc / o["tx_bursts"] if o and alloc is not None and o.get("tx_bursts") else None
    dpdk = "4 KiB pages" if p["side"] == "dpdk" and d == "vfio-pci" else "2 MiB hugepages"
    pairs.append({"driver": d, "inflight": n, "dpdk": p["side"], "ours_pps": fo, "dpdk_pps": fp, "ratio": ratio,
                  "ours_alloc_bytes": alloc, "ours_alloc_bytes_per_burst": per_burst,
                  "ours_frames_per_burst": (o or {}).get("frames_per_burst"), "dpdk_frames_per_burst": p.get("frames_per_burst")})
    rows.append(f"| {d} | {n} | {f(fo, '{:,.0f}')} | {f(fp, '{:,.0f}')} ({dpdk}) | {f(ratio, '{:.2f}')} | "
                f"{f((o or {}).get('frames_per_burst'), '{:.1f}')} / {f(p.get('frames_per_burst'), '{:.1f}')} | "
                f"{f(alloc, '{:,}')} ({f(per_burst, '{:g}')} per burst) |")
groups = {}
for q in pairs:
    if q["ratio"] is not None:
        groups.setdefault((q["driver"], q["inflight"], q["dpdk"]), []).append(q["ratio"])
median = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2]) / 2
summary = [{"driver": d, "inflight": n, "dpdk": side, "pairs": len(v), "ratio_median": median(v), "ratio_min": min(v), "ratio_max": max(v)}
           for (d, n, side), v in groups.items()]
if any(g["pairs"] > 1 for g in summary):
    rows.append("\n| driver | frames in flight | DPDK | pairs | ours / DPDK, median (min–max) |\n|---|---|---|---|---|")
    rows += [f"| {g['driver']} | {g['inflight']} | {g['dpdk']} | {g['pairs']} | {g['ratio_median']:.2f} ({g['ratio_min']:.2f}–{g['ratio_max']:.2f}) |" for g in summary]
table = (f"{setting}; {secs:g} s per run, bursts of 32, rings of 512\n\n"
         "| driver | frames in flight | ours, frames/s | DPDK em PMD, frames/s (its memory) | ours / DPDK | frames per burst (ours / DPDK) | bytes allocated by our loop |\n"
         "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
json.dump({"setting": setting, "seconds": secs, "vcpus": smp, "pairs": pairs, "summary": summary, "runs": runs}, open(f"{out}/results.json", "w"), indent=1)
open(f"{out}/table.md", "w").write(table)
print(table)
PY
log "wrote $OUT (table.md, results.json, console.log)"
