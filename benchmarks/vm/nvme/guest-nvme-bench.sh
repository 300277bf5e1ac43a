#!/bin/sh
# Guest side of the NVMe peer benchmark (benchmarks/vm/run-nvme-bench.sh; run once by init.sh through
# hp.run=/bench/guest-nvme-bench.sh). Everything goes to the console (ttyS0), where the host stamps each line.
#
# The QEMU NVMe controller "nvme1" sits alone behind root port rp2 (guest 0000:01:00.0; found by class). The kernel's nvme driver (built in) takes it at
# boot: first the kernel side (nvme-kbench on /dev/nvme0n1, O_DIRECT), then ours (the agent binds the controller
# to vfio-pci and runs nvme-bench). Each side ends with a removal run: when it prints "removal-running" the host
# writes a marker to ttyS1 (stamped here by `hpguest marks`) and sends device_del, then device_add 1 s after
# QEMU's DEVICE_DELETED. For the kernel side drivers_autoprobe stays 1 (the nvme driver takes the controller back
# by itself); for ours it is 0 and the agent binds vfio-pci on the ADD (as a udev rule would).
# Kernel command line: hp.qd=QD hp.latn=N hp.iopsms=MS hp.maxms=MS hp.postms=MS hp.sides=kernel,ours hp.errnowait=MS.
nvme_bdf() { # the NVMe controller's address (class 01:08:02), whatever bus number the kernel gave its root port
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/class" 2>/dev/null)" = 0x010802 ] && { basename "$d"; return 0; }
    done
    return 1
}
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^hp\.$1=//p"; }
mark() { echo "HPB $*"; }
QD=$(arg qd); [ -n "$QD" ] || QD=32
LATN=$(arg latn); [ -n "$LATN" ] || LATN=2000
IOPSMS=$(arg iopsms); [ -n "$IOPSMS" ] || IOPSMS=3000
MAXMS=$(arg maxms); [ -n "$MAXMS" ] || MAXMS=60000
POSTMS=$(arg postms); [ -n "$POSTMS" ] || POSTMS=500
ERRNOWAIT=$(arg errnowait); [ -n "$ERRNOWAIT" ] || ERRNOWAIT=0
SIDES=$(arg sides | tr ',' ' '); [ -n "$SIDES" ] || SIDES="kernel ours"

mkdir -p /dev/hugepages
mount -t hugetlbfs nodev /dev/hugepages
mark "guest kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) qd=$QD latn=$LATN iopsms=$IOPSMS postms=$POSTMS sides=$SIDES"
hpguest marks /dev/ttyS1 &
STAMP=$!

n=0
until ls /sys/block 2>/dev/null | grep -q '^nvme[0-9]*n1$'; do
    n=$((n + 1)); [ $n -gt 500 ] && { mark "error no /dev/nvme*n1 from the kernel's nvme driver"; break; }
    sleep 0.02
done
BDF=$(nvme_bdf) || mark "error no NVMe controller; functions: $(ls /sys/bus/pci/devices | tr '\n' ' ')"
mark "nvme bdf=$BDF driver=$(ls -l /sys/bus/pci/devices/$BDF/driver | sed "s#.*/##") block=$(ls /sys/block | grep nvme | tr '\n' ' ')"
sleep 1 # the host sends its round-trip pings to the marker port

for side in $SIDES; do
    case "$side" in
    kernel)
        echo 1 >/sys/bus/pci/drivers_autoprobe
        mark "kernel-start"
        nvme-kbench lat "$LATN"
        nvme-kbench iops "$QD" "$IOPSMS"
        nvme-kbench removal "$QD" "$MAXMS" "$POSTMS" "$ERRNOWAIT"
        mark "kernel-end rc=$?" ;;
    ours)
        echo 0 >/sys/bus/pci/drivers_autoprobe
        n=0
        until BDF=$(nvme_bdf); do
            n=$((n + 1)); [ $n -gt 250 ] && { mark "error no NVMe controller; functions: $(ls /sys/bus/pci/devices | tr '\n' ' ')"; break; }
            sleep 0.02
        done
        mark "ours-start bdf=$BDF"
        /agent/hotplug-vm-agent nvme-bench $BDF "$LATN" "$IOPSMS" "$QD" "$MAXMS" "$POSTMS"
        mark "ours-end rc=$?" ;;
    *) mark "error unknown side $side" ;;
    esac
    sleep 0.5
done
kill $STAMP 2>/dev/null
mark "all-done"
