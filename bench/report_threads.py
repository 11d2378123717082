# SPDX-License-Identifier: Apache-2.0
"""threads_rounds' results (threads_rounds.json: draws/s at 1..4096 threads) and the
issue 20 targets, for bench/report.py."""
import json
import os

from report_md import md_table


def load_threads(path):
    """threads_rounds.json, or None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def threads_best(doc, phase, name):
    """(best aggregate draws/s over the clean blocks, clean blocks, best draws per
    CPU-second) of one source in one phase; the best of all blocks when none was
    clean. None when the source did not run."""
    blocks = phase["blocks"].get(name)
    if not blocks:
        return None
    clean = [b["draws"] / b["wall"] for b in blocks if b["clean"]]
    anyb = [b["draws"] / b["wall"] for b in blocks]
    per_cpu = max([b["draws"] / b["cpu"] for b in blocks if b["cpu"] > 0] + [0])
    return (max(clean) if clean else max(anyb)), len(clean), per_cpu


def threads_paired(phase, name, peer):
    """(median, lowest, highest, rounds) of name's draws per CPU-second over
    peer's, round by round: the two sources' blocks of one round run back to
    back, so a drift of the machine's speed moves both, where the best block of
    each may come from different rounds. None when either did not run."""
    a, b = phase["blocks"].get(name), phase["blocks"].get(peer)
    if not a or not b:
        return None
    ratios = sorted(x["draws"] / x["cpu"] / (y["draws"] / y["cpu"])
                    for x, y in zip(a, b) if x["cpu"] > 0 and y["cpu"] > 0 and y["draws"] > 0)
    if not ratios:
        return None
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return median, ratios[0], ratios[-1], len(ratios)


def paired_text(pair):
    """The cell text of threads_paired's result."""
    if pair is None:
        return ""
    return (f"; round by round {pair[0]:.2f}x median ({pair[1]:.2f}-{pair[2]:.2f}, "
            f"{pair[3]} rounds)")


def threads_sources(doc):
    return [s["name"] for s in doc.get("sources", [])]


def threads_section(doc):
    if not doc:
        return "_threads_rounds did not run._"
    phases = doc["phases"]
    names = threads_sources(doc)
    kinds = {s["name"]: s["kind"] for s in doc["sources"]}
    head = ["source"] + [f"{p['threads']} thr" for p in phases]

    def cell(p, n, per_cpu=False):
        b = threads_best(doc, p, n)
        if b is None:
            return ""
        if per_cpu:
            return f"{b[2] / 1e6:.0f}"
        return f"**{b[0] / 1e6:.0f}** ({b[1]})" if b[1] else f"{b[0] / 1e6:.0f} (0: best of all)"

    agg = md_table(head, [[f"{n} ({kinds[n]})"] + [cell(p, n) for p in phases] for n in names])
    cpu = md_table(head, [[f"{n} ({kinds[n]})"] + [cell(p, n, True) for p in phases]
                          for n in names])
    stat_rows = []
    for p in phases:
        g = p["blocks"].get("grndpool_u32", [])
        draws = sum(b["draws"] for b in g) or 1
        # Overflow: draws past the slab budget, from the reservoir (JSON of
        # runs before it lack the field) or the shared slices.
        shared = sum(b["shared_draws"] + b.get("reservoir_draws", 0) for b in g)
        stat_rows.append([p["threads"], p["started"], f"{p['loadavg_start']:.2f}", p["vmlck_kib"],
                          p["locked_bytes"] // 1024, p["slab_bytes"] // 1024,
                          f"{p['slices_in_use']} ({p['hot_slices_in_use']} hot)",
                          f"{1000 * sum(b['refills'] for b in g) / draws:.2f}",
                          f"{1000 * sum(b['rekeys'] for b in g) / draws:.2f}",
                          f"{100 * shared / draws:.1f} %"])
    stats = md_table(["threads", "started", "load avg at start", "VmLck KiB (whole process)",
                      "grndpool locked KiB", "grndpool slab KiB", "slices in use",
                      "grndpool_u32 refills /1000", "rekeys /1000", "overflow (past the budget)"],
                     stat_rows)
    return (f"{doc['rounds']} rounds per thread count, every source one block per round in a "
            "rotated order, the same threads for the whole phase; a block lasts "
            f"~max({doc['block_ms']} ms, threads x {doc['per_thread_us']} us). **Aggregate M "
            "draws/s**, all threads together, best *clean* block (the process got at least "
            f"{100 * doc['clean_share']:.0f} % of min(threads, {doc['cpus']}) cores; other tenants "
            "only ever take cores away), clean blocks in brackets (bold: from a clean block); `0: best of all`: no clean block, "
            "so the best of all blocks. 16 B rows count 16-byte draws.\n\n" + agg +
            "\n\nM draws per CPU-second the process got (best block): what each source costs, "
            f"whatever share of the machine it was given (x {doc['cpus']} = an idle machine's "
            "aggregate).\n\n" + cpu +
            "\n\ngrndpool at each thread count (stats at the end of the phase; VmLck also counts "
            "the prototypes' own locked buffers when they ran):\n\n" + stats)


def threads_targets(doc, budget):
    """Issue 20's targets from threads_rounds, each met, missed or not judged."""
    if not doc:
        return "_threads_rounds did not run._"
    phases = {p["threads"]: p for p in doc["phases"]}
    rows = []

    def best(n, name):
        p = phases.get(n)
        return None if p is None else threads_best(doc, p, name)

    low = [(n, best(n, "grndpool_u32")) for n in (2, 16) if best(n, "grndpool_u32")]
    if low:
        top_n, top = max(low, key=lambda x: x[1][0])
        top_cpu = max(b[2] for _, b in low)
        for n in (256, 1024, 4096):
            b = best(n, "grndpool_u32")
            if b is None:
                continue
            r, rc = b[0] / top[0], b[2] / top_cpu
            judged = b[1] and top[1]
            rows.append([f"grndpool_u32 at {n} threads vs its best at 2-16 ({top_n})",
                         f"{100 * r:.0f} % (per CPU-second {100 * rc:.0f} %)", ">= 90 %",
                         ("met" if r >= 0.9 else "**missed**") if judged else "**not judged**",
                         "aggregate, best clean blocks" + ("" if judged else
                                                          " (a phase had no clean block)")])
    for n in sorted(phases):
        g, h = best(n, "grndpool_u32"), best(n, "rust-threadrng-held")
        if g is None or h is None:
            continue
        judged = g[1] and h[1]
        r, rc = g[0] / h[0], g[2] / h[2]
        pair = threads_paired(phases[n], "grndpool_u32", "rust-threadrng-held")
        rows.append([f"grndpool_u32 vs held ThreadRng at {n} threads", f"{r:.2f}x "
                     f"(per CPU-second {rc:.2f}x{paired_text(pair)})", ">= 1x",
                     ("met" if r >= 1 else "**missed**") if judged else "**not judged**",
                     "same phase, interleaved blocks"])
    g, h = best(1024, "grndpool_buf-16B"), best(1024, "rust-threadrng-held-16B")
    if g and h:
        judged = g[1] and h[1]
        pair = threads_paired(phases[1024], "grndpool_buf-16B", "rust-threadrng-held-16B")
        rows.append(["16 B draws at 1024 threads vs held ThreadRng fill_bytes(16)",
                     f"{g[0] / h[0]:.2f}x (per CPU-second {g[2] / h[2]:.2f}x"
                     f"{paired_text(pair)})", ">= 1x",
                     ("met" if g[0] >= h[0] else "**missed**") if judged else "**not judged**",
                     "grndpool_buf(16) inline vs fill_bytes(16)"])
    # The prototypes against the same targets, for the design (not the library).
    for name, peer in (("proto-percpu-16k", "rust-threadrng-held"),
                       ("proto-percpu-16k-16B", "rust-threadrng-held-16B")):
        lowp = [b for b in (best(n, name) for n in (2, 16)) if b]
        if not lowp:
            continue
        topc = max(b[2] for b in lowp)
        for n in (256, 1024, 4096):
            b, h = best(n, name), best(n, peer)
            if b is None:
                continue
            rows.append([f"(prototype) {name} at {n} threads",
                         f"{100 * b[2] / topc:.0f} % of its best at 2-16, "
                         f"{b[2] / h[2]:.2f}x {peer} (per CPU-second)" if h else
                         f"{100 * b[2] / topc:.0f} % of its best at 2-16 (per CPU-second)",
                         ">= 90 %, >= 1x", "informational", "bench prototype, not the library"])
    p = phases.get(4096)
    if p is not None and budget:
        rows.append([f"grndpool locked bytes at 4096 threads ({p['started']} started)",
                     f"{p['locked_bytes'] // 1024} KiB (VmLck {p['vmlck_kib']} KiB)",
                     f"<= {budget // 1024} KiB", "met" if p["locked_bytes"] <= budget
                     else "**missed**", "grndpool_stats locked_bytes with every thread alive"])
    return md_table(["target", "measured", "goal", "", "how"], rows)
