#!/bin/sh
# Guest side of the VM benchmark (run once by init.sh through hp.run=/bench/guest-bench.sh; everything
# goes to the console, ttyS0; every line that times a step carries the guest's CLOCK_MONOTONIC: our agent's
# JSON "ms", testpmd's lines through `hpguest stamp TP`, the uevents through `hpguest uevents`).
#
# Device (plugged by the host at boot): the QEMU e1000 "dut" at rp1 (0000:01:00.0), for DPDK and for our agent
# alike. The marker port: ttyS1, read by `hpguest marks` (the host's device_del / device_add on the guest clock).
# Kernel command line: hp.cycles=N, hp.scen=a,b,... (dpdk-igb_uio, dpdk-vfio-pci, ours-igb_uio, ours-vfio-pci; pairs-DRV
# alternates a DPDK cycle and one of ours N times, so that both see the same guest and host).
#
# Protocol: lines "HPB <what> ..." mark the steps; the host pulls and plugs the devices (QMP) when it
# sees testpmd's "Press enter to exit" or the agent's "attached"/"reattached". The guest never does the
# removal itself.
DUT=0000:01:00.0
. /bench/guest-lib.sh # DEV, arg, mark, wait_exists, wait_gone, bind, hugepages
CYCLES=$(arg cycles); [ -n "$CYCLES" ] || CYCLES=3
SCEN=$(arg scen | tr ',' ' '); [ -n "$SCEN" ] || SCEN="dpdk-igb_uio dpdk-vfio-pci ours-igb_uio ours-vfio-pci"

hugepages 64
mark "guest kernel=$(uname -r) clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) hugepages=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) cycles=$CYCLES scen=$SCEN"
# Every kernel uevent, stamped with the guest's monotonic clock (the first kernel signal of a removal).
hpguest uevents 86400000 &
UEV=$!
hpguest marks /dev/ttyS1 &
MARKS=$!
sleep 0.3

# hp.trace=1 (run-vm-bench.sh --trace; 2: --trace-kernel, the kernel's removal path alone): ftrace on the guest's CLOCK_MONOTONIC while the DUT is bound, printed as "TR "
# lines from the hot-plug interrupt (ACPI on q35) to 300 ms after the removal. A diagnostic: tracing and polling perturb timings.
T=/sys/kernel/tracing
trace_setup() {
    mount -t tracefs nodev $T 2>/dev/null
    echo mono >$T/trace_clock
    echo 8192 >$T/buffer_size_kb
    echo 0 >$T/tracing_on
    for p in 'p:hp/vfio_request vfio_pci_core_request count=%si:u32' \
        'p:hp/vfio_remove vfio_pci_remove' 'p:hp/eventfd eventfd_signal' \
        'p:hp/stop_remove pci_stop_and_remove_bus_device' 'p:hp/release_driver device_release_driver'; do
        echo "$p" >>$T/kprobe_events 2>/dev/null || mark "trace: no kprobe $p"
    done
    events="hp irq/irq_handler_entry" # hp.trace=2: the kernel's removal path only
    [ "$1" = 2 ] || events="$events sched/sched_switch sched/sched_wakeup sched/sched_migrate_task \
        syscalls/sys_enter_epoll_wait syscalls/sys_exit_epoll_wait syscalls/sys_enter_write exceptions/page_fault_user"
    for e in $events; do
        echo 1 >$T/events/$e/enable 2>/dev/null || mark "trace: no event $e"
    done
}
trace_windows() {
    while :; do
        wait_exists $DEV/$DUT/driver 86400 || return
        echo >$T/trace; echo 1 >$T/tracing_on
        wait_gone $DEV/$DUT 86400 || return
        sleep 0.3; echo 0 >$T/tracing_on
        sed -n '/name=acpi/,$s/^/TR /p' $T/trace # from the hot-plug interrupt (ACPI's GPE on q35) on
    done
}
TRACER=
case "$(arg trace)" in 1|2) trace_setup "$(arg trace)"; trace_windows & TRACER=$! ;; esac

dpdk_cycle() { # driver cycle
    drv=$1
    bind $DUT "$drv" || return 1
    case "$drv" in
        igb_uio) mem="--iova-mode=pa -m 64" ;;
        *) mem="--iova-mode=va --no-huge -m 96" ;;
    esac
    rm -f /tmp/tp.in /tmp/tp.out; mkfifo /tmp/tp.in /tmp/tp.out
    exec 7<>/tmp/tp.in
    # testpmd's lines (stdout, line-buffered by linebuf.so, and the EAL log on stderr) stamped on the guest clock.
    hpguest stamp TP </tmp/tp.out &
    stamper=$!
    mark "dpdk-start driver=$drv cycle=$2"
    # stdin is the FIFO: testpmd forwards until it reads a line ("Press enter to exit").
    LD_PRELOAD=/bench/linebuf.so dpdk-testpmd -l 0-1 -n 1 -d /dpdk/pmds -a $DUT --log-level=lib.eal:debug --no-telemetry $mem -- \
        --hot-plug --forward-mode=io --auto-start --total-num-mbufs=2048 --rxq=1 --txq=1 <&7 >/tmp/tp.out 2>&1 &
    tp=$!
    n=0
    while [ -e $DEV/$DUT ]; do
        kill -0 $tp 2>/dev/null || { mark "error testpmd-exited"; break; }
        n=$((n + 1)); [ $n -gt 6000 ] && { mark "error dut-not-removed"; break; }
        sleep 0.02
    done
    mark "dpdk-gone"
    # The host plugs it back after DPDK's detach (or a timeout); bind the kernel driver like an admin or
    # udev rule would, then give DPDK a few seconds to notice and re-attach (it does not, in 22.11).
    wait_exists $DEV/$DUT 120 || { mark "error dut-not-back"; }
    mark "dpdk-back"
    bind $DUT "$drv" && mark "dpdk-rebound driver=$drv"
    sleep 3
    echo >&7
    n=0
    while kill -0 $tp 2>/dev/null; do
        n=$((n + 1))
        [ $n = 250 ] && kill -INT $tp
        [ $n = 500 ] && kill -KILL $tp
        sleep 0.02
    done
    wait $tp; rc=$?
    wait $stamper
    exec 7>&-
    mark "dpdk-end driver=$drv cycle=$2 rc=$rc"
}

ours() { # driver [cycles [number of the first]]: one agent process for all of them
    ours_n=${2:-$CYCLES} # not n: the shell's variables are global, and bind counts with n
    bind $DUT "$1" || return 1
    mark "ours-start driver=$1 cycles=$ours_n first=${3:-1}"
    HP_RX_IDLE=$(arg rxidle) /agent/hotplug-vm-agent hotplug $DUT "$1" "$ours_n" e1000
    mark "ours-end driver=$1 rc=$?"
}

for s in $SCEN; do
    case "$s" in
        dpdk-*)
            c=1
            while [ $c -le "$CYCLES" ]; do dpdk_cycle "${s#dpdk-}" $c || break; c=$((c + 1)); done ;;
        ours-*) ours "${s#ours-}" ;;
        pairs-*) # alternate: a DPDK cycle, then one of ours (a fresh process each, as testpmd), CYCLES times
            c=1
            while [ $c -le "$CYCLES" ]; do
                dpdk_cycle "${s#pairs-}" $c || break
                ours "${s#pairs-}" 1 $c || break
                c=$((c + 1))
            done ;;
        *) mark "error unknown scenario $s" ;;
    esac
done
kill $UEV $MARKS $TRACER 2>/dev/null
mark "all-done"
