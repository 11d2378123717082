#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails a test run that skipped a test the reviewed list does not excuse.

  check-skips.py BUILD JUNIT.xml [LIST]

BUILD is the configuration (plain, asan-ubsan, tsan, ...), JUNIT.xml what
`ctest --output-junit` wrote, LIST the reviewed list (tests/skips.list). Each
skipped test must match a line of the list for this build: its name the
line's pattern (a shell glob) and its output the line's reason (a substring,
the words the test prints when it skips). Prints one line counting the skips
by reason, then one line per skip that is not excused; exits 1 if any.
"""
import collections
import fnmatch
import os
import sys
import xml.etree.ElementTree as ET


def read_list(path):
    rules = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("|")
            if len(parts) != 3:
                sys.exit(f"{path}:{number}: want 'builds | test pattern | reason', got: {line}")
            builds, pattern, reason = (p.strip() for p in parts)
            rules.append((set(b.strip() for b in builds.split(",")), pattern, reason, number))
    return rules


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    build, junit = sys.argv[1], sys.argv[2]
    listed = sys.argv[3] if len(sys.argv) == 4 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "skips.list")
    rules = read_list(listed)
    skipped = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.get("status") != "notrun" or case.find("skipped") is None:
            continue
        out = case.findtext("system-out") or ""
        skipped.append((case.get("name"), out))
    by_reason = collections.Counter()
    unlisted = []
    for name, out in skipped:
        for builds, pattern, reason, _ in rules:
            if (build in builds or "all" in builds) and fnmatch.fnmatchcase(name, pattern) \
                    and reason in out:
                by_reason[reason] += 1
                break
        else:
            last = [l for l in out.strip().splitlines() if l.strip()][-3:]
            unlisted.append(f"{name}: {' / '.join(last) or '(no output)'}")
    summary = ", ".join(f"{n} \"{r}\"" for r, n in sorted(by_reason.items(), key=lambda x: -x[1]))
    print(f"skips ({build}): {len(skipped)} in all, {len(skipped) - len(unlisted)} on the "
          f"reviewed list{': ' + summary if summary else ''}; {len(unlisted)} not listed")
    for line in unlisted:
        print(f"  NOT LISTED: {line}")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
