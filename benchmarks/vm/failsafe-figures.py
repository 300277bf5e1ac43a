#!/usr/bin/env python3
"""Figures of the fail-safe benchmark (run-failsafe-bench.sh) from one run's stamped log.

    failsafe-figures.py EVENTS_TLOG OUT_DIR RUN_DESCRIPTION

The log holds "<host epoch s> <con|qmp|host> <line>". Per scenario (between "HPB fs-start side=S driver=D" and
"HPB fs-end"), from the receiver's JSON lines (the same for both sides: rx-start, rx-summary, rx-gap, rx-bins) and
the sender's (send-end): frames sent, new (unique) frames received, duplicates, late frames, frames lost at the
switch-over (never received, sent from 100 ms before device_del to 3 s after it, or device_add if sooner), at the
switch-back (sent in the 3 s after device_add), elsewhere (the rest: steady-state drops when the TCG guest stalls),
and the longest time without a new frame in the same windows. device_del / device_add are host
stamps, turned into guest time with the offset from the guest's "HPB clock" lines (min of host - guest).
Writes results.json, table.md, one per-ms series per scenario (<side>-<driver>.dat: seconds since device_del,
new frames per ms averaged over 10 ms, all frames per ms likewise) and plot.gp (gnuplot -> failsafe-removal.svg).
"""
import json
import os
import sys

SWITCH_OVER_LEAD_MS = 100.0
WINDOW_MS = 3000.0
SMOOTH_MS = 10


def parse(path):
    clock, scen, cur = [], [], None
    for raw in open(path, encoding="utf-8", errors="replace"):
        parts = raw.rstrip("\n").split(" ", 2)
        if len(parts) < 3:
            continue
        host_ms, src, text = float(parts[0]) * 1e3, parts[1], parts[2]
        if src == "con" and text.startswith("HPB clock "):
            try:
                clock.append(host_ms - float(text.split()[2]))
            except (ValueError, IndexError):
                pass
        elif src == "con" and text.startswith("HPB fs-start "):
            kv = dict(x.split("=", 1) for x in text.split()[2:])
            cur = {"side": kv["side"], "driver": kv["driver"], "json": [], "del": None, "add": None, "marks": []}
            scen.append(cur)
        elif src == "con" and text.startswith("HPB fs-end"):
            cur = None
        elif cur is not None and src == "host":
            if text.startswith("device_del") and cur["del"] is None:
                cur["del"] = host_ms
            elif text.startswith("device_add") and cur["add"] is None:
                cur["add"] = host_ms
        elif cur is not None and src == "con" and text.startswith("{"):
            try:
                cur["json"].append(json.loads(text))
            except json.JSONDecodeError:
                pass
        elif cur is not None and src == "con" and text.startswith("HPB "):
            cur["marks"].append(text)
    if not clock:
        raise SystemExit("no HPB clock lines: cannot relate guest and host time")
    return min(clock), scen


def longest_zero(bins, lo, hi):
    best, run, start, best_at = 0, 0, lo, lo
    for i in range(max(lo, 0), min(hi, len(bins))):
        if bins[i] == 0:
            if run == 0:
                start = i
            run += 1
            if run > best:
                best, best_at = run, start
        else:
            run = 0
    return best, best_at


def analyse(off, s):
    first = lambda t: next((j for j in s["json"] if j.get("t") == t), None)
    start, summ, send = first("rx-start"), first("rx-summary"), first("send-end")
    if not (start and summ and send and s["del"]):
        return None
    t0 = start["ms"]
    # Bins by position; a chunk whose console line was lost stays None (never counted as silence or as traffic).
    chunks = [j for j in s["json"] if j.get("t") == "rx-bins"]
    n = max((j["from"] + len(j["u"].split(",")) for j in chunks), default=0)
    u, a = [None] * n, [None] * n
    for b in chunks:
        for k, (x, y) in enumerate(zip(b["u"].split(","), b["a"].split(","))):
            u[b["from"] + k], a[b["from"] + k] = int(x), int(y)
    missing = sum(1 for x in u if x is None)
    dl = s["del"] - off
    ad = (s["add"] - off) if s["add"] else None
    add_host_rel = round(ad - dl, 1) if ad is not None else None
    end_g = ad if ad is not None and ad < send["ms"] else float("inf")
    over = back = other = 0
    for g in (j for j in s["json"] if j.get("t") == "rx-gap"):
        t = g["before_ms"]
        if dl - SWITCH_OVER_LEAD_MS <= t < min(end_g, dl + WINDOW_MS):
            over += g["count"]
        elif end_g != float("inf") and end_g <= t < end_g + WINDOW_MS:
            back += g["count"]
        else:
            other += g["count"]
    tail = max(0, send["sent"] - 1 - summ["max_seq"])
    ib = lambda g: int(round(g - t0))
    stop = send["ms"]  # the sender's end: no silence is counted after it
    if ad is not None and ad >= stop:
        ad = None  # the device came back only after the traffic (DPDK over vfio: the removal waits for the app's exit)
    sil_over = longest_zero(u, ib(dl), ib(min(ad if ad else stop, stop, dl + WINDOW_MS)))
    sil_back = longest_zero(u, ib(ad), ib(min(ad + 3000, stop))) if ad else (0, 0)
    sil_base = longest_zero(u, ib(send["first_ms"]) + 200, ib(dl))
    dup = lambda lo, hi: sum(a[i] - u[i] for i in range(max(lo, 0), min(hi, len(a))) if u[i] is not None)
    dup_over = dup(ib(dl), ib(ad) if ad else len(a))
    dup_back = dup(ib(ad), len(a)) if ad else 0
    ev = [j for j in s["json"] if j.get("t") in ("rx-event", "fs-switch", "fs-active")]
    # ours: when the data path first burst on the standby after device_del (fs-active), and the removal signal
    actives = [j for j in s["json"] if j.get("t") == "fs-active" and j.get("index") == 1 and j["ms"] > dl]
    removed = [j for j in s["json"] if j.get("t") == "fs-switch" and j.get("reason") == "ActiveRemoved"]
    r = {
        "side": s["side"], "driver": s["driver"], "sent": send["sent"], "sent_pps": send["pps_real"],
        "received": summ["received"], "unique": summ["unique"], "duplicates": summ["duplicates"], "late": summ["late"],
        "lost_total": send["sent"] - summ["unique"], "lost_switch_over": over, "lost_switch_back": back,
        "lost_elsewhere": other + tail, "silence_switch_over_ms": sil_over[0],
        "silence_switch_over_at_ms": round(sil_over[1] + t0 - dl, 1), "silence_switch_back_ms": sil_back[0],
        "silence_switch_back_at_ms": round(sil_back[1] + t0 - (ad or 0), 1), "silence_baseline_ms": sil_base[0],
        "duplicates_switch_over": dup_over, "duplicates_switch_back": dup_back,
        "device_add_after_del_ms": add_host_rel,
        "switch_over_after_del_ms": round(actives[0]["ms"] - dl, 1) if actives else None,
        "removal_signal_after_del_ms": round(removed[0]["cause_ms"] - dl, 1) if removed else None,
        "device_add_during_traffic": ad is not None,
        "events": [{k: v for k, v in j.items()} | {"rel_ms": round(j["ms"] - dl, 1)} for j in ev if "ms" in j],
        "bins_missing_ms": missing,
        "dead_reads": next((j.get("dead_reads") for j in s["json"] if j.get("t") == "fs-summary"), None),
        "marks": s["marks"],
    }
    return r, t0, dl, ad, u, a


def main():
    log, out, desc = sys.argv[1], sys.argv[2], sys.argv[3]
    off, scen = parse(log)
    os.makedirs(out, exist_ok=True)
    results, series = [], []
    for s in scen:
        x = analyse(off, s)
        if x is None:
            print(f"failsafe-figures: {s['side']}-{s['driver']}: incomplete (no rx-start/rx-summary/send-end/device_del)", file=sys.stderr)
            continue
        r, t0, dl, ad, u, a = x
        results.append(r)
        name = f"{r['side']}-{r['driver']}"
        with open(os.path.join(out, name + ".dat"), "w") as f:
            f.write(f"# {name}: seconds since device_del, new frames/ms, all frames/ms ({SMOOTH_MS}-ms means)\n")
            for i in range(0, len(u) - SMOOTH_MS + 1, SMOOTH_MS):
                t = (t0 + i + SMOOTH_MS / 2 - dl) / 1e3
                if any(x is None for x in u[i:i + SMOOTH_MS]):
                    f.write("\n")  # a gap in the line: those bins were lost on the console
                    continue
                f.write(f"{t:.3f} {sum(u[i:i + SMOOTH_MS]) / SMOOTH_MS:.2f} {sum(a[i:i + SMOOTH_MS]) / SMOOTH_MS:.2f}\n")
        series.append((name, r["driver"], r["side"], r["device_add_after_del_ms"] if r["device_add_during_traffic"] else None))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"run": desc, "scenarios": results}, f, indent=1)
    cols = ["driver", "side", "sent", "unique", "lost_switch_over", "lost_switch_back", "lost_elsewhere",
            "silence_switch_over_ms", "silence_switch_back_ms", "silence_baseline_ms", "duplicates", "late",
            "removal_signal_after_del_ms", "switch_over_after_del_ms", "device_add_after_del_ms"]
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(f"Run: {desc}\n\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
        for r in results:
            f.write("| " + " | ".join(str(r[c]) for c in cols) + " |\n")
    drivers = [d for d in ("vfio-pci", "igb_uio") if any(x[1] == d for x in series)]
    sides = [x for x in ("ours", "ours_s1500", "ours_mbb", "dpdk") if any(y[2] == x for y in series)]
    colors = {"ours": "#1f77b4", "ours_s1500": "#9467bd", "ours_mbb": "#2ca02c", "dpdk": "#d62728"}
    names = {"ours": "ours (FailSafeGroup)", "ours_s1500": "ours, 1.5 s settle", "ours_mbb": "ours, make-before-break at the switch-back",
             "dpdk": "DPDK 22.11 failsafe PMD"}
    short = {"ours": "ours", "ours_s1500": "ours settle 1.5 s", "ours_mbb": "ours+mbb", "dpdk": "DPDK"}
    # Per side a row; per driver two panels: around device_del, and around device_add (when it came during the run).
    rows, cols = max(1, len(sides)), 2 * max(1, len(drivers))
    with open(os.path.join(out, "plot.gp"), "w") as f:
        f.write(f"set terminal svg size {300 * cols},{210 * rows + 60} dynamic font 'sans,9'\n")
        f.write(f"set output '{os.path.join(out, 'failsafe-removal.svg')}'\n")
        f.write("set termoption noenhanced\n")
        f.write(f"set multiplot layout {rows},{cols} rowsfirst title 'New frames received per ms ({SMOOTH_MS}-ms means) "
                "around device_del of the primary e1000 (del) and its device_add (add)" + ("; mbb: make-before-break" if "ours_mbb" in sides else "") + "'\n")
        f.write("set ylabel 'new frames / ms'\nset grid\nunset key\nset yrange [0:*]\n")
        f.write("set arrow 1 from 0, graph 0 to 0, graph 1 nohead lc rgb 'black' lw 1.5\n")
        for side in sides:
            for d in drivers:
                match = [x for x in series if x[1] == d and x[2] == side]
                name, _, _, add = match[0] if match else (None, d, side, None)
                dat = os.path.join(out, f"{name}.dat")
                f.write(f"set xrange [-0.5:2]\nset xlabel 's since device_del'\nset title '{d} {short[side]}: del'\n")
                f.write(f"plot '{dat}' using 1:2 with lines lw 1 lc rgb '{colors[side]}'\n" if name else "plot [][0:1] -1 notitle\n")
                f.write(f"set xrange [-0.5:3]\nset xlabel 's since device_add'\nset title '{d} {short[side]}: add'\n")
                if name and add is not None:
                    f.write(f"plot '{dat}' using ($1-{add / 1e3:.3f}):2 with lines lw 1 lc rgb '{colors[side]}'\n")
                else:
                    f.write(f"set title '{d} {short[side]}: no add in the run'\nplot [][0:1] -1 notitle\n")
        f.write("unset multiplot\n")
    for r in results:
        print(json.dumps({k: v for k, v in r.items() if k not in ("events", "marks")}))


if __name__ == "__main__":
    main()
