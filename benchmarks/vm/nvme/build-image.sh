#!/usr/bin/env bash
# Builds the guest image of the NVMe peer benchmark: the Vm test tier's image (tests/Hotplug.VmTests/guest/
# build-image.sh: Debian cloud kernel, busybox, vfio modules, hpguest, our NativeAOT agent) plus an overlay cpio
# appended to its initramfs with /bin/nvme-kbench (the kernel side, gcc -static from nvme-kbench.c) and
# /bench/guest-nvme-bench.sh (run by init.sh through hp.run=).
#
#   build-image.sh [--cache DIR]
#
# Output (stdout, last lines): KERNEL=..., INITRD=... Everything lands in the ignored cache (<repo>/.vm-cache).
# Never touches the host's PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) CACHE=$2; shift 2 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { echo "nvme-bench image: $*" >&2; }
fail() { echo "nvme-bench image: ERROR: $*" >&2; exit 1; }

PUB=$CACHE/agent-publish
log "publishing the agent (NativeAOT) -> $PUB"
dotnet publish "$ROOT/tests/Hotplug.VmAgent/Hotplug.VmAgent.csproj" -c Release -o "$PUB" -nologo -v:q \
    -p:DebugType=none >&2 || fail "agent publish failed"
rm -rf "$CACHE/agent-bench"
mkdir -p "$CACHE/agent-bench"
cp "$PUB/hotplug-vm-agent" "$PUB"/*.so "$CACHE/agent-bench/"
BASE=$(bash "$ROOT/tests/Hotplug.VmTests/guest/build-image.sh" --cache "$CACHE" --agent "$CACHE/agent-bench") \
    || fail "tests/Hotplug.VmTests/guest/build-image.sh failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$BASE")
BASE_INITRD=$(sed -n 's/^INITRD=//p' <<<"$BASE")
[ -f "$KERNEL" ] && [ -f "$BASE_INITRD" ] || fail "the base image has no kernel/initrd"

STAGE=$CACHE/nvme-bench-stage
OUT=$CACHE/nvme-bench-image
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,bench} "$OUT"
gcc -static -O2 -Wall -Wextra -Werror -o "$STAGE/bin/nvme-kbench" "$HERE/nvme-kbench.c" || fail "building nvme-kbench failed"
install -m 755 "$HERE/guest-nvme-bench.sh" "$STAGE/bench/guest-nvme-bench.sh"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$OUT/overlay.cpio.gz"
# The kernel unpacks concatenated archives in order: the overlay adds to the base image.
cat "$BASE_INITRD" "$OUT/overlay.cpio.gz" >"$OUT/initrd.img"
cp "$KERNEL" "$OUT/vmlinuz"
rm -rf "$STAGE"
log "image: $(du -sh "$OUT/initrd.img" | cut -f1)"
echo "KERNEL=$OUT/vmlinuz"
echo "INITRD=$OUT/initrd.img"
