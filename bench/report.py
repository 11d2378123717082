#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns one run's measurements into bench/results/summary.md and PNG plots.

Inputs (all in the results directory, all written by bench/run.sh this run):
  bench.json        grndpool-bench, Google Benchmark JSON
  u32_rounds.json   u32_rounds: single-thread head to head and the rdtscp tail
  threads_rounds.json  threads_rounds: draws/s at 1..4096 threads, sources interleaved
  refill_parts.txt  refill_parts stdout (optional, copied into the summary)
  seed_table.txt    seed_table stdout
  memlock_wall.csv  memlock_wall --csv
  describe.txt      grndpool_describe() of the build (optional)
Outputs: summary.md, *.dat + *.gp (gnuplot inputs), and the PNGs when gnuplot
is installed. Every number comes from the inputs; nothing is hard-coded.
Stdlib only (json, csv): the machine has no matplotlib. One module per input:
report_bench.py, report_u32.py, report_threads.py; report_plots.py draws;
this file reads the seed table and memlock_wall and writes the summary.
"""

import csv
import os
import re
import sys

from report_bench import bench_sections, load_bench
from report_md import md_table
from report_plots import write_plots
from report_threads import load_threads, threads_section, threads_targets
from report_u32 import best_scaling, load_rounds, rounds_section, tail_section, targets

SEED_ROW = re.compile(
    r"^== (?P<label>.*?), (?P<n>\d+) u32, (?P<s>[\d.]+) s, (?P<mps>[\d.]+) M u32/s, "
    r"(?P<ns>[\d.]+) ns/u32(?:, \((?P<note>.*)\))?$")


def parse_seed(path):
    rows, lines = [], []
    if not os.path.exists(path):
        return rows, lines
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f]
    for l in lines:
        m = SEED_ROW.match(l)
        if m:
            rows.append(m.groupdict())
    return rows, lines


def seed_section(path):
    rows, lines = parse_seed(path)
    if not rows:
        return "_seed_table did not run or printed no rows._"
    base = float(rows[0]["ns"])
    table = md_table(["path", "N u32", "seconds", "M u32/s", "ns/u32", "vs direct syscall", "note"],
                     [[r["label"], r["n"], r["s"], r["mps"], r["ns"], f"{base / float(r['ns']):.2f}x",
                       r["note"] or ""] for r in rows])
    return table + "\n\nVerbatim, in the seed's format:\n\n```\n" + "\n".join(lines) + "\n```"


def load_memlock(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def memlock_section(rows):
    if not rows:
        return "_memlock_wall did not run._"
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    threads = sorted({int(r["threads_requested"]) for r in rows})
    cell = {(r["strategy"], int(r["threads_requested"])): r for r in rows}

    def fmt(r):
        if r is None:
            return ""
        s = f"{r['vmlck_kib']}"
        if int(r["mlock_failures"]):
            s += f" ({r['mlock_failures']} fail)"
        if r["threads_started"] != r["threads_requested"]:
            s += f" [{r['threads_started']} started]"
        return s

    table = md_table(["threads"] + strategies,
                     [[t] + [fmt(cell.get((s, t))) for s in strategies] for t in threads])
    return ("VmLck in KiB at the barrier (every thread has drawn once); `(n fail)` = "
            "grndpool_stats mlock_failures.\n\n" + table)


def memlock_rlimit(path):
    """RLIMIT_MEMLOCK in bytes from memlock_wall's header line, or None."""
    if os.path.exists(path):
        m = re.search(r"RLIMIT_MEMLOCK=(\d+)", open(path).read())
        if m:
            return int(m.group(1))
    return None


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    runs, kinds, context = load_bench(os.path.join(outdir, "bench.json"))
    rounds, rounds_doc = load_rounds(os.path.join(outdir, "u32_rounds.json"))
    memlock = load_memlock(os.path.join(outdir, "memlock_wall.csv"))
    threads_doc = load_threads(os.path.join(outdir, "threads_rounds.json"))
    describe_path = os.path.join(outdir, "describe.txt")
    describe = open(describe_path).read().strip() if os.path.exists(describe_path) else "(not recorded)"
    pngs = write_plots(outdir, runs, kinds, rounds, memlock,
                       memlock_rlimit(os.path.join(outdir, "memlock_wall.txt")), threads_doc)
    budget = None
    m = re.search(r"slab=(\d+)B", describe)
    if m:
        budget = int(m.group(1))

    md = ["# grndpool benchmark summary", "",
          f"- library: `{describe}`",
          f"- host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
          f"load average at start {context.get('load_avg', '?')}, run {context.get('date', '?')}",
          "- `ns/draw` = wall time of one draw as each thread experiences it, with all threads running "
          "(so it grows with threads beyond the core count); `M draws/s` and `GB/s` = all threads "
          "together.", ""]
    cpus = context.get("num_cpus")
    # Loads sampled as each program started (run.sh runs u32_rounds first): the
    # end of a run counts the bench's own threads.
    loads = [l for l in [(context.get("load_avg") or [None])[0], rounds_doc.get("loadavg_start")]
             if isinstance(l, (int, float))]
    # The load average decays over minutes and counts what ran just before (a
    # 4096-thread phase leaves thousands), so whether a second core was free
    # is read from this run: the keystream alone's 1 -> 2 thread scaling.
    ks = best_scaling(rounds, "keystream-limit")
    if cpus and loads and max(loads) > cpus and ks is not None and ks >= 1.8:
        md += [f"The 1-minute load average read up to {max(loads):.1f} on {cpus} CPUs as "
               f"the programs started, but the keystream alone scaled {ks:.2f}x from 1 to 2 "
               "threads in this run (2.00x = a free second core): the load average still "
               "counted work that had ended (it decays over minutes).", ""]
    elif cpus and loads and max(loads) > cpus:
        md += [f"**The machine was busy during this run** (1-minute load average up to "
               f"{max(loads):.1f} on {cpus} CPUs, and the keystream alone scaled "
               f"{ks if ks is not None else 0:.2f}x from 1 to 2 threads): absolute times are "
               "inflated and 2-thread scaling cannot show (no second core is free). The "
               "single-thread ratios come from interleaved rounds, so they suffer less; "
               "re-run on a quiet machine before quoting a number.", ""]
    md += ["## Issue 20 targets: draws per second from 1 to 4096 threads (threads_rounds)", "",
           threads_targets(threads_doc, budget), "",
           "## Draws per second against threads (threads_rounds)", "",
           threads_section(threads_doc), ""]
    parts_path = os.path.join(outdir, "refill_parts.txt")
    if os.path.exists(parts_path):
        md += ["## The parts of a refill, natively (refill_parts)", "", "```",
               open(parts_path).read().strip(), "```", ""]
    md += ["## Issue 9 targets, measured in this run", "",
           "Each ratio compares two numbers measured in this run. `slab` in grndpool-bench is "
           "the public API (`grndpool_u32()`, `grndpool_buf()`), as in u32_rounds.", "",
           targets(runs, rounds) if (runs or rounds) else "_nothing measured._", "",
           "## One thread, head to head (u32_rounds)", "", rounds_section(rounds, rounds_doc), "",
           "## Tail latency of one u32 draw (u32_rounds, rdtscp)", "",
           tail_section(rounds, rounds_doc), ""]
    md += bench_sections(runs, kinds)
    cg_path = os.path.join(outdir, "callgrind.md")
    if os.path.exists(cg_path):
        md += ["## Where the time goes (callgrind, instructions)", "", open(cg_path).read().strip(), ""]
    seed_path = os.path.join(outdir, "seed_table.txt")
    md += ["## The seed's table on this machine", "", seed_section(seed_path), "",
           "## Memlock wall", "", memlock_section(memlock), ""]
    if pngs:
        md += ["## Plots", ""] + [f"![{p}]({p})" for p in pngs] + [""]
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
