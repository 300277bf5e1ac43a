#!/usr/bin/env bash
# Builds the guest of the Vm test tier: a Debian cloud kernel (extracted, not installed) and a busybox
# initramfs with uio, uio_pci_generic, igb_uio (built here from Debian's dpdk-kmods-dkms source against
# the same kernel's headers), the vfio stack, the static helper hpguest, and optionally the guest agent.
#
#   build-image.sh [--agent DIR] [--cache DIR] [--force]
#
# Output (stdout, last lines): KEY=VALUE lines, among them IMAGE_DIR, KERNEL, INITRD, KERNEL_VERSION.
# The image goes to <cache>/image (default cache: <repo>/.vm-cache, ignored by git) and is rebuilt only
# when its inputs change: this script, init.sh, hpguest.c (+ hpguest-marks.h), the resolved package versions and the
# agent directory's contents. The extracted kernel and the built igb_uio.ko are cached per kernel package
# version under <cache>/kernel/.
#
# Needs root (apt-get). Missing tools are installed from Debian's archive; anything that cannot be had
# ends the script with a non-zero status and a message saying what is missing. Never touches the host's
# PCI devices.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${HP_VM_CACHE:-$ROOT/.vm-cache}
AGENT_DIR=${HP_VM_AGENT_DIR:-}
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --agent) AGENT_DIR=$2; shift 2 ;;
        --cache) CACHE=$2; shift 2 ;;
        --force) FORCE=1; shift ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "build-image: $*" >&2; }
fail() { echo "build-image: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2 || fail "apt-get update failed"
        APT_UPDATED=1
    fi
}

need_pkgs=()
check_tool() { # command package
    command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2")
}
check_tool qemu-system-x86_64 qemu-system-x86
check_tool cpio cpio
check_tool make make
check_tool gcc gcc
check_tool depmod kmod
check_tool xz xz-utils
check_tool gzip gzip
check_tool sha256sum coreutils
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    need_pkgs+=(busybox-static)
fi
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_pkgs+=(libc6-dev)

if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "missing packages (${need_pkgs[*]}) and not root: cannot install them"
    apt_update_once
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 \
        || fail "apt-get install ${need_pkgs[*]} failed"
fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || fail "busybox-static did not provide /bin/busybox"
ldd "$BUSYBOX" >/dev/null 2>&1 && fail "$BUSYBOX is not static"

# ---------------------------------------------------------------- resolve versions (never pinned)
# One apt-cache call per step: each costs ~0.5 s.
declare -A CAND=()
resolve_candidates() { # packages... -> fills CAND[pkg]=version
    local pkg="" line
    while IFS= read -r line; do
        case "$line" in
            [!\ ]*:) pkg=${line%:} ;;
            *Candidate:*) CAND[$pkg]=${line##*Candidate: } ;;
        esac
    done < <(apt-cache policy "$@" 2>/dev/null)
}
resolve_candidates linux-image-cloud-amd64
case "${CAND[linux-image-cloud-amd64]:-(none)}" in "(none)") apt_update_once ;; esac
DEPS=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null)
KPKG=$(awk '/Depends: linux-image-/ {print $2; exit}' <<<"$DEPS")
[ -n "$KPKG" ] || fail "cannot resolve the kernel package from linux-image-cloud-amd64"
KVER=${KPKG#linux-image-}
HPKG=linux-headers-$KVER
HDEPS=$(apt-cache depends "$HPKG" 2>/dev/null | awk '/Depends: linux-(headers|kbuild)-/ {print $2}')
[ -n "$HDEPS" ] || fail "cannot resolve the dependencies of $HPKG"
PKGS=("$KPKG" "$HPKG" $HDEPS dpdk-kmods-dkms)
resolve_candidates "${PKGS[@]}"
VERSIONS=""
for p in "${PKGS[@]}"; do
    v=${CAND[$p]:-}
    [ -n "$v" ] && [ "$v" != "(none)" ] || fail "package $p has no candidate version"
    VERSIONS+="$p=$v"$'\n'
done
BBVER=$(dpkg-query -W -f='${Version}' busybox-static)
VERSIONS+="busybox-static=$BBVER"$'\n'
log "kernel $KVER (${CAND[$KPKG]})"

# ---------------------------------------------------------------- kernel, headers, igb_uio (cached)
KDIR=$CACHE/kernel/$KVER-${CAND[$KPKG]}
if [ ! -e "$KDIR/.done" ]; then
    log "downloading and extracting ${PKGS[*]}"
    rm -rf "$KDIR"
    mkdir -p "$KDIR/debs" "$KDIR/root" "$KDIR/igb_uio"
    (cd "$KDIR/debs" && apt-get download "${PKGS[@]}" >&2 2>"$KDIR/download.log") \
        || { cat "$KDIR/download.log" >&2; fail "apt-get download failed"; }
    for d in "$KDIR"/debs/*.deb; do dpkg-deb -x "$d" "$KDIR/root"; done
    R=$KDIR/root
    H=$R/usr/src/linux-headers-$KVER
    [ -f "$R/boot/vmlinuz-$KVER" ] || fail "no vmlinuz in $KPKG"
    [ -f "$H/Makefile" ] || fail "no headers in $HPKG"
    # The headers' Makefiles point at /usr/src/...: point them at the extraction instead.
    grep -rl --include='Makefile*' '/usr/src/' "$H" | xargs -r sed -i "s#/usr/src/#$R/usr/src/#g"
    SRC=$(ls -d "$R"/usr/src/dpdk-kmods-*/ 2>/dev/null | head -1)
    [ -n "$SRC" ] && [ -f "$SRC/igb_uio.c" ] || fail "no igb_uio.c in dpdk-kmods-dkms"
    cp "$SRC"/*.c "$SRC"/*.h "$KDIR/igb_uio/"
    echo 'obj-m := igb_uio.o' >"$KDIR/igb_uio/Kbuild"
    log "building igb_uio.ko"
    make -s -C "$H" M="$KDIR/igb_uio" modules >"$KDIR/igb_uio/build.log" 2>&1 \
        || { cat "$KDIR/igb_uio/build.log" >&2; fail "igb_uio build failed"; }
    [ -f "$KDIR/igb_uio/igb_uio.ko" ] || fail "igb_uio.ko not produced"
    depmod -b "$R" "$KVER" || fail "depmod on the extracted kernel failed"
    rm -rf "$KDIR/debs"
    touch "$KDIR/.done"
fi
R=$KDIR/root
MODROOT=$R/lib/modules/$KVER

# ---------------------------------------------------------------- inputs hash
agent_hash() {
    [ -n "$AGENT_DIR" ] || { echo none; return; }
    [ -d "$AGENT_DIR" ] || fail "agent directory $AGENT_DIR does not exist"
    (cd "$AGENT_DIR" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
HASH=$( {
    sha256sum "$HERE/build-image.sh" "$HERE/init.sh" "$HERE/hpguest.c" "$HERE/hpguest-marks.h" "$HERE/hpsend.c" | cut -d' ' -f1
    echo "$VERSIONS"
    echo "agent=$(agent_hash)"
} | sha256sum | cut -d' ' -f1)

IMG=$CACHE/image
emit() {
    echo "IMAGE_DIR=$IMG"
    echo "KERNEL=$IMG/vmlinuz"
    echo "INITRD=$IMG/initrd.img"
    echo "KERNEL_VERSION=$KVER"
    echo "HASH=$HASH"
}
if [ "$FORCE" = 0 ] && [ -f "$IMG/stamp" ] && [ "$(cat "$IMG/stamp")" = "$HASH" ] \
    && [ -f "$IMG/vmlinuz" ] && [ -f "$IMG/initrd.img" ]; then
    log "image up to date ($HASH)"
    emit
    exit 0
fi

# ---------------------------------------------------------------- initramfs
log "building initramfs"
STAGE=$CACHE/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,agent,lib/modules/"$KVER"}
cp "$BUSYBOX" "$STAGE/bin/busybox"
for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$STAGE/bin/$a"
done
mknod -m 600 "$STAGE/dev/console" c 5 1
mknod -m 666 "$STAGE/dev/null" c 1 3

gcc -static -O2 -Wall -Wextra -Werror -o "$STAGE/bin/hpguest" "$HERE/hpguest.c" || fail "building hpguest failed"
# The fail-safe scenario's traffic source (sequence-numbered frames on the guest's virtio-net NIC).
gcc -static -O2 -Wall -Wextra -Werror -o "$STAGE/bin/hpsend" "$HERE/hpsend.c" || fail "building hpsend failed"

# Modules and their dependencies, from the generated modules.dep.
WANT="virtio_pci virtio_console virtio_net uio uio_pci_generic vfio vfio_iommu_type1 vfio_pci_core vfio_pci"
declare -A SEEN=()
ORDER=()
norm() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }
dep_line() { # module name -> "path: deps" line
    awk -v m="$1" -F: '{ n=$1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); if (n == m) { print; exit } }' "$MODROOT/modules.dep"
}
add_mod() {
    local m; m=$(norm "$1")
    [ -n "${SEEN[$m]:-}" ] && return 0
    SEEN[$m]=1
    local line; line=$(dep_line "$m")
    if [ -z "$line" ]; then
        grep -Eq "/${m//_/[-_]}\.ko" "$MODROOT/modules.builtin" && { log "module $m is built in"; return 0; }
        fail "module $m not found in $KVER"
    fi
    local path=${line%%:*} deps=${line#*:} d
    for d in $deps; do add_mod "$d"; done
    mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$path")"
    case "$path" in
        *.ko.xz) xz -dc "$MODROOT/$path" >"$STAGE/lib/modules/$KVER/${path%.xz}" ;;
        *.ko.zst) zstd -qdc "$MODROOT/$path" >"$STAGE/lib/modules/$KVER/${path%.zst}" ;;
        *.ko.gz) gzip -dc "$MODROOT/$path" >"$STAGE/lib/modules/$KVER/${path%.gz}" ;;
        *) cp "$MODROOT/$path" "$STAGE/lib/modules/$KVER/$path" ;;
    esac
    ORDER+=("$m")
}
for m in $WANT; do add_mod "$m"; done
mkdir -p "$STAGE/lib/modules/$KVER/extra"
cp "$KDIR/igb_uio/igb_uio.ko" "$STAGE/lib/modules/$KVER/extra/"
ORDER+=(igb_uio)
cp "$MODROOT"/modules.builtin "$MODROOT"/modules.builtin.modinfo "$MODROOT"/modules.order "$STAGE/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$STAGE" "$KVER" || fail "depmod on the initramfs failed"
printf '%s\n' "${ORDER[@]}" >"$STAGE/etc/hp-modules"
log "modules: ${ORDER[*]}"

# The agent and the shared libraries its ELF files need (found with ldd, copied to the same paths).
if [ -n "$AGENT_DIR" ]; then
    cp -a "$AGENT_DIR"/. "$STAGE/agent/"
    libs=$(find "$STAGE/agent" -type f | while read -r f; do
            [ "$(head -c4 "$f" | tail -c3)" = ELF ] && ldd "$f" 2>/dev/null; done \
        | grep -Eo '/[^ ]+\.so[^ ]*' | sort -u)
    for l in $libs; do
        [ -e "$l" ] || continue
        mkdir -p "$STAGE$(dirname "$l")"
        cp -L "$l" "$STAGE$l"
    done
    log "agent: $(cd "$STAGE/agent" && ls | tr '\n' ' '); libs: $(echo $libs)"
fi
mkdir -p "$STAGE/lib64" "$STAGE/lib/x86_64-linux-gnu"

install -m 755 "$HERE/init.sh" "$STAGE/init"
mkdir -p "$IMG"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$IMG/initrd.img.tmp"
cp "$R/boot/vmlinuz-$KVER" "$IMG/vmlinuz"
mv "$IMG/initrd.img.tmp" "$IMG/initrd.img"
{
    echo "kernel_version=$KVER"
    echo "$VERSIONS"
    echo "modules=${ORDER[*]}"
    echo "agent=$AGENT_DIR"
} >"$IMG/manifest.txt"
echo "$HASH" >"$IMG/stamp"
rm -rf "$STAGE"
log "image ready: $(du -sh "$IMG" | cut -f1)"
emit
