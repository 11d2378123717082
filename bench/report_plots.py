# SPDX-License-Identifier: Apache-2.0
"""The PNG plots of bench/report.py (gnuplot inputs *.dat and *.gp, and the PNGs when
gnuplot is installed)."""
import os
import shutil
import subprocess
import sys

from report_bench import sources_for, thread_counts
from report_threads import threads_best, threads_sources
from report_u32 import rounds_ns

# Distinct colours: 15 sources would otherwise reuse gnuplot's 8 defaults.
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8", "#393b79", "#637939",
           "#e7969c", "#843c39"]


def gnuplot_text(text):
    """Escapes what the enhanced text mode would read as markup (_ is a subscript)."""
    return text.replace("_", "\\_")


def threads_plot(doc):
    """(script name, gnuplot lines, png) for draws/s against threads from threads_rounds, or
    None. One line per source: the best clean block's aggregate rate (best of all when none
    was clean)."""
    if not doc:
        return None
    names = threads_sources(doc)
    kinds = {s["name"]: s["kind"] for s in doc["sources"]}
    sizes = {s["name"]: s["bytes_per_draw"] for s in doc["sources"]}
    rows = {n: [] for n in names}
    per_cpu = {n: [] for n in names}
    for p in doc["phases"]:
        for n in names:
            b = threads_best(doc, p, n)
            if b is not None:
                rows[n].append((p["threads"], b[0] / 1e6))
                per_cpu[n].append((p["threads"], b[2] / 1e6))
    return names, kinds, sizes, rows, per_cpu, [p["threads"] for p in doc["phases"]]


def write_plots(outdir, runs, kinds, rounds, memlock, rlimit, threads_doc=None):
    """Writes gnuplot data and scripts; runs gnuplot if present. Returns PNG names."""
    made = []
    scripts = []
    tp = threads_plot(threads_doc)
    if tp:
        names, tkinds, sizes, rows, per_cpu, counts = tp

        def style(n):
            dash = "dt 2" if sizes[n] == 16 else "dt 1"
            width = {"grndpool": 4, "prototype": 2.5, "limit": 1.5, "floor": 1}.get(tkinds[n], 2)
            if tkinds[n] in ("limit", "floor"):
                dash = "dt 3"
            return f"lw {width} {dash} pt {7 if sizes[n] == 4 else 6}"

        for stem, series, what in (
                ("u32_draws_per_s_vs_threads", rows,
                 "Draws per second, all threads together (best clean block)"),
                ("draws_per_cpu_s_vs_threads", per_cpu,
                 "Draws per CPU-second the process got (best block)")):
            with open(os.path.join(outdir, stem + ".dat"), "w") as f:
                for n in names:
                    f.write(f'"{n}"\n')
                    for t, v in series[n]:
                        f.write(f"{t} {v:.6g}\n")
                    f.write("\n\n")
            plots = ", ".join(
                f"'{stem}.dat' index {i} using 1:2 with linespoints "
                f"lc rgb '{COLOURS[i % len(COLOURS)]}' {style(n)} "
                f"title '{gnuplot_text(n + (' (16 B draws)' if sizes[n] == 16 else ''))}'"
                for i, n in enumerate(names))
            gp = ["set terminal pngcairo size 1200,720 enhanced font ',10'",
                  f"set output '{stem}.png'",
                  f'set title "{what}, {threads_doc["cpus"]} cores (threads\\_rounds; higher is '
                  'better)\\nsolid: u32 draws, dashed: 16-byte draws, dotted: keystream-limit and '
                  'the harness floor; thick: grndpool" noenhanced',
                  "set logscale x 2", "set xtics (" + ", ".join(str(t) for t in counts) + ")",
                  f"set xrange [0.8:{max(counts) * 1.25}]",
                  "set logscale y 10", "set format y '%g'", "set xlabel 'threads'",
                  "set ylabel 'million draws per second (log)'", "set key outside right",
                  "set grid", f"plot {plots}"]
            scripts.append((stem + ".gp", gp, stem + ".png"))
    # grndpool-bench's strategies and peers against threads (up to 1024), one block per
    # source (gnuplot 'index').
    u32 = sources_for(runs, kinds, "u32")
    with open(os.path.join(outdir, "strategies_u32_draws_per_s_vs_threads.dat"), "w") as f:
        for s in u32:
            f.write(f'"{s}"\n')
            for t, r in sorted(runs[("u32", s)].items()):
                f.write(f"{t} {float(r['items_per_second']) / 1e6:.6g}\n")
            f.write("\n\n")
    style = {"strategy": "lw 2.5 dt 1 pt 7", "peer": "lw 1.5 dt 2 pt 6", "limit": "lw 2 dt 3 pt 5"}
    titles = {s: gnuplot_text(s + (" (grndpool_u32)" if s == "slab" else "")) for s in u32}
    plots = ", ".join(
        f"'strategies_u32_draws_per_s_vs_threads.dat' index {i} using 1:2 with linespoints "
        f"lc rgb '{COLOURS[i % len(COLOURS)]}' "
        f"{'lw 4 dt 1 pt 7' if s == 'slab' else style.get(kinds[s], style['peer'])} "
        f"title '{titles[s]}'"
        for i, s in enumerate(u32))
    gp = ["set terminal pngcairo size 1100,700 enhanced font ',10'",
          "set output 'strategies_u32_draws_per_s_vs_threads.png'",
          'set title "grndpool-bench: u32 draws per second, all threads together (2 cores; '
          'higher is better)\\nsolid: grndpool strategies, dashed: peers, dotted: '
          'keystream-limit (16 KiB calls)" noenhanced',
          "set logscale x 2", "set xtics (" + ", ".join(
              str(t) for t in thread_counts(runs, "u32")) + ")", "set logscale y 10", "set format y '%g'",
          "set xlabel 'threads'", "set ylabel 'million u32 draws per second (log)'",
          "set key outside right", "set grid", f"plot {plots}"]
    if u32:
        scripts.append(("strategies_u32_draws_per_s_vs_threads.gp", gp,
                        "strategies_u32_draws_per_s_vs_threads.png"))

    # Single-thread ns per u32, one bar per source, fastest first: u32_rounds' best
    # unpreempted rounds when it ran (robust to other tenants), else grndpool-bench.
    colours = {"grndpool": "0xff7f0e", "strategy": "0x1f77b4", "peer": "0xd62728",
               "limit": "0x2ca02c", "prototype": "0x9467bd"}
    if rounds:
        bars = sorted((rounds_ns(rounds, n), n, e["kind"]) for n, e in rounds.items()
                      if e.get("bytes_per_draw") == 4 and e["kind"] in colours
                      and "ns_per_draw_rounds" in e)
        where = "u32_rounds, best unpreempted round of each"
    else:
        bars = sorted((float(runs[("u32", s)][1]["ns_per_draw"]), s,
                       "grndpool" if s == "slab" else kinds[s]) for s in u32
                      if 1 in runs[("u32", s)])
        where = "grndpool-bench"
    if bars:
        with open(os.path.join(outdir, "ns_per_u32_1_thread.dat"), "w") as f:
            for i, (ns, s, kind) in enumerate(bars):
                label = "grndpool_u32 (slab)" if s == "slab" else s
                f.write(f'{i} {ns:.6g} {colours.get(kind, "0xd62728")} "{label}"\n')
        gp = ["set terminal pngcairo size 1200,680 enhanced font ',10'",
              "set output 'ns_per_u32_1_thread.png'",
              f'set title "One thread: ns per u32 draw ({where}; lower is better; log scale)\\n'
              'orange: grndpool_u32, blue: other grndpool strategies, red: peers, '
              'green: keystream-limit (16 KiB calls), purple: bench-only prototype" noenhanced',
              "set style fill solid 0.85 border -1", "set boxwidth 0.7",
              "set logscale y 10", "set format y '%g'", "set ylabel 'ns per u32 (log)'",
              "set yrange [0.1:*]", "set grid ytics", "unset key", "set bmargin 9",
              "set xtics rotate by -40 left nomirror noenhanced font ',9'",
              f"set xrange [-0.7:{len(bars) - 0.3}]",
              "plot 'ns_per_u32_1_thread.dat' using 1:2:3:xtic(4) with boxes lc rgb variable, "
              "'' using 1:($2*1.3):(sprintf('%.3g', $2)) with labels font ',8'"]
        scripts.append(("ns_per_u32_1_thread.gp", gp, "ns_per_u32_1_thread.png"))

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
