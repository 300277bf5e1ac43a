#!/bin/sh
# /init of the Vm test tier's guest (busybox initramfs, built by build-image.sh).
#
# Console: ttyS0 (kernel log + these init messages; the host logs it to a file).
# Control channel: ttyS1, a line protocol driven by the host harness (QemuGuest):
#   host -> guest:  "<id> <shell command>\n"
#   guest -> host:  JSON lines, one per event:
#     {"t":"ready","kernel":"...","uptime":"..."}               once, when the guest is ready
#     {"t":"done","id":N,"rc":R,"ms0":..,"ms1":..,"out64":"..."}  after each command (output base64)
#   Commands that stream JSON lines themselves (helpers, the agent) write to "$HP_CHAN".
# Kernel command line: hp.run=/path runs that program once instead of the control loop, with its
# output on the console, then powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HP_CHAN=/dev/ttyS1

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
    echo "{\"t\":\"fatal\",\"msg\":\"$*\"}" >"$HP_CHAN" 2>/dev/null
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

[ -c "$HP_CHAN" ] || die "no control channel $HP_CHAN"
stty -F "$HP_CHAN" raw -echo -echoe -echok -echoctl -echoke -opost || die "stty $HP_CHAN failed"
exec 3<"$HP_CHAN" 4>"$HP_CHAN"
say "ready; control loop on $HP_CHAN"
echo "{\"t\":\"ready\",\"kernel\":\"$(uname -r)\",\"uptime\":\"$(cut -d' ' -f1 /proc/uptime)\"}" >&4

while IFS= read -r line <&3; do
    line=$(printf '%s' "$line" | tr -d '\r')
    id=${line%% *}
    cmd=${line#* }
    case "$id" in
        ''|*[!0-9]*) say "ignored control line: $line"; continue ;;
    esac
    ms0=$(hpguest now)
    ( cd / && sh -c "$cmd" ) </dev/null >"/tmp/hp-out.$id" 2>&1
    rc=$?
    ms1=$(hpguest now)
    out=$(base64 "/tmp/hp-out.$id" | tr -d '\n')
    rm -f "/tmp/hp-out.$id"
    printf '{"t":"done","id":%s,"rc":%d,"ms0":%s,"ms1":%s,"out64":"%s"}\n' "$id" "$rc" "$ms0" "$ms1" "$out" >&4
done
die "control channel closed"
