#!/usr/bin/env python3
"""Turns one run's measurements into bench/results/summary.md and PNG plots.

Inputs (all in the results directory, all written by bench/run.sh this run):
  bench.json        grndpool-bench, Google Benchmark JSON
  seed_table.txt    seed_table stdout
  memlock_wall.csv  memlock_wall --csv
  describe.txt      grndpool_describe() of the build (optional)
Outputs: summary.md, *.dat + *.gp (gnuplot inputs), and the PNGs when gnuplot
is installed. Every number comes from the inputs; nothing is hard-coded.
Stdlib only (json, csv): the machine has no matplotlib.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

SIZES = ["u32", "u64", "16B", "4KiB"]
SEED_ROW = re.compile(
    r"^== (?P<label>.*?), (?P<n>\d+) u32, (?P<s>[\d.]+) s, (?P<mps>[\d.]+) M u32/s, "
    r"(?P<ns>[\d.]+) ns/u32(?:, \((?P<note>.*)\))?$")


def load_bench(path):
    """{(size, source): {threads: run}} plus {source: kind}, in first-seen order."""
    with open(path) as f:
        data = json.load(f)
    runs, kinds = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "ns_per_draw" not in b:
            continue
        size, source = b["name"].split("/")[:2]
        runs.setdefault((size, source), {})[int(b["threads"])] = b
        kinds.setdefault(source, b.get("label", ""))
    return runs, kinds, data.get("context", {})


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def thread_counts(runs, size):
    return sorted({t for (sz, _), by in runs.items() if sz == size for t in by})


def sources_for(runs, kinds, size):
    return [s for s in kinds if (size, s) in runs]


def pivot(runs, kinds, size, cell):
    threads = thread_counts(runs, size)
    rows = []
    for s in sources_for(runs, kinds, size):
        by = runs[(size, s)]
        rows.append([f"{s} ({kinds[s]})"] + [cell(by[t]) if t in by else "" for t in threads])
    return md_table(["source"] + [f"{t} thr" for t in threads], rows)


def value(runs, size, source, threads, key):
    run = runs.get((size, source), {}).get(threads)
    return None if run is None else float(run[key])


def ratio_line(what, num, den, meaning):
    if num is None or den is None or den == 0:
        return f"| {what} | n/a (not measured in this run) | {meaning} |"
    return f"| {what} | {num / den:.2f}x | {meaning} |"


def ratios(runs):
    v = lambda size, src, thr, key: value(runs, size, src, thr, key)
    slab1 = v("u32", "slab", 1, "ns_per_draw")
    rows = [
        ratio_line("slab vs vdso, u32, 1 thread", v("u32", "vdso", 1, "ns_per_draw"), slab1,
                   "vdso ns/draw ÷ slab ns/draw (>1: slab faster)"),
        ratio_line("slab vs glibc arc4random, u32, 1 thread",
                   v("u32", "glibc-arc4random", 1, "ns_per_draw"), slab1,
                   "arc4random ns/draw ÷ slab ns/draw (>1: slab faster)"),
        ratio_line("slab vs raw chacha20, 4 KiB, 1 thread", v("4KiB", "slab", 1, "bytes_per_second"),
                   v("4KiB", "raw-chacha20", 1, "bytes_per_second"),
                   "slab GB/s ÷ raw keystream GB/s (1.0 = at the ceiling)"),
        ratio_line("slab 2 threads vs 1 thread, u32 aggregate", v("u32", "slab", 2, "items_per_second"),
                   v("u32", "slab", 1, "items_per_second"),
                   "aggregate draws/s ratio (2.0 = perfect scaling on 2 cores)"),
        ratio_line("slab 1024 threads vs 2 threads, u32 aggregate",
                   v("u32", "slab", 1024, "items_per_second"), v("u32", "slab", 2, "items_per_second"),
                   "aggregate draws/s ratio (1.0 = no loss from oversubscription)"),
    ]
    return "| ratio | value | meaning |\n|---|---|---|\n" + "\n".join(rows)


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


# Distinct colours: 11 sources would otherwise reuse gnuplot's 8 defaults.
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"]


def write_plots(outdir, runs, kinds, memlock, rlimit):
    """Writes gnuplot data and scripts; runs gnuplot if present. Returns PNG names."""
    made = []
    # ns per u32 vs threads: one block per source (gnuplot 'index').
    u32 = sources_for(runs, kinds, "u32")
    with open(os.path.join(outdir, "ns_per_u32_vs_threads.dat"), "w") as f:
        for s in u32:
            f.write(f'"{s}"\n')
            for t, r in sorted(runs[("u32", s)].items()):
                f.write(f"{t} {float(r['ns_per_draw']):.6g}\n")
            f.write("\n\n")
    plots = ", ".join(
        f"'ns_per_u32_vs_threads.dat' index {i} using 1:2 with linespoints "
        f"lc rgb '{COLOURS[i % len(COLOURS)]}' "
        f"{'lw 2.5 dt 1' if kinds[s] == 'strategy' else 'lw 1.5 dt 2'} title '{s}'"
        for i, s in enumerate(u32))
    gp = ["set terminal pngcairo size 1100,700 enhanced font ',10'",
          "set output 'ns_per_u32_vs_threads.png'",
          "set title 'u32 draw: wall time per draw as each thread sees it "
          "(solid: grndpool strategies, dashed: peers)'",
          "set logscale x 2", "set logscale y 10", "set format y '10^{%L}'",
          "set xlabel 'threads'", "set ylabel 'ns per draw per thread'",
          "set key outside right", "set grid", f"plot {plots}"]
    scripts = [("ns_per_u32_vs_threads.gp", gp, "ns_per_u32_vs_threads.png")]

    if memlock:
        strategies = list(dict.fromkeys(r["strategy"] for r in memlock))
        with open(os.path.join(outdir, "locked_bytes_vs_threads.dat"), "w") as f:
            for s in strategies:
                f.write(f'"{s}"\n')
                for r in memlock:
                    if r["strategy"] == s:
                        f.write(f"{r['threads_requested']} {int(r['vmlck_kib'])}\n")
                f.write("\n\n")
        # Zero cannot sit on a log axis: strategies that lock nothing are named instead.
        zero = [s for s in strategies
                if all(int(r["vmlck_kib"]) == 0 for r in memlock if r["strategy"] == s)]
        shown = [(i, s) for i, s in enumerate(strategies) if s not in zero]
        plots = [f"'locked_bytes_vs_threads.dat' index {i} using 1:2 with linespoints lw 2 "
                 f"lc rgb '{COLOURS[i % len(COLOURS)]}' title '{s}'" for i, s in shown]
        top = max([int(r["vmlck_kib"]) for r in memlock] + [1])
        if rlimit:
            plots.append(f"{rlimit // 1024} with lines dt 3 lc rgb 'black' "
                         f"title 'RLIMIT\\_MEMLOCK ({rlimit // 1024} KiB)'")
            top = max(top, rlimit // 1024)
        note = f" (locking nothing: {', '.join(zero)})" if zero else ""
        gp = ["set terminal pngcairo size 1000,650 enhanced font ',10'",
              "set output 'locked_bytes_vs_threads.png'",
              f"set title 'Locked memory (VmLck) after every thread drew once{note}'",
              "set logscale xy 2", f"set yrange [2:{top * 4}]", "set xlabel 'threads'",
              "set ylabel 'VmLck (KiB)'", "set key left top", "set grid",
              f"plot {', '.join(plots)}"]
        scripts.append(("locked_bytes_vs_threads.gp", gp, "locked_bytes_vs_threads.png"))

    gnuplot = shutil.which("gnuplot")
    for name, lines, png in scripts:
        with open(os.path.join(outdir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        if gnuplot:
            res = subprocess.run([gnuplot, name], cwd=outdir, capture_output=True, text=True)
            if res.returncode == 0:
                made.append(png)
            else:
                print(f"report.py: gnuplot {name} failed: {res.stderr.strip()}", file=sys.stderr)
        else:
            print("report.py: gnuplot not installed; wrote the .gp/.dat inputs only", file=sys.stderr)
    return made


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
    memlock = load_memlock(os.path.join(outdir, "memlock_wall.csv"))
    describe_path = os.path.join(outdir, "describe.txt")
    describe = open(describe_path).read().strip() if os.path.exists(describe_path) else "(not recorded)"
    pngs = write_plots(outdir, runs, kinds, memlock,
                       memlock_rlimit(os.path.join(outdir, "memlock_wall.txt")))

    md = ["# grndpool benchmark summary", "",
          f"- library: `{describe}`",
          f"- host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
          f"load average at start {context.get('load_avg', '?')}, run {context.get('date', '?')}",
          "- `ns/draw` = wall time of one draw as each thread experiences it, with all threads running "
          "(so it grows with threads beyond the core count); `M draws/s` and `GB/s` = all threads "
          "together.", ""]
    if not runs:
        md.append("_grndpool-bench produced no results._")
    else:
        md += ["## ns per u32 draw (per thread) vs threads", "",
               pivot(runs, kinds, "u32", lambda r: fmt_ns(float(r["ns_per_draw"]))), "",
               "## u32 aggregate throughput (M draws/s, all threads)", "",
               pivot(runs, kinds, "u32", lambda r: f"{float(r['items_per_second']) / 1e6:.2f}"), "",
               "## ns per draw by size, 1 thread", ""]
        rows = []
        for s in kinds:
            rows.append([f"{s} ({kinds[s]})"] +
                        [fmt_ns(v) if (v := value(runs, sz, s, 1, "ns_per_draw")) is not None else ""
                         for sz in SIZES])
        md += [md_table(["source"] + SIZES, rows), "",
               "## 4 KiB draws: GB/s (all threads)", "",
               pivot(runs, kinds, "4KiB", lambda r: f"{float(r['bytes_per_second']) / 1e9:.3f}"), "",
               "## Ratios", "", ratios(runs), ""]
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
