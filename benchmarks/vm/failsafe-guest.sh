#!/bin/sh
# Guest side of the fail-safe benchmark (issue 14 item 4; run once by init.sh through hp.run=/bench/failsafe-guest.sh,
# everything on the console, ttyS0, where the host stamps each line as it arrives).
#
# Devices (plugged by the host at boot): e1000 "nic1" at rp1 (0000:01:00.0, the primary) and "nic2" at rp2
# (0000:02:00.0, the standby), both on QEMU hub 0 with a virtio-net NIC (eth0, driven by the guest kernel) from
# which hpsend sends sequence-numbered frames. Kernel command line: hp.scen=a,b,... (SIDE-DRIVER, SIDE one of
# ours, ours_mbb (make-before-break at the switch-back), ours_s1500 (a 1.5 s switch-back settle), dpdk; DRIVER vfio-pci or igb_uio), hp.pps=N, hp.secs=S.
#
# Per scenario: bind both NICs, start the receiver (ours: the agent's failsafe scenario; DPDK: fsrecv, the
# failsafe PMD over the two NICs), start the sender once the receiver runs ("rx-start"), and mark "HPB pull": the
# host does device_del nic1 a fixed time later, then device_add nic1; the guest binds the new nic1 to the same
# driver (as an admin or a udev rule would). The receivers stop by themselves. The guest never removes anything.
P=0000:01:00.0
S=0000:02:00.0
. /bench/guest-lib.sh # DEV, arg, mark, wait_exists, wait_gone, bind, hugepages
SCEN=$(arg scen | tr ',' ' '); [ -n "$SCEN" ] || SCEN="ours-vfio-pci ours_s1500-vfio-pci dpdk-vfio-pci ours-igb_uio ours_s1500-igb_uio dpdk-igb_uio"
PPS=$(arg pps); [ -n "$PPS" ] || PPS=5000
SECS=$(arg secs); [ -n "$SECS" ] || SECS=14

hugepages 64
echo 0 >/sys/bus/pci/drivers_autoprobe
ip link set eth0 up
mark "guest kernel=$(uname -r) hugepages=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) scen=$SCEN pps=$PPS secs=$SECS"
# The guest's clock, for the host's guest->host offset (the host stamps each console line on arrival).
( while :; do echo "HPB clock $(hpguest now)"; sleep 0.5; done ) &
CLK=$!

run() { # side driver
    side=$1 drv=$2
    bind $P "$drv" && bind $S "$drv" || return 1
    rm -f /tmp/rx.out
    mark "fs-start side=$side driver=$drv"
    case "$side" in
        ours) /agent/hotplug-vm-agent failsafe $P $S $((SECS + 6)) | tee /tmp/rx.out & ;;
        ours_mbb) /agent/hotplug-vm-agent failsafe $P $S $((SECS + 6)) mbb | tee /tmp/rx.out & ;;
        ours_s1500) /agent/hotplug-vm-agent failsafe $P $S $((SECS + 6)) settle=1500 | tee /tmp/rx.out & ;;
        dpdk)
            case "$drv" in
                igb_uio) mem="--iova-mode=pa -m 64" ;;
                *) mem="--iova-mode=va --no-huge -m 96" ;;
            esac
            /bench/fsrecv -l 0 -n 1 -d /dpdk/pmds --no-telemetry $mem \
                --vdev "net_failsafe0,dev($P),dev($S)" -b $P -b $S -- $((SECS + 6)) | tee /tmp/rx.out & ;;
    esac
    rcv=$!
    n=0
    until grep -q '"rx-start"' /tmp/rx.out 2>/dev/null; do
        n=$((n + 1))
        [ $n -gt 1500 ] && { mark "error no-rx-start side=$side driver=$drv"; kill $rcv 2>/dev/null; wait $rcv; return 1; }
        sleep 0.02
    done
    sleep 1
    hpsend tx eth0 "$PPS" "$SECS" &
    snd=$!
    mark "pull side=$side driver=$drv"
    wait_gone $DEV/$P 60 || mark "error primary-not-removed"
    mark "gone side=$side"
    wait_exists $DEV/$P 60 || mark "error primary-not-back"
    bind $P "$drv" && mark "rebound side=$side driver=$drv"
    wait $snd
    wait $rcv
    mark "fs-end side=$side driver=$drv"
}

for s in $SCEN; do
    run "${s%%-*}" "${s#*-}"
done
kill $CLK 2>/dev/null
mark "all-done"
