#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where the instructions of a u32 draw go as threads multiply: callgrind over
callgrind_u32 with N threads (issue 20).

  python3 bench/threads_callgrind.py BIN_DIR [--threads 1,16,64,256,1024] [--n N]
                                     [--out FILE.md] [--keep DIR] [--from DIR]

For each thread count T it runs
  valgrind --tool=callgrind --max-threads=T+64 --toggle-collect='*DriveLoop*' \\
      BIN_DIR/callgrind_u32 grndpool_u32-emu N T
(N u32 shared out over T threads, each warmed up first, none exiting before
all are done: the steady state of T live threads), then two single-thread
runs for one refill's parts: hot slices off (every refill a 1 KiB slice) and
on (a 16 KiB hot slice). Inclusive instruction counts (Ir) are read from
callgrind_annotate; call counts are not used (callgrind miscounts calls
across valgrind's thread switches), refills come from grndpool_stats.
valgrind runs one thread at a time, so this counts work, not waiting; cache
misses are not in it (see refill_parts' touch table). Stdlib only.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE = "grndpool_u32-emu"
ROW = re.compile(r"^\s*([\d,]+) \([\s\d.]+%\)\s+(\*|>|<)?\s*(.*?):(.*?)(?: \((\d[\d,]*)x\))? \[(.*)\]$")


def annotate(outfile):
    """{function: inclusive Ir} and {caller: {callee: Ir}} from callgrind_annotate."""
    res = subprocess.run(["callgrind_annotate", "--tree=calling", "--inclusive=yes",
                          "--threshold=100", outfile], capture_output=True, text=True, check=True)
    incl, calls, current = {}, {}, None
    for line in res.stdout.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        mark, fn = m.group(2), m.group(4)
        if mark == "*":
            current = fn
            incl[fn] = max(incl.get(fn, 0), ir)
        elif mark == ">" and current is not None:
            calls.setdefault(current, {})
            calls[current][fn] = calls[current].get(fn, 0) + ir
    return incl, calls


def find(table, name):
    return max([ir for fn, ir in table.items()
                if fn == name or fn.startswith(name + "(") or fn.startswith(name + "<")] + [0])


def callees(calls, caller):
    for fn, out in calls.items():
        if fn.startswith(caller + "("):
            return out
    return {}


def load(keep, threads, tag=""):
    """A run kept by an earlier call (--from), or None."""
    outfile = os.path.join(keep, f"callgrind.out.t{threads}{tag}")
    side = outfile + ".json"
    if not os.path.exists(side):
        return None
    with open(side) as f:
        r = json.load(f)
    r["incl"], r["calls"] = annotate(outfile)
    return r


def run(bindir, n, threads, keep, env=None, tag=""):
    outfile = os.path.join(keep, f"callgrind.out.t{threads}{tag}")
    cmd = ["valgrind", "--tool=callgrind", f"--max-threads={threads + 64}",
           "--toggle-collect=*DriveLoop*", f"--callgrind-out-file={outfile}",
           os.path.join(bindir, "callgrind_u32"), SOURCE, str(n), str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        print(f"threads_callgrind.py: {' '.join(cmd)} failed: "
              f"{(res.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
        return None
    m = re.search(r"u32=(\d+) grndpool_refills=(\d+) grndpool_rekeys=(\d+)", res.stdout)
    u32, refills, rekeys = (int(x) for x in m.groups())
    tot = re.search(r"Collected : (\d+)", res.stderr)
    incl, calls = annotate(outfile)
    r = {"u32": u32, "refills": refills, "rekeys": rekeys, "cmd": " ".join(cmd),
         "total": int(tot.group(1)) if tot else
         find(incl, "unsigned int grndpool_bench::(anonymous namespace)::DriveLoop")}
    with open(outfile + ".json", "w") as f:
        json.dump(r, f)
    return {**r, "incl": incl, "calls": calls}


def split(r):
    """The parts of a run, inclusive Ir (overlaps removed where nested)."""
    i = r["incl"]
    slow = find(i, "unsigned int grndpool::SlowWord")
    refill = find(i, "grndpool::RefillSlice")
    ks = find(i, "grndpool::Keystream")
    scrub = find(i, "grndpool::ScrubStackBelow")
    ks_callees = callees(r["calls"], "grndpool::Keystream")
    lib = sorted(((ir, fn) for fn, ir in ks_callees.items() if fn.startswith("0x")), reverse=True)
    # The update is libcrypto's call under WholeBlocks when that is not
    # inlined; then every libcrypto call left under Keystream is a keying.
    whole = find(i, "grndpool::(anonymous namespace)::WholeBlocks")
    update = whole or (lib[0][0] if lib else 0)
    keying = sum(ir for ir, _ in (lib if whole else lib[1:]))
    shared = find(i, "grndpool::SharedDraw")
    claim = find(i, "grndpool::ClaimSlice")
    key = find(i, "grndpool::emu::(anonymous namespace)::Fill")
    label = find(i, "grndpool::LabelForFill")
    wipe_ks = ks_callees.get(next((f for f in ks_callees if f.startswith("grndpool::WipeRegisters")), ""), 0)
    take = ks_callees.get(next((f for f in ks_callees if "TakeCipher" in f), ""), 0)
    return {
        "total": r["total"], "slow": slow, "fast": r["total"] - slow, "refill": refill,
        "update": update, "keying": keying, "scrub": scrub, "wipe_in_keystream": wipe_ks,
        "take": take, "keystream_rest": ks - update - keying - scrub - wipe_ks - take,
        "key": key, "label": label, "refill_rest": refill - ks - label,
        "shared": shared, "claim": claim,
        "slow_rest": slow - refill - shared - claim,
    }


def threads_table(results):
    rows = []
    for t, r in results:
        s = split(r)
        u = r["u32"]
        f = lambda x: f"{x / u:.1f}"
        rows.append([t, f(s["total"]), f(s["fast"]), f(s["slow"]), f(s["refill"]),
                     f(s["update"]), f(s["keying"]), f(s["scrub"]),
                     f(s["refill"] - s["update"] - s["keying"] - s["scrub"]),
                     f(s["shared"]), f(s["claim"]), f(s["slow_rest"]),
                     f"{1000 * r['refills'] / u:.2f}"])
    head = ["threads", "Ir per u32", "per-draw path", "slow path", "refill",
            "keystream (libcrypto update)", "2 keyings", "stack scrub",
            "rest of refill (key read, label, wipe, pool, counters)", "shared overflow draws",
            "slice claims (retries)", "rest of slow path", "refills per 1000 u32"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def refill_table(small, hot):
    rows = []
    for name, r in (("1 KiB slice (960 B)", small), ("16 KiB hot slice (16320 B)", hot)):
        if r is None:
            continue
        s = split(r)
        k = r["refills"] or 1
        f = lambda x: f"{x / k:.0f}"
        rows.append([name, f(s["refill"]), f(s["update"]), f(s["keying"]), f(s["scrub"]),
                     f(s["wipe_in_keystream"]), f(s["take"]), f(s["key"]), f(s["label"]),
                     f(s["refill_rest"] + s["keystream_rest"]),
                     f"{(s['refill'] - s['update']) / k:.0f}",
                     f"{s['refill'] / r['u32']:.1f}"])
    head = ["refill of", "Ir per refill", "keystream (update)", "2 keyings", "stack scrub",
            "register wipe", "cipher pool take/return", "kernel key (model)", "generation label",
            "rest (counters, bookkeeping)", "all but the keystream", "refill Ir per u32"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--threads", default="1,16,64,256,1024")
    ap.add_argument("--n", type=int, default=1 << 23)
    ap.add_argument("--out")
    ap.add_argument("--keep")
    ap.add_argument("--from", dest="reuse", help="a --keep directory: tabulate its runs again")
    args = ap.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        print("threads_callgrind.py: valgrind not installed", file=sys.stderr)
        return 1
    keep = args.reuse or args.keep or tempfile.mkdtemp(prefix="grndpool-threads-cg-")
    os.makedirs(keep, exist_ok=True)
    get = ((lambda t, tag="", n=0, env=None: load(keep, t, tag)) if args.reuse else
           (lambda t, tag="", n=0, env=None: run(args.bindir, n, t, keep, env, tag)))
    results = []
    for t in [int(x) for x in args.threads.split(",")]:
        r = get(t, "", args.n)
        if r:
            results.append((t, r))
    small = get(1, "-small", 1 << 20, {"GRNDPOOL_HOT_SLICE_BYTES": "0"})
    hot = get(1, "-hot", 1 << 22, {})
    md = (f"callgrind, {args.n} u32 from `grndpool_u32()` (inline) shared out over T threads "
          f"(`callgrind_u32 {SOURCE} {args.n} T`: each thread warmed up, none exits before all "
          "are done), kernel model behind the library (generation read at each refill, as the "
          "vDSO source natively). Ir per u32, inclusive; valgrind runs one thread at a time.\n\n"
          + threads_table(results) +
          "\n\nOne refill's parts, Ir per refill, single thread "
          "(`GRNDPOOL_HOT_SLICE_BYTES=0` for the 1 KiB row):\n\n" + refill_table(small, hot) + "\n")
    if args.out:
        with open(args.out, "w") as f:
            f.write(md)
    print(md)
    if not args.keep and not args.reuse:
        shutil.rmtree(keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
