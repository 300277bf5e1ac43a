# The NVMe peer benchmark's results from one run's JSON lines (see figures.sh). Input: the array of lines.
# Times: guest CLOCK_MONOTONIC ms (marks, I/O stamps), host epoch s (sent, deleted), host ms (rtt).
def r(n): if . == null then null else (. * pow(10; n) | round) / pow(10; n) end;
def ratio(a; b): if a == null or b == null or b == 0 then null else (a / b) | r(2) end;
. as $all
| (map(select(.t == "mark")) | map({key: .text, value: .ms}) | from_entries) as $mark
| (map(select(.t == "rtt")) | map({key: .text, value: .rtt_ms}) | from_entries) as $rtt
| (map(select(.t == "sent")) | map({key: .text, value: .host}) | from_entries) as $sent
| (map(select(.t == "deleted")) | map(.host)) as $deleted
# The guest-minus-host clock offset (ms): each echoed line (ping or marker) was stamped by the guest between the
# host's write (hs) and the echo's arrival (hs + rtt), so the offset is in [g - hs - rtt, g - hs]. For each
# device_del / device_add, intersect the intervals of the lines sent within 5 s of it (no drift to speak of over
# that span) and map the host's send time through the middle: on the guest's clock, +/- half the width.
| ([$mark | to_entries[] | select($sent[.key] != null and $rtt[.key] != null)
    | {hs: $sent[.key], lo: (.value - ($sent[.key] * 1000 + $rtt[.key])), hi: (.value - $sent[.key] * 1000)}]) as $iv
| def anchor(text):
    if $sent[text] == null then {ms: $mark[text], err: null, lines: 0, how: "none"}
    else ($iv | map(select((.hs - $sent[text]) | fabs < 5))) as $near
      | ($near | map(.lo) | max) as $lo | ($near | map(.hi) | min) as $hi
      | if ($near | length) > 0 and $lo <= $hi
        then {ms: (($sent[text] * 1000 + ($lo + $hi) / 2) | r(3)), err: ((($hi - $lo) / 2) | r(2)), lines: ($near | length), how: "offset"}
        else {ms: $mark[text], err: $rtt[text], lines: 0, how: "marker stamp"} end
    end;
def side(s):
    ($all | map(select(.side == s))) as $l
    | ($l | map(select(.t == "removal-done")) | first) as $rd
    | anchor("del " + s) as $adel | anchor("add " + s) as $aadd | $adel.ms as $del | $aadd.ms as $add
    | ($sent["del " + s]) as $hdel
    | {
        lat: ($l | map(select(.t == "lat")) | first),
        lat_async: ($l | map(select(.t == "lat-async")) | first),
        iops: ($l | map(select(.t == "iops")) | first),
        removal: $rd,
        del_ms: $del, add_ms: $add,
        add_rel_ms: (if $add and $del then ($add - $del) | r(1) else null end),
        outage_del_ms: (if $rd and $del and $rd.first_error_ms > 0 then ($rd.first_error_ms - $del) | r(1) else null end),
        outage_add_ms: (if $rd and $add and $rd.first_ok_ms > 0 then ($rd.first_ok_ms - $add) | r(1) else null end),
        errno_after_del_ms: (if $rd and $del and ($rd.first_errno_ms // -1) > 0 then ($rd.first_errno_ms - $del) | r(1) else null end),
        first_ok_rel_ms: (if $rd and $del and $rd.first_ok_ms > 0 then ($rd.first_ok_ms - $del) | r(1) else null end),
        closed_after_del_ms: (if $rd and $del and $rd.closed_ms > 0 then ($rd.closed_ms - $del) | r(1) else null end),
        reopened_after_add_ms: (if $rd and $add and $rd.reopened_ms > 0 then ($rd.reopened_ms - $add) | r(1) else null end),
        device_deleted_after_del_ms: (if $hdel then ($deleted | map(select(. > $hdel)) | first) as $d
            | (if $d then (($d - $hdel) * 1000) | r(1) else null end) else null end),
        marker_rtt_ms: {del: $rtt["del " + s], add: $rtt["add " + s]},
        anchor: {del: $adel, add: $aadd},
        marker_stamp_lag_ms: {del: (if $mark["del " + s] and $del then ($mark["del " + s] - $del) | r(1) else null end),
                              add: (if $mark["add " + s] and $add then ($mark["add " + s] - $add) | r(1) else null end)},
        steps_after_add_ms: (if $rd and $add then ($rd | to_entries | map(select((.key | test("_event_ms$|^bound_ms$|^hotplug_add_ms$|^reopened_ms$|^first_ok_ms$")) and .value > 0)
            | {key: .key, value: ((.value - $add) | r(1))}) | from_entries) else null end)
      };
  side("ours") as $o | side("kernel") as $k
  | {
      run: $ARGS.named.run,
      run_short: ($ARGS.named.run | split(", log")[0] | split(", load")[0] | gsub("_"; "\\_")),
      qd: ($o.iops.qd // $k.iops.qd),
      sides: {ours: $o, kernel: $k},
      anchor_error_ms: ([$o.anchor.del.err, $o.anchor.add.err, $k.anchor.del.err, $k.anchor.add.err] | max),
      anchor_methods: ([$o.anchor.del.how, $o.anchor.add.how, $k.anchor.del.how, $k.anchor.add.how] | unique),
      marker_rtt_ms: {pings: ([$rtt | to_entries[] | select(.key | startswith("ping")) | .value] | sort),
                      markers: ([$rtt | to_entries[] | select(.key | startswith("ping") | not) | .value] | sort)},
      figures: [
        {name: "device_del -> first failed read (ms)", ours: $o.outage_del_ms, kernel: $k.outage_del_ms},
        {name: "device_add -> first successful read (ms)", ours: $o.outage_add_ms, kernel: $k.outage_add_ms},
        {name: "first error", ours: $o.removal.error, kernel: $k.removal.error},
        {name: "device_del -> first read failing with an errno (ms)", ours: $o.outage_del_ms, kernel: $k.errno_after_del_ms},
        {name: "that errno", ours: "(ControllerRemoved)", kernel: (if ($k.removal.first_errno // "") == "" then "none before the close" else $k.removal.first_errno end)},
        {name: "device_del -> app let go (ms)", ours: $o.closed_after_del_ms, kernel: $k.closed_after_del_ms},
        {name: "device_add -> device reopened (ms)", ours: $o.reopened_after_add_ms, kernel: $k.reopened_after_add_ms},
        {name: "device_del -> QEMU DEVICE_DELETED (ms, host)", ours: $o.device_deleted_after_del_ms, kernel: $k.device_deleted_after_del_ms},
        {name: "QD1 4 KiB read p50 (us)", ours: $o.lat.p50_us, kernel: $k.lat.p50_us},
        {name: "QD1 4 KiB read mean (us)", ours: $o.lat.mean_us, kernel: $k.lat.mean_us},
        {name: "QD1 4 KiB read p99 (us)", ours: $o.lat.p99_us, kernel: $k.lat.p99_us},
        {name: "QD1 4 KiB read p50, ours via ReadAsync (us)", ours: $o.lat_async.p50_us, kernel: $k.lat.p50_us},
        {name: "QD\($o.iops.qd // $k.iops.qd) 4 KiB read IOPS", ours: $o.iops.iops, kernel: $k.iops.iops},
        {name: "reads completed in the removal run", ours: (($o.removal.ok_before // 0) + ($o.removal.ok_after // 0)), kernel: (($k.removal.ok_before // 0) + ($k.removal.ok_after // 0))}
      ] | map(. + {ratio: (if (.ours | type) == "number" and (.kernel | type) == "number" then ratio(.ours; .kernel) else null end)})
    }
