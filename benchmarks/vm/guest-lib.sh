#!/bin/sh
# What the VM benchmarks' guest scripts share (guest-bench.sh, failsafe-guest.sh, fwd-guest.sh source it; installed
# as /bench/guest-lib.sh by build-peer-image.sh): kernel command-line arguments, step lines, waits, binding a
# function to a driver as an admin would, and the hugepages DPDK and our agent use.
DEV=/sys/bus/pci/devices
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^hp\.$1=//p"; }
mark() { echo "HPB $*"; }
wait_exists() { # path timeout_s
    n=0
    while [ ! -e "$1" ]; do
        n=$((n + 1)); [ $n -gt $(($2 * 50)) ] && return 1
        sleep 0.02
    done
}
wait_gone() { # path timeout_s
    n=0
    while [ -e "$1" ]; do
        n=$((n + 1)); [ $n -gt $(($2 * 50)) ] && return 1
        sleep 0.02
    done
}
# bdf driver: driver_override + drivers_probe, probing again until bound (a function the kernel has only just added
# ignores the first probe).
bind() {
    wait_exists $DEV/$1/driver_override 30 || { mark "error no-device $1"; return 1; }
    cur=$(readlink $DEV/$1/driver 2>/dev/null); cur=${cur##*/}
    [ "$cur" = "$2" ] && return 0
    [ -n "$cur" ] && echo "$1" >$DEV/$1/driver/unbind
    echo "$2" >$DEV/$1/driver_override
    n=0
    while [ ! -e $DEV/$1/driver ]; do
        echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
        [ -e $DEV/$1/driver ] && break
        n=$((n + 1)); [ $n -gt 200 ] && { mark "error bind $1 $2"; return 1; }
        sleep 0.02
    done
}
hugepages() { # count of 2 MiB pages
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages
    echo "$1" >/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
}
