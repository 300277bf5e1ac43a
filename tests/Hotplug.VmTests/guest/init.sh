#!/bin/sh
# /init of the Vm test tier's guest (busybox initramfs, built by build-image.sh).
#
# Console: ttyS0 (kernel log + these init messages; the host logs it to a file).
# Control channel: the virtio-serial port "hp.ctl", a line protocol driven by the host harness (QemuGuest):
#   host -> guest:  "<id> <shell command>\n"
#   guest -> host:  JSON lines, one per event:
#     {"t":"ready","kernel":"...","uptime":"..."}               once, when the guest is ready
#     {"t":"done","id":N,"rc":R,"ms0":..,"ms1":..,"out64":"..."}  after each command (output base64)
#   Commands that stream JSON lines themselves (helpers, the agent) write to "$HP_CHAN".
# Kernel command line: hp.run=/path runs that program once instead of the control loop, with its
# output on the console, then powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HP_CHAN=/run/hp-chan

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /tmp /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1

say() { echo "hp-init: $*"; }
die() {
    say "FATAL: $*"
    [ -p "$HP_CHAN" ] && echo "{\"t\":\"fatal\",\"msg\":\"$*\"}" >"$HP_CHAN"
    sleep 1
    poweroff -f
}

say "kernel $(uname -r), loading modules"
for m in $(cat /etc/hp-modules); do
    modprobe "$m" || die "modprobe $m failed"
done
say "modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"

run=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hp\.run=//p')
if [ -n "$run" ]; then
    say "hp.run=$run"
    echo "{\"t\":\"ready\",\"kernel\":\"$(uname -r)\",\"uptime\":\"$(cut -d' ' -f1 /proc/uptime)\"}"
    "$run"
    say "hp.run exited with $?"
    poweroff -f
fi

# The control port: a virtserialport named hp.ctl (virtio_console). It can be opened only once, so init
# opens it (fd 3, read+write) and a relay copies the FIFO $HP_CHAN to it: any process may open $HP_CHAN
# and write JSON lines (a write of up to 4096 bytes stays whole).
port=""
for i in $(seq 1 100); do
    for n in /sys/class/virtio-ports/*/name; do
        [ -f "$n" ] && [ "$(cat "$n")" = hp.ctl ] && port=/dev/$(basename "$(dirname "$n")")
    done
    [ -n "$port" ] && [ -c "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || die "no virtio-serial port named hp.ctl"
exec 3<>"$port"
mkfifo "$HP_CHAN"
( exec 5<>"$HP_CHAN"; exec cat <&5 >&3 ) &
say "ready; control loop on $port"
echo "{\"t\":\"ready\",\"kernel\":\"$(uname -r)\",\"uptime\":\"$(cut -d' ' -f1 /proc/uptime)\"}" >"$HP_CHAN"

while IFS= read -r line <&3; do
    line=$(printf '%s' "$line" | tr -d '\r')
    id=${line%% *}
    cmd=${line#* }
    case "$id" in
        ''|*[!0-9]*) say "ignored control line: $line"; continue ;;
    esac
    ms0=$(hpguest now)
    ( cd / && exec sh -c "$cmd" ) </dev/null >"/tmp/hp-out.$id" 2>&1 3<&-
    rc=$?
    ms1=$(hpguest now)
    out=$(base64 "/tmp/hp-out.$id" | tr -d '\n')
    rm -f "/tmp/hp-out.$id"
    printf '{"t":"done","id":%s,"rc":%d,"ms0":%s,"ms1":%s,"out64":"%s"}\n' "$id" "$rc" "$ms0" "$ms1" "$out" >"$HP_CHAN"
done
die "control channel closed"
