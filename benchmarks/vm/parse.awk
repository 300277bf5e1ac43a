# Turns the stamped log of run-vm-bench.sh ("<host epoch s> <con|qmp|host> <line>", read TWICE:
# `awk -f parse.awk LOG LOG`) into rows "side driver cycle step ms", ms from the trigger (our device_del or
# device_add) by the host's arrival stamps. QEMU's DEVICE_DELETED uses QMP's own timestamp.
# Steps after device_del: kernel_signal (first uevent or vfio "Relaying device request" line for the
# device), app_signal (DPDK: its uio fd read error; ours: the library's signal time sig_ms mapped to the
# host clock, see below), remove (DPDK "has been removed!", ours REMOVE event), closed (DPDK "Port N is
# closed"), detached (DPDK "Device is detached", ours "detached"), deleted (QEMU DEVICE_DELETED).
# After device_add: kernel_add (pci add uevent), added (DPDK "has been added!", ours ADD), attached
# (DPDK "is attached" (never seen), ours "reattached").
# Guest clock -> host clock: offset = min(host arrival - guest "ms") over every line that carries one
# (the least-delayed line bounds it); used only for ours' app_signal. sig_to_callback (ours) is
# measured on the guest clock alone: the REMOVE event's "ms" minus its "sig_ms".
function ms_field(s, key,    m) {
    if (!match(s, "\"" key "\":[0-9.]+")) return -1
    m = substr(s, RSTART, RLENGTH); sub(/^[^:]*:/, "", m)
    return m + 0
}
function text_of(line) { sub(/^[^ ]+ [^ ]+ /, "", line); return line }
function step(name, t) {
    if (side == "" || trig == "" || (name in seen)) return
    seen[name] = 1
    printf "%s\t%s\t%d\t%s\t%.3f\n", side, drv, cyc, name, (t - t0) * 1000
}
NR == FNR {
    if ($2 == "con" && (g = ms_field($0, "ms")) >= 0 && $0 ~ /"t":"/) {
        o = $1 * 1000 - g
        if (!have_off || o < off) { off = o; have_off = 1 }
    }
    next
}
{
    t = $1 + 0; src = $2; txt = text_of($0)
    if (src == "con" && txt ~ /^HPB dpdk-start/) {
        side = "dpdk"; drv = txt; sub(/.*driver=/, "", drv); sub(/ .*/, "", drv)
        cyc = txt; sub(/.*cycle=/, "", cyc); cyc += 0; trig = ""; bdf = "01:00.0"; next
    }
    if (src == "con" && txt ~ /^HPB ours-start/) {
        side = "ours"; drv = txt; sub(/.*driver=/, "", drv); sub(/ .*/, "", drv)
        cyc = 0; trig = ""; bdf = "02:00.0"; next
    }
    if (src == "con" && txt ~ /^HPB (dpdk|ours)-end/) { trig = ""; next }
    if (src == "host" && txt ~ /^device_del/) {
        if (side == "ours") cyc++
        trig = "del"; t0 = t; delete seen; next
    }
    if (src == "host" && txt ~ /^device_add/) { trig = "add"; t0 = t; delete seen; next }
    if (trig == "") next
    if (trig == "del") {
        if (src == "qmp" && txt ~ /DEVICE_DELETED/) {
            s = txt; sub(/.*"seconds": */, "", s); sec = s + 0
            u = txt; sub(/.*"microseconds": */, "", u); us = u + 0
            step("deleted", sec + us / 1e6)
        }
        if (src != "con") next
        if ((txt ~ /"t":"uevent"/ && index(txt, bdf)) || (txt ~ /Relaying device request/ && index(txt, bdf)))
            step("kernel_signal", t)
        if (side == "dpdk") {
            if (txt ~ /Error reading from file descriptor/) step("app_signal", t)
            if (txt ~ /has been removed/) step("remove", t)
            if (txt ~ /Port [0-9]+ is closed/) step("closed", t)
            if (txt ~ /Device is detached/) step("detached", t)
        } else {
            if (txt ~ /"t":"event"/ && txt ~ /"type":"Remove"/) {
                sg = ms_field(txt, "sig_ms")
                if (sg >= 0 && have_off) step("app_signal", (sg + off) / 1000)
                # Guest clock only: the library's signal -> the REMOVE callback (no host mapping).
                if (sg >= 0 && !("sig_to_callback" in seen)) {
                    seen["sig_to_callback"] = 1
                    printf "%s\t%s\t%d\t%s\t%.3f\n", side, drv, cyc, "sig_to_callback", ms_field(txt, "ms") - sg
                }
                step("remove", t)
            }
            if (txt ~ /"t":"detached"/) step("detached", t)
        }
    } else {
        if (src != "con") next
        if (txt ~ /"t":"uevent"/ && txt ~ /"action":"add"/ && txt ~ /"subsystem":"pci"/ && index(txt, bdf))
            step("kernel_add", t)
        if (side == "dpdk") {
            if (txt ~ /has been added/) step("added", t)
            if (txt ~ /is attached/) step("attached", t)
        } else {
            if (txt ~ /"t":"event"/ && txt ~ /"type":"Add"/) step("added", t)
            if (txt ~ /"t":"reattached"/) step("attached", t)
        }
    }
}
