#!/bin/sh
# Guest side of the forwarding benchmark (issue 14 item 6; run once by init.sh through hp.run=/bench/fwd-guest.sh,
# everything on the console). Devices: e1000 A at rp1 (0000:01:00.0) and e1000 B at rp2 (0000:02:00.0), alone on
# QEMU hub 0. Kernel command line: hp.scen=a,b,... (SIDE-INFLIGHT-DRIVER, SIDE ours or dpdk, DRIVER vfio-pci or
# igb_uio; dpdkhuge: DPDK on vfio-pci with 2 MiB hugepages instead of --no-huge), hp.secs=S. Per scenario: bind both NICs, run our agent's e1000-fwd or fwd (DPDK's em PMD), print
# "HPB res SIDE INFLIGHT DRIVER <its JSON line>". Nothing is ever removed.
A=0000:01:00.0
B=0000:02:00.0
. /bench/guest-lib.sh # DEV, arg, mark, wait_exists, wait_gone, bind, hugepages
SCEN=$(arg scen | tr ',' ' '); [ -n "$SCEN" ] || SCEN="ours-256-vfio-pci dpdk-256-vfio-pci"
SECS=$(arg secs); [ -n "$SECS" ] || SECS=5

hugepages 64
echo 0 >/sys/bus/pci/drivers_autoprobe
mark "guest kernel=$(uname -r) cpus=$(nproc) scen=$SCEN secs=$SECS"
for s in $SCEN; do
    side=${s%%-*}; rest=${s#*-}; inflight=${rest%%-*}; drv=${rest#*-}
    bind $A "$drv" && bind $B "$drv" || continue
    mark "fwd-start side=$side inflight=$inflight driver=$drv"
    case "$side" in
        ours) /agent/hotplug-vm-agent e1000-fwd $A $B "$SECS" "$inflight" >/tmp/fwd.out 2>&1 ;;
        dpdk|dpdkhuge)
            # As the other benchmarks run DPDK (vfio: 4 KiB pages); dpdkhuge: vfio on the 2 MiB hugepages too.
            case "$side-$drv" in
                *-igb_uio) mem="--iova-mode=pa -m 64" ;;
                dpdkhuge-*) mem="--iova-mode=va -m 64" ;;
                *) mem="--iova-mode=va --no-huge -m 96" ;;
            esac
            /bench/fwd -l 0 -n 1 -d /dpdk/pmds --no-telemetry $mem -a $A -a $B -- $A $B "$SECS" "$inflight" \
                >/tmp/fwd.out 2>&1 ;;
    esac
    rc=$?
    cat /tmp/fwd.out
    line=$(grep -E '"t":"(e1000|dpdk)-fwd"' /tmp/fwd.out | tail -1)
    mark "res $side $inflight $drv rc=$rc ${line:-none}"
done
mark "all-done"
