#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where the time of a u32 draw goes, in instructions: callgrind over callgrind_u32.

  python3 bench/where_time_goes.py BIN_DIR [--n N] [--out FILE.md] [--keep DIR]

For each source, runs
  valgrind --tool=callgrind --toggle-collect='*DriveLoop*' BIN_DIR/callgrind_u32 SOURCE N
so only the N draws are counted (refills included, start-up and the warm-up
draw not), then reads callgrind_annotate's inclusive and self counts. Prints a
markdown section (and writes it to --out). Instruction counts (Ir) are exact
and do not drift with the VM's speed; they are not cycles. Under valgrind
libcrypto takes its AVX2 ChaCha20 code, which may not be what it runs natively.
Stdlib only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The sources, their refill functions and u32 per refill come from the u32 table
# (bench/u32_sources.h) through `callgrind_u32 --list`; see sources().
SLOW_DRAW = "grndpool::SlowDraw"
KEYSTREAM = "EVP_EncryptUpdate"  # the peers' and prototypes' keystream
REKEY = "EVP_EncryptInit_ex"
# grndpool's keyed work (libcrypto's provider calls, keyings, stack scrub) and
# its kernel key (the kernel model's fill under -emu; the syscall natively).
GP_KEYSTREAM = "grndpool::Keystream"
GP_KERNEL_KEY = ("grndpool::emu::(anonymous namespace)::Fill", "grndpool::kernel::SyscallFill")
ROW = re.compile(r"^\s*([\d,]+) \([\s\d.]+%\)\s+(.*?):(.*?)(?: \[(.*)\])?$")


def sources(bindir):
    """[(source, refill function or None, u32 per refill or None)] from `callgrind_u32 --list`:
    the refill function by name without its arguments, so a changed signature still matches;
    u32 per refill None when the program reports refills."""
    res = subprocess.run([os.path.join(bindir, "callgrind_u32"), "--list"], capture_output=True,
                         text=True, check=True)
    out = []
    for line in res.stdout.splitlines():
        name, refill_fn, per_refill = line.split("\t")
        out.append((name, None if refill_fn == "-" else refill_fn, int(per_refill) or None))
    return out


def annotate(outfile, inclusive):
    """{function: Ir} from callgrind_annotate; only rows attributed to an object file
    (inlined code is also listed per source file, without one, and would double-count)."""
    res = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", outfile], capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        m = ROW.match(line)
        if not m or m.group(4) is None:
            continue
        ir = int(m.group(1).replace(",", ""))
        fn = m.group(3)
        out[fn] = max(out.get(fn, 0), ir)
    return out


def total(outfile):
    res = subprocess.run(["callgrind_annotate", outfile], capture_output=True, text=True, check=True)
    m = re.search(r"^\s*([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", res.stdout, re.M)
    return int(m.group(1).replace(",", "")) if m else 0


def find(table, name):
    """Ir of the function whose name starts with `name` (demangled names carry arguments)."""
    if name is None:
        return 0
    return max([ir for fn, ir in table.items() if fn == name or fn.startswith(name + "(")
                or fn.startswith(name + "::")] + [0])


def measure(bindir, source, n, keepdir):
    outfile = os.path.join(keepdir, f"callgrind.out.{source}")
    cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=*DriveLoop*",
           f"--callgrind-out-file={outfile}", os.path.join(bindir, "callgrind_u32"), source, str(n)]
    # GRNDPOOL_CHACHA20_AFTER=0: the steady state, libcrypto started (a process's
    # first 256 KiB of refills are kernel bytes by default).
    env = dict(os.environ, GRNDPOOL_CHACHA20_AFTER="0")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return None, " ".join(cmd) + ": " + (res.stderr.strip().splitlines() or ["failed"])[-1]
    m = re.search(r"u32=(\d+) grndpool_refills=(\d+) grndpool_rekeys=(\d+)", res.stdout)
    u32, refills, rekeys = (int(x) for x in m.groups())
    return {"u32": u32, "refills": refills, "rekeys": rekeys, "total": total(outfile),
            "incl": annotate(outfile, True), "self": annotate(outfile, False)}, None


def keystream_of(r):
    return max(find(r["incl"], GP_KEYSTREAM), find(r["incl"], KEYSTREAM))


def kernel_key_of(r):
    return max([find(r["incl"], REKEY)] + [find(r["incl"], f) for f in GP_KERNEL_KEY])


def section(table, results, n):
    rows, notes = [], []
    for source, refill_fn, u32_per_refill in table:
        r = results.get(source)
        if r is None:
            continue
        u32 = r["u32"]
        refills = r["refills"] if u32_per_refill is None else u32 / u32_per_refill
        all_ir = r["total"] / u32
        if refill_fn is None and not refills:  # no refills: the vDSO per draw, the seed's pool
            rows.append([source, f"{all_ir:.1f}", f"{all_ir:.1f}", "–", "0", "–", "–", "–"])
            continue
        if refill_fn is None:  # the keystream itself
            ks = find(r["incl"], KEYSTREAM)
            rows.append([source, f"{all_ir:.1f}", "–", f"{all_ir:.1f}", f"{refills:.0f}",
                         f"{r['total'] / refills:.0f}", f"{ks / refills:.0f}", "–"])
            continue
        refill = find(r["incl"], refill_fn)
        ks, rk = keystream_of(r), kernel_key_of(r)
        per_refill = lambda x: f"{x / refills:.0f}" if refills and x else "–"
        rows.append([source, f"{all_ir:.1f}", f"{(r['total'] - refill) / u32:.1f}",
                     f"{refill / u32:.1f}", f"{refills:.0f}", per_refill(refill), per_refill(ks),
                     per_refill(rk)])
    g = results.get("grndpool_u32-call-emu")
    if g:
        fast = max(find(g["self"], "grndpool_u32"), find(g["self"], "grndpool_u32_outline"))
        loop = find(g["self"], "unsigned int grndpool_bench::(anonymous namespace)::DriveLoop<&grndpool_u32_outline>")
        u = results.get("grndpool_u32-call")
        slow = find(g["incl"], SLOW_DRAW)
        refill = find(g["incl"], "grndpool::RefillSlice")
        ks, rk = keystream_of(g), kernel_key_of(g)
        per = lambda x: x / g["refills"]
        notes += [
            f"grndpool_u32-call-emu (the exported function; the kernel model, generation read "
            f"at each refill, as the vDSO "
            f"source natively), {g['u32']} draws, {g['refills']} refills "
            f"({g['u32'] / g['refills']:.0f} u32 each), {g['rekeys']} rekeys from the kernel:",
            "",
            f"- fast path (grndpool_u32's own instructions): {fast / g['u32']:.1f} Ir per draw; "
            f"the loop and call around it: {loop / g['u32']:.1f}",
            f"- one refill: {per(slow):.0f} Ir = keyed work (grndpool::Keystream: libcrypto's "
            f"update and two keyings, register wipe, 4 KiB stack scrub) {per(ks):.0f} + kernel key "
            f"{per(rk):.0f} + the rest of RefillSlice (counters, generation label) "
            f"{per(refill - ks - rk):.0f} + SlowDraw outside RefillSlice {per(slow - refill):.0f}",
            f"- amortised: {slow / g['u32']:.1f} Ir per u32 of refill, of which kernel key "
            f"{rk / g['u32']:.1f} and keyed work {ks / g['u32']:.1f}",
            ""]
        if u:
            notes += [f"grndpool_u32-call as valgrind runs it (no vDSO getrandom under valgrind, so the "
                      f"syscall source: generation unknown, {u['rekeys']} rekeys from the kernel in "
                      f"{u['refills']} refills) costs {u['total'] / u['u32']:.1f} Ir per u32; natively "
                      f"each of those rekeys is also a getrandom syscall, which callgrind "
                      f"counts as a few instructions.", ""]
        for name in ("grndpool_buf-16B-emu", "grndpool_buf-4KiB-emu"):
            b = results.get(name)
            if not b:
                continue
            draws = b["u32"] / (4 if "16B" in name else 1024)
            copies = sum(ir for fn, ir in b["incl"].items()
                         if fn.startswith("__memcpy") or fn.startswith("__memset"))
            notes.append(
                f"- {name}: {b['total'] / draws:.0f} Ir per draw (the loop included), of which "
                f"grndpool_buf's own {find(b['self'], 'grndpool_buf') / draws:.0f}, memcpy and "
                f"memset {copies / draws:.0f}, keyed work {keystream_of(b) / draws:.0f}, "
                f"kernel key {kernel_key_of(b) / draws:.0f}; {b['refills']} refills and "
                f"{b['rekeys']} rekeys from the kernel in {draws:.0f} draws")
        notes.append("")
    head = (f"callgrind, {n} u32 (4-byte units) per source, only the draw loop counted "
            "(`--toggle-collect='*DriveLoop*'`). Ir = instructions executed. `-emu` rows run "
            "behind the userspace kernel model (generation read at each refill, as the vDSO "
            "source does natively; valgrind has no vDSO getrandom). For the buffer rows "
            "\"per u32\" is per 4 bytes served.\n\n")
    table = ["| source | Ir per u32 | per-draw path (loop + call + fast path) | refill, amortised per u32 "
             "| refills | Ir per refill | of which keystream (grndpool: keyed work) | of which rekey (grndpool: kernel key) |",
             "|---|---|---|---|---|---|---|---|"]
    table += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return head + "\n".join(table) + "\n\n" + "\n".join(notes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--out")
    ap.add_argument("--keep", help="directory for the callgrind.out.* files (default: temporary)")
    args = ap.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        print("where_time_goes.py: valgrind not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    keep = args.keep or tempfile.mkdtemp(prefix="grndpool-callgrind-")
    os.makedirs(keep, exist_ok=True)
    results = {}
    table = sources(args.bindir)
    for source, _, _ in table:
        r, err = measure(args.bindir, source, args.n, keep)
        if r is None:
            print(f"where_time_goes.py: skipped {source}: {err}", file=sys.stderr)
        else:
            results[source] = r
    md = section(table, results, args.n)
    if args.out:
        with open(args.out, "w") as f:
            f.write(md + "\n")
    print(md)
    if not args.keep:
        shutil.rmtree(keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
