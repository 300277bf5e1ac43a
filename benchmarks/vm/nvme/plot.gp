# gnuplot script of the NVMe peer benchmark (called by figures.sh with -e setting tsv, svg, add_o, add_k,
# err_o, err_k, ok_o, ok_k, qd, run, aerr): completed 4 KiB reads per ms around device_del and device_add, ours on top,
# the kernel's nvme driver below, one time axis (ms from each side's device_del marker).
set terminal svg size 1000,640 dynamic font "Helvetica,12" background rgb "white"
set output svg
set datafile separator "\t"
set key autotitle columnhead
stats tsv using 1 nooutput
xmin = STATS_min
xmax = STATS_max
stats tsv using 2:3 nooutput
ymax = (STATS_max_x > STATS_max_y ? STATS_max_x : STATS_max_y) * 1.25 + 1
set xrange [xmin:xmax]
set yrange [0:ymax]
set grid ytics lc rgb "#dddddd"
set ylabel "reads completed / ms"
set multiplot layout 2,1 title sprintf("QEMU NVMe, QD%d 4 KiB random reads through device\\_del / device\\_add\n{/*0.8 %s}", qd, run)

mark(x, label, c) = sprintf("set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lw 1.5 lc rgb '%s'; set label '%s' at %g, graph 0.93 left offset 0.3,0 tc rgb '%s' font ',10'", x, x, c, label, x, c)

set title "ours: Hotplug.Nvme over vfio-pci (polled batch API)"
unset xlabel
eval mark(0, "device\\_del", "#b00000")
eval mark(add_o, "device\\_add", "#006000")
eval sprintf("set label 'first error +%.1f ms' at %g, graph 0.80 left offset 0.3,0 font ',10'", err_o, err_o)
eval sprintf("set label 'first read +%.1f ms after add' at %g, graph 0.67 right offset -0.3,0 font ',10'", ok_o - add_o, ok_o)
plot tsv using 1:2 with steps lc rgb "#1f5fbf" notitle
unset arrow
unset label

set title "kernel: nvme driver, /dev/nvme0n1 O\\_DIRECT, Linux AIO (reopened after the re-add)"
set xlabel sprintf("ms from device\\_del (each side's own, on the guest's CLOCK\\_MONOTONIC through the guest-host clock offset, ±%.1f ms)", aerr)
eval mark(0, "device\\_del", "#b00000")
eval mark(add_k, "device\\_add", "#006000")
eval sprintf("set label 'first error +%.1f ms' at %g, graph 0.80 left offset 0.3,0 font ',10'", err_k, err_k)
eval sprintf("set label 'first read +%.1f ms after add' at %g, graph 0.67 right offset -0.3,0 font ',10'", ok_k - add_k, ok_k)
plot tsv using 1:3 with steps lc rgb "#d07000" notitle
unset multiplot
