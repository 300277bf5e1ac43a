#!/usr/bin/env bash
# Hotplug benchmark suite (issue 7). Builds the native shim, the C baselines (gcc) and the managed suite,
# then prints one line per figure on stdout:
#
#     name ratio median_us p99_us        (ratio = ours / baseline, medians, measured in the same run)
#
# Progress and the baselines' own summaries go to stderr; every detail (baseline medians and p99s,
# sample counts, targets, notes, breakdown lines) goes to $WORK/results.tsv and $WORK/results.md.
#
#   benchmarks/run.sh --quick        about a minute: fewer iterations, no BenchmarkDotNet
#   benchmarks/run.sh                the full run: 10x the iterations in 3 rounds, then BenchmarkDotNet
#                                    (data path and scan, memory diagnoser) into $WORK/bdn
# Options: --no-bdn, --bdn-only, --no-pin (no thread placement), --only GROUP (datapath, fault, uevent,
#          scan, dma, vm; dma = interrupt wake-up and DMA pool/allocator), --vm-json FILE; with --only,
#          BenchmarkDotNet runs only that group's class (dma -> DmaBenchmarks).
#
# Needs: gcc, make, the .NET 10 SDK; root for the uevent figure (it writes "change" to
# /sys/class/net/lo/uevent: a harmless real kernel uevent). Nothing is ever written under /sys/bus/pci:
# the PCI devices are simulated (memfd BARs) and the scanned sysfs trees are generated under $WORK.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${HOTPLUG_BENCH_WORK:-$ROOT/artifacts/bench}
BIN=$WORK/bin
QUICK=0
BDN=1
FIGURES=1
FIGURE_ARGS=()
ONLY=
BDN_ARGS=()

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; BDN=0; FIGURE_ARGS+=(--quick) ;;
        --no-bdn) BDN=0 ;;
        --bdn-only) FIGURES=0; BDN=1 ;;
        --no-pin) FIGURE_ARGS+=(--no-pin) ;;
        --only) FIGURE_ARGS+=(--only "$2"); ONLY=$2; shift ;;
        --vm-json) FIGURE_ARGS+=(--vm-json "$2"); shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$BIN"
export HOTPLUG_BENCH_WORK=$WORK

# 1. The shim and the C baselines (the physical limit on this machine).
make -s -C "$ROOT/native" OUT="$ROOT/artifacts/native/"
for prog in fault uevent datapath scan irqwait dma; do
    gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
        -o "$BIN/$prog" "$ROOT/benchmarks/baseline/$prog.c" \
        -L"$ROOT/artifacts/native" -Wl,-rpath,"$ROOT/artifacts/native" -lhotplug_shim -lpthread
done

# 2. The managed suite.
if ! dotnet build "$ROOT/benchmarks/Hotplug.Benchmarks/Hotplug.Benchmarks.csproj" -c Release -nologo -v q \
        >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    exit 1
fi
DLL=$ROOT/benchmarks/Hotplug.Benchmarks/bin/Release/net10.0/Hotplug.Benchmarks.dll

# 3. ---- VM TIER HOOK --------------------------------------------------------------------------------
# The end-to-end figures (QMP device_del in a QEMU guest -> first signal -> REMOVE -> released/detached,
# ours vs DPDK 22.11 testpmd --hot-plug in the same guest, igb_uio and vfio) are measured by the VM
# harness, not here. It writes $WORK/vm-results.json (schema: benchmarks/Hotplug.Benchmarks/Figures/VmFigures.cs,
# docs/benchmarks.md); those figures are then printed like the others, else as "n/a". To have this script
# run the harness first, set HOTPLUG_BENCH_VM_CMD to its command; it gets the JSON path as its argument.
if [ -n "${HOTPLUG_BENCH_VM_CMD:-}" ] && [ "$FIGURES" = 1 ]; then
    echo "run.sh: running the VM harness: $HOTPLUG_BENCH_VM_CMD $WORK/vm-results.json" >&2
    $HOTPLUG_BENCH_VM_CMD "$WORK/vm-results.json" >&2 || echo "run.sh: the VM harness failed; VM figures stay n/a" >&2
fi
# ------------------------------------------------------------------------------------------------------

status=0
# 4. The figures: custom measured loops, each side by side with its C baseline.
if [ "$FIGURES" = 1 ]; then
    dotnet "$DLL" figures --bin "$BIN" --work "$WORK" ${FIGURE_ARGS[@]+"${FIGURE_ARGS[@]}"} || status=$?
fi

# 5. BenchmarkDotNet (full run only): data path, scan and DMA, with the memory diagnoser. BDN_ARGS from the
#    environment (e.g. HOTPLUG_BENCH_BDN_ARGS="--job short") are passed on.
if [ "$BDN" = 1 ]; then
    filter='*'
    case "$ONLY" in
        "") ;;
        datapath) filter='*DataPath*' ;;
        scan) filter='*Scan*' ;;
        dma) filter='*Dma*' ;;
        *) BDN=0 ;;
    esac
fi
if [ "$BDN" = 1 ]; then
    read -r -a BDN_ARGS <<<"${HOTPLUG_BENCH_BDN_ARGS:-}"
    rm -f "$WORK"/bdn/results/*-report-github.md
    echo "run.sh: BenchmarkDotNet ($filter) -> $WORK/bdn" >&2
    (cd "$WORK" && dotnet "$DLL" bdn --filter "$filter" --artifacts "$WORK/bdn" ${BDN_ARGS[@]+"${BDN_ARGS[@]}"} >"$WORK/bdn.log" 2>&1) || {
        status=1
        tail -n 40 "$WORK/bdn.log" >&2
    }
    cat "$WORK"/bdn/results/*-report-github.md >&2 2>/dev/null || true
fi
exit $status
