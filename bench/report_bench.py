# SPDX-License-Identifier: Apache-2.0
"""grndpool-bench's results (bench.json, Google Benchmark JSON) for bench/report.py."""
import json

from report_md import fmt_ns, md_table


SIZES = ["u32", "u64", "16B", "4KiB"]


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
        ratio_line("slab vs keystream-limit, 4 KiB, 1 thread",
                   v("4KiB", "slab", 1, "bytes_per_second"),
                   v("4KiB", "keystream-limit", 1, "bytes_per_second"),
                   "slab GB/s ÷ keystream GB/s (1.0 = at the floor of any ChaCha20 design)"),
        ratio_line("slab 2 threads vs 1 thread, u32 aggregate", v("u32", "slab", 2, "items_per_second"),
                   v("u32", "slab", 1, "items_per_second"),
                   "aggregate draws/s ratio (2.0 = perfect scaling on 2 cores)"),
        ratio_line("slab 1024 threads vs 2 threads, u32 aggregate",
                   v("u32", "slab", 1024, "items_per_second"), v("u32", "slab", 2, "items_per_second"),
                   "aggregate draws/s ratio (1.0 = no loss from oversubscription)"),
    ]
    return "| ratio | value | meaning |\n|---|---|---|\n" + "\n".join(rows)


def bench_sections(runs, kinds):
    """The summary's grndpool-bench sections, as markdown lines."""
    if not runs:
        return ["_grndpool-bench produced no results._"]
    rows = []
    for s in kinds:
        rows.append([f"{s} ({kinds[s]})"] +
                    [fmt_ns(v) if (v := value(runs, sz, s, 1, "ns_per_draw")) is not None else ""
                     for sz in SIZES])
    return ["## ns per u32 draw (per thread) vs threads (grndpool-bench)", "",
            pivot(runs, kinds, "u32", lambda r: fmt_ns(float(r["ns_per_draw"]))), "",
            "## u32 aggregate throughput (M draws/s, all threads) (grndpool-bench)", "",
            pivot(runs, kinds, "u32", lambda r: f"{float(r['items_per_second']) / 1e6:.2f}"), "",
            "## ns per draw by size, 1 thread (grndpool-bench)", "",
            md_table(["source"] + SIZES, rows), "",
            "## 4 KiB draws: GB/s (all threads) (grndpool-bench)", "",
            pivot(runs, kinds, "4KiB", lambda r: f"{float(r['bytes_per_second']) / 1e9:.3f}"), "",
            "## Ratios (grndpool-bench)", "", ratios(runs), ""]
