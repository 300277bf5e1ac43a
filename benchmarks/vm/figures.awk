# steps.tsv ("side driver cycle step ms") -> the vm-results.json that benchmarks/run.sh reads
# (schema: benchmarks/Hotplug.Benchmarks/Figures/VmFigures.cs): samples in µs from device_del/device_add.
function add(name, drvs, stp, target, note) {
    N++; fname[N] = name; fdrv[N] = drvs; fstep[N] = stp; ftarget[N] = target; fnote[N] = note
}
function list(side, drvs, stp,    k, out, n, i, parts, key) {
    out = ""; n = split(drvs, parts, ",")
    for (i = 1; i <= n; i++) {
        key = side SUBSEP parts[i] SUBSEP stp
        if (key in vals) out = out (out == "" ? "" : ", ") vals[key]
    }
    return out
}
function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
BEGIN { FS = "\t" }
{
    key = $1 SUBSEP $2 SUBSEP $4
    v = sprintf("%.0f", $5 * 1000)
    if (key in vals) vals[key] = vals[key] ", " v
    else vals[key] = v
}
END {
    add("vm_uio_remove", "igb_uio", "remove", "<= 10 ms after device_del", "REMOVE reaches the app (ours: DeviceEvents callback; DPDK: EAL 'has been removed!')")
    add("vm_uio_detached", "igb_uio", "detached", "<= 100 ms", "ours: HotplugRemove done; DPDK: testpmd 'Device is detached' (stop + close ports on a dead e1000, then detach)")
    add("vm_vfio_remove", "vfio-pci", "remove", "<= 12 ms", "ours: REMOVE callback (VfioRequest); DPDK: EAL 'has been removed!' from its vfio request notifier")
    add("vm_vfio_released", "vfio-pci", "detached", "<= 50 ms after the request", "device fd and mappings gone (ours 'detached', DPDK 'Device is detached'); from device_del")
    add("vm_add_attach", "igb_uio,vfio-pci", "attached", "optional: <= 100 ms after ADD", "from device_add; ours re-binds the kernel driver and re-attaches; DPDK 22.11 logs 'has been added!' but never re-attaches (no baseline samples)")
    add("vm_uio_app_signal", "igb_uio", "app_signal", "-", "first signal inside the app (ours: the library's sig_ms; DPDK: its uio fd read error line (guest clock))")
    add("vm_vfio_app_signal", "vfio-pci", "app_signal", "-", "ours: the library's sig_ms (vfio request eventfd); DPDK prints no separate line")
    add("vm_uio_kernel_signal", "igb_uio", "kernel_signal", "-", "first kernel uevent of the device (same kernel both sides; ~1 expected)")
    add("vm_vfio_kernel_signal", "vfio-pci", "kernel_signal", "-", "first uevent of the device (vfio: it comes after the release)")
    add("vm_uio_kernel_done", "igb_uio", "deleted", "-", "QEMU DEVICE_DELETED (QMP timestamp)")
    add("vm_vfio_kernel_done", "vfio-pci", "deleted", "-", "QEMU DEVICE_DELETED (QMP timestamp): the kernel finishes only after the app released the device")
    add("vm_uio_signal_to_remove", "igb_uio", "sig_to_callback", "-", "ours only: the library's uio signal -> REMOVE callback (the BAR remap runs before the publish; the uio fd closes after the callbacks)")
    add("vm_vfio_signal_to_remove", "vfio-pci", "sig_to_callback", "-", "ours only: the vfio request -> REMOVE callback (published at once; quiesce, remap and release run after the callbacks)")
    add("vm_vfio_sig_to_published", "vfio-pci", "sig_to_published", "-", "ours only: the vfio request -> REMOVE published (DeviceEvent.PublishedNs)")
    add("vm_uio_sig_to_published", "igb_uio", "sig_to_published", "-", "ours only: the uio hang-up -> REMOVE published (the BAR remap)")
    add("vm_add_notice", "igb_uio,vfio-pci", "added", "-", "from device_add: ADD reaches the app (ours: ADD callback; DPDK: 'has been added!')")
    printf "{ \"run\": \"%s\",\n  \"figures\": [\n", esc(run)
    for (i = 1; i <= N; i++) {
        o = list("ours", fdrv[i], fstep[i]); b = list("dpdk", fdrv[i], fstep[i])
        printf "    { \"name\": \"%s\", \"ours_samples_us\": [%s], \"baseline_samples_us\": [%s],\n", fname[i], o, b
        printf "      \"baseline\": \"DPDK 22.11 testpmd --hot-plug (the same e1000, same guest, guest clock)\", \"target\": \"%s\", \"note\": \"%s\" }%s\n", esc(ftarget[i]), esc(fnote[i]), i < N ? "," : ""
    }
    printf "  ] }\n"
}
