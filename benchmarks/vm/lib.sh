#!/usr/bin/env bash
# What the host sides of the VM benchmarks share (run-vm-bench.sh, run-nvme-bench.sh, run-failsafe-bench.sh source it):
# the run directory with its channels to the guest, the stamping of every line they carry, and QEMU's start and stop.
#
#   vm_channels RUN con qmp [mk]   creates RUN, LOGF=RUN/events.tlog and a pipe pair per channel (RUN/NAME.in/.out),
#                                  and stamps every line the guest writes on each ("<host epoch s> <name> <line>")
#   vm_qemu_args SMP               the common QEMU command line into QEMU=(...): TCG, q35, 1 GiB, the kernel ($KERNEL),
#                                  initrd ($INITRD) and command line ($APPEND), a chardev per channel (con and mk as
#                                  serial ports, qmp as the monitor), the emulated IOMMU; append the devices after it
#   vm_qemu_start                  writes RUN/qemu.cmdline, starts QEMU (QPID, RUN/qemu.pid), kills it and the readers
#                                  on exit, opens QIN (and MK) for writing, sends qmp_capabilities
# Nothing here touches the host's PCI devices: the devices are QEMU's, inside the guest.

stamp() { # source: stamps every line of stdin into LOGF
    local l
    while IFS= read -r l; do
        printf '%s %s %s\n' "$EPOCHREALTIME" "$1" "${l//$'\r'/}" >>"$LOGF"
    done
}

vm_channels() {
    RUN=$1; shift
    CHANNELS=("$@")
    mkdir -p "$RUN"
    LOGF=$RUN/events.tlog
    : >"$LOGF"
    READERS=""
    local c
    for c in "${CHANNELS[@]}"; do
        mkfifo "$RUN/$c.in" "$RUN/$c.out"
        stamp "$c" <"$RUN/$c.out" &
        READERS="$READERS $!"
    done
}

vm_qemu_args() {
    QEMU=(qemu-system-x86_64 -accel tcg -cpu max -M q35 -m 1024 -smp "$1"
        -nodefaults -no-reboot -display none -monitor none
        -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
    local c
    for c in "${CHANNELS[@]}"; do
        case "$c" in
            qmp) QEMU+=(-chardev "pipe,id=qmp,path=$RUN/qmp" -mon chardev=qmp,mode=control) ;;
            *) QEMU+=(-chardev "pipe,id=$c,path=$RUN/$c" -serial "chardev:$c") ;;
        esac
    done
    QEMU+=(-device intel-iommu,intremap=on)
}

vm_cleanup() {
    kill "$QPID" 2>/dev/null || true
    [ -n "${TAILPID:-}" ] && kill "$TAILPID" 2>/dev/null || true
    local p
    for p in $READERS; do kill "$p" 2>/dev/null || true; done
}

qmp() { printf '%s\n' "$1" >&"$QIN"; }
host() { printf '%s host %s\n' "$1" "$2" >>"$LOGF"; }

vm_qemu_start() {
    printf '%q ' "${QEMU[@]}" >"$RUN/qemu.cmdline"
    "${QEMU[@]}" >"$RUN/qemu.stderr" 2>&1 &
    QPID=$!
    echo "$QPID" >"$RUN/qemu.pid"
    trap vm_cleanup EXIT
    exec {QIN}>"$RUN/qmp.in"
    if [ -p "$RUN/mk.in" ]; then exec {MK}>"$RUN/mk.in"; fi
    qmp '{"execute":"qmp_capabilities"}'
}
