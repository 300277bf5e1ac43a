#!/usr/bin/env bash
# Builds the guest image of the VM benchmark: the Vm test tier's image (tests/Hotplug.VmTests/guest/
# build-image.sh: kernel, busybox, uio/igb_uio/vfio modules, hpguest, and our NativeAOT agent) plus a
# second cpio archive appended to its initramfs with the peer, DPDK 22.11's dpdk-testpmd (Debian's
# dpdk-dev), the libraries ldd lists for it and for its plugins, libgcc_s, the plugins (bus_pci,
# bus_vdev, mempool_ring, net_e1000, as *.so symlinks in /dpdk/pmds, passed with -d) and the guest side
# of the benchmark (guest-bench.sh, run by init.sh through hp.run=).
#
#   build-peer-image.sh [--cache DIR] [--no-agent]
#
# Output (stdout, last lines): KERNEL=..., INITRD=..., TESTPMD_VERSION=...
# Everything lands in the ignored cache (<repo>/.vm-cache by default); nothing fetched is committed.
# Needs root for apt-get (dpdk-dev is installed when dpdk-testpmd is missing). Never touches the host's
# PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
AGENT=1
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) CACHE=$2; shift 2 ;;
        --no-agent) AGENT=0; shift ;;
        *) echo "build-peer-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { echo "build-peer-image: $*" >&2; }
fail() { echo "build-peer-image: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- the peer: Debian's DPDK 22.11
TESTPMD=/usr/bin/dpdk-testpmd
if [ ! -x "$TESTPMD" ]; then
    [ "$(id -u)" = 0 ] || fail "dpdk-testpmd missing and not root"
    log "installing dpdk-dev (dpdk-testpmd) and the plugins"
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        dpdk-dev librte-net-e1000-23 librte-mempool-ring23 >&2 || fail "apt-get install dpdk-dev failed"
fi
TPVER=$(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || echo unknown)
LIBDIR=/usr/lib/x86_64-linux-gnu
PMDDIR=$(ls -d "$LIBDIR"/dpdk/pmds-* 2>/dev/null | head -1)
[ -n "$PMDDIR" ] || fail "no $LIBDIR/dpdk/pmds-* directory (DPDK plugins)"
PLUGINS=(bus_pci bus_vdev mempool_ring net_e1000)
PLUGIN_FILES=()
for p in "${PLUGINS[@]}"; do
    f=$(ls "$PMDDIR"/librte_"$p".so.* "$LIBDIR"/librte_"$p".so.* 2>/dev/null | head -1)
    [ -n "$f" ] || fail "plugin librte_$p not found (package librte-${p//_/-}*)"
    PLUGIN_FILES+=("$f")
done

# ---------------------------------------------------------------- the base image (kernel, modules, agent)
AGENT_ARGS=()
if [ "$AGENT" = 1 ]; then
    PUB=$CACHE/agent-publish
    log "publishing the agent (NativeAOT) -> $PUB"
    dotnet publish "$ROOT/tests/Hotplug.VmAgent/Hotplug.VmAgent.csproj" -c Release -o "$PUB" -nologo -v:q \
        -p:DebugType=none >&2 || fail "agent publish failed"
    rm -rf "$CACHE/agent-bench"
    mkdir -p "$CACHE/agent-bench"
    cp "$PUB/hotplug-vm-agent" "$PUB"/*.so "$CACHE/agent-bench/"
    AGENT_ARGS=(--agent "$CACHE/agent-bench")
fi
BASE=$(bash "$ROOT/tests/Hotplug.VmTests/guest/build-image.sh" --cache "$CACHE" "${AGENT_ARGS[@]}") \
    || fail "build-image.sh failed"
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$BASE")
BASE_INITRD=$(sed -n 's/^INITRD=//p' <<<"$BASE")
[ -f "$KERNEL" ] && [ -f "$BASE_INITRD" ] || fail "build-image.sh gave no kernel/initrd"

# ---------------------------------------------------------------- the overlay archive
STAGE=$CACHE/peer-stage
OUT=$CACHE/peer-image
rm -rf "$STAGE"
mkdir -p "$STAGE"/{dpdk/pmds,bench,usr/bin,var,lib64} "$OUT"
ln -s /run "$STAGE/var/run"
copy_path() { # file -> same path in the stage (symlinks resolved)
    mkdir -p "$STAGE$(dirname "$1")"
    cp -L "$1" "$STAGE$1"
}
copy_path "$TESTPMD"
LIBS=$( { ldd "$TESTPMD"; for f in "${PLUGIN_FILES[@]}"; do ldd "$f"; done; } | grep -Eo '/[^ ]+\.so[^ ]*' | sort -u)
for l in $LIBS "${PLUGIN_FILES[@]}" "$LIBDIR/libgcc_s.so.1"; do
    [ -e "$l" ] || fail "library $l missing"
    copy_path "$l"
done
# The plugin directory: *.so symlinks to the very files testpmd's DT_NEEDED load (the same inode, so the
# dynamic loader does not load a second copy of bus_pci/bus_vdev).
for f in "${PLUGIN_FILES[@]}"; do
    b=$(basename "$f")
    ln -s "$f" "$STAGE/dpdk/pmds/${b%%.so*}.so"
done
install -m 755 "$HERE/guest-bench.sh" "$STAGE/bench/guest-bench.sh"
install -m 644 "$HERE/guest-lib.sh" "$STAGE/bench/guest-lib.sh"
# Line-buffered stdout for testpmd behind a pipe (its lines are stamped on the guest clock by hpguest stamp).
gcc -O2 -Wall -shared -fPIC -o "$STAGE/bench/linebuf.so" "$HERE/linebuf.c" || fail "building linebuf.so failed"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$OUT/overlay.cpio.gz"
# The kernel unpacks concatenated archives in order: the overlay adds to the base image.
cat "$BASE_INITRD" "$OUT/overlay.cpio.gz" >"$OUT/initrd.img"
cp "$KERNEL" "$OUT/vmlinuz"
rm -rf "$STAGE"
log "peer image: $(du -sh "$OUT/initrd.img" | cut -f1) (testpmd $TPVER, $(wc -w <<<"$LIBS") libraries)"
echo "KERNEL=$OUT/vmlinuz"
echo "INITRD=$OUT/initrd.img"
echo "TESTPMD_VERSION=$TPVER"
