# One line per payload from the guest's serial console (run-tests.sh), e.g.
#   grndpool-kernel: ok   grnd_timestamp_contract (3.1 s): TAP 31 ok, 0 not ok, 0 skipped
# A failed payload's line is followed by the last lines of its output.
function flush_tail(   i, from) {
	from = nlines > 25 ? nlines - 25 : 0
	for (i = from + 1; i <= nlines; i++)
		print "    | " lines[i]
}
# gtest colours its output on the guest's console.
{ gsub(/\033\[[0-9;]*m/, "") }
/^GRNDPOOL-VM: running / {
	name = $3; nlines = 0; tap_ok = tap_fail = tap_skip = 0
	gtest = ""; gskip = ""; gfail = ""; rows = ""; describe = ""; last = ""
	next
}
/^GRNDPOOL-VM: payload / {
	rc = $4; sub(/^rc=/, "", rc)
	secs = $5 " " $6
	if (tap_ok + tap_fail)
		detail = sprintf("TAP %d ok (%d skipped), %d not ok", tap_ok, tap_skip, tap_fail)
	else if (gtest != "")
		detail = "gtest " gtest (gskip != "" ? ", skipped " gskip : "") (gfail != "" ? ", FAILED " gfail : "")
	else if (rows != "")
		detail = "ns/u32: " rows (describe != "" ? "; " describe : "")
	else
		detail = last
	printf "grndpool-kernel: %-4s %s %s: %s\n", rc == 0 ? "ok" : "FAIL", $3, secs, detail
	if (rc != 0)
		flush_tail()
	name = ""
	next
}
name == "" { next }
{ lines[++nlines] = $0; if ($0 != "") last = $0 }
/^ok [0-9]/ { tap_ok++; if ($0 ~ /# SKIP/) tap_skip++ }
/^not ok [0-9]/ { tap_fail++ }
/^\[  PASSED  \]/ { gtest = $4 " passed" }
/^\[  SKIPPED \]/ { gskip = $4 }
/^\[  FAILED  \] [0-9]+ test/ { gfail = $4 }
/^== .* u32\/s, .*ns\/u32/ {
	label = $0; sub(/^== /, "", label); sub(/,.*/, "", label)
	ns = $0; sub(/ ns\/u32.*/, "", ns); sub(/.* /, "", ns)
	rows = rows (rows != "" ? ", " : "") label " " ns
}
/^grndpool strategy=/ && describe == "" { describe = $0 }
