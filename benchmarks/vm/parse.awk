# Turns the stamped log of run-vm-bench.sh ("<host epoch s> <con|qmp|mk|host> <line>", read TWICE:
# `awk -f parse.awk LOG LOG`) into rows "side driver cycle step ms", ms from the trigger (device_del or
# device_add) on the GUEST's clock (CLOCK_MONOTONIC), the clock both sides' lines carry: ours its JSON "ms",
# DPDK's testpmd lines the stamp of `hpguest stamp TP` ("TP <ms> <line>"), the kernel's uevents hpguest's "ms".
# The trigger's moment on that clock: the host writes lines to the guest's second serial port (pings every
# 200 ms, a marker just before each QMP command); `hpguest marks` stamps each on the guest's clock and echoes
# it. A line's stamp lies between the host's write and the echo's arrival, which bounds the guest-minus-host
# offset to [g - ack, g - sent]; the lines sent within 5 s of the trigger are intersected and the host's send
# time of the QMP command is mapped through the middle. Rows "anchor_err" give the half-width (ms).
# Steps after device_del: kernel_signal (first uevent of the device), app_signal (ours: the library's signal
# time sig_ms; DPDK: its uio fd read error line), remove (DPDK "has been removed", ours the REMOVE callback),
# closed (DPDK "Port N is closed"), detached (DPDK "Device is detached", ours "detached": the detach returned,
# the device released), deleted (QEMU DEVICE_DELETED, host clock: its QMP timestamp minus our send time),
# sig_to_callback (ours: REMOVE "ms" minus its "sig_ms"), split into sig_to_published (the library's handling:
# quiesce, remap) and published_to_callback (the dispatch), and quiesce (the driver's Quiesce alone, vfio).
# After device_add: kernel_add (pci add uevent),
# added (DPDK "has been added!", ours ADD), attached (DPDK "is attached" (never seen), ours "reattached").
function ms_field(s, key,    m) {
    if (!match(s, "\"" key "\":[0-9.]+")) return -1
    m = substr(s, RSTART, RLENGTH); sub(/^[^:]*:/, "", m)
    return m + 0
}
function str_field(s, key,    m) {
    if (!match(s, "\"" key "\":\"[^\"]*\"")) return ""
    m = substr(s, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m)
    return m
}
function text_of(line) { sub(/^[^ ]+ [^ ]+ /, "", line); return line }
function emit(name, v) { printf "%s\t%s\t%d\t%s\t%.3f\n", side, drv, cyc, name, v }
function step(name, g) {
    if (side == "" || trig == "" || (name in seen) || !have_anchor) return
    seen[name] = 1
    emit(name, g - g0)
}
# The trigger (host send time t, s) on the guest clock (ms), from the echoed lines sent within 5 s of it.
function anchor(t,    k, lo, hi, n) {
    lo = -1e18; hi = 1e18; n = 0
    for (k in sent) {
        if (!(k in gst) || !(k in ack) || sent[k] < t - 5 || sent[k] > t + 5) continue
        if (gst[k] - ack[k] * 1000 > lo) lo = gst[k] - ack[k] * 1000
        if (gst[k] - sent[k] * 1000 < hi) hi = gst[k] - sent[k] * 1000
        n++
    }
    if (n == 0 || lo > hi) { have_anchor = 0; return }
    have_anchor = 1; g0 = t * 1000 + (lo + hi) / 2; anchor_err = (hi - lo) / 2
}
NR == FNR {
    txt = text_of($0)
    if ($2 == "host" && txt ~ /^sent /) { k = txt; sub(/^sent /, "", k); sent[k] = $1 + 0 }
    else if ($2 == "mk" && txt ~ /^ack /) { k = txt; sub(/^ack /, "", k); if (!(k in ack)) ack[k] = $1 + 0 }
    else if ($2 == "con" && txt ~ /"t":"mark"/) gst[str_field(txt, "text")] = ms_field(txt, "ms")
    next
}
{
    t = $1 + 0; src = $2; txt = text_of($0)
    if (src == "con" && txt ~ /^HPB dpdk-start/) {
        side = "dpdk"; drv = txt; sub(/.*driver=/, "", drv); sub(/ .*/, "", drv)
        cyc = txt; sub(/.*cycle=/, "", cyc); cyc += 0; trig = ""; next
    }
    if (src == "con" && txt ~ /^HPB ours-start/) {
        side = "ours"; drv = txt; sub(/.*driver=/, "", drv); sub(/ .*/, "", drv)
        cyc = 0; trig = ""
        if (txt ~ /first=[0-9]+/) { f = txt; sub(/.*first=/, "", f); sub(/ .*/, "", f); cyc = f - 1 }
        next
    }
    if (src == "con" && txt ~ /^HPB (dpdk|ours)-end/) { trig = ""; next }
    if (src == "host" && txt ~ /^device_(del|add)/) {
        if (txt ~ /^device_del/ && side == "ours") cyc++
        trig = txt ~ /^device_del/ ? "del" : "add"; tq = t; delete seen
        anchor(t)
        if (have_anchor) emit("anchor_err_" trig, anchor_err)
        next
    }
    if (trig == "" || src == "mk" || src == "host") next
    if (src == "qmp") {
        if (trig == "del" && txt ~ /DEVICE_DELETED/ && !("deleted" in seen)) {
            s = txt; sub(/.*"seconds": */, "", s); sec = s + 0
            u = txt; sub(/.*"microseconds": */, "", u); us = u + 0
            seen["deleted"] = 1; emit("deleted", (sec + us / 1e6 - tq) * 1000)
        }
        next
    }
    # Console: each line's guest time.
    if (txt ~ /^TP [0-9.]+ /) { g = txt; sub(/^TP /, "", g); sub(/ .*/, "", g); g += 0; body = txt; sub(/^TP [0-9.]+ /, "", body) }
    else if ((g = ms_field(txt, "ms")) >= 0) body = txt
    else next
    if (trig == "del") {
        if (txt ~ /"t":"uevent"/ && index(txt, "01:00.0")) step("kernel_signal", g)
        if (side == "dpdk") {
            if (body ~ /Error reading from file descriptor/) step("app_signal", g)
            if (body ~ /has been removed/) step("remove", g)
            if (body ~ /Port [0-9]+ is closed/) step("closed", g)
            if (body ~ /Device is detached/) step("detached", g)
        } else {
            if (body ~ /"t":"event"/ && body ~ /"type":"Remove"/) {
                sg = ms_field(body, "sig_ms")
                if (sg >= 0) step("app_signal", sg)
                pb = ms_field(body, "pub_ms")
                if (sg >= 0 && !("sig_to_callback" in seen)) {
                    seen["sig_to_callback"] = 1; emit("sig_to_callback", g - sg)
                    # The library's handling (quiesce + remap), then the dispatch to the callback.
                    if (pb >= 0) { emit("sig_to_published", pb - sg); emit("published_to_callback", g - pb) }
                }
                step("remove", g)
            }
            if (body ~ /"t":"detached"/) step("detached", g)
            if (body ~ /"t":"datapath-stopped"/ && (q = ms_field(body, "quiesce_took_ms")) >= 0 && !("quiesce" in seen)) {
                seen["quiesce"] = 1; emit("quiesce", q) # the driver's Quiesce, on the removal path (vfio)
            }
        }
    } else {
        if (txt ~ /"t":"uevent"/ && txt ~ /"action":"add"/ && txt ~ /"subsystem":"pci"/ && index(txt, "01:00.0"))
            step("kernel_add", g)
        if (side == "dpdk") {
            if (body ~ /has been added/) step("added", g)
            if (body ~ /is attached/) step("attached", g)
        } else {
            if (body ~ /"t":"event"/ && body ~ /"type":"Add"/) step("added", g)
            if (body ~ /"t":"reattached"/) step("attached", g)
        }
    }
}
