# SPDX-License-Identifier: Apache-2.0
"""token_bytes(16) and friends against os.urandom and secrets, interleaved in
one process (python/bench.sh runs it on a fresh install).

Each round times every source for CALLS calls in an order rotated every round;
the best round is the source's own cost on a shared machine, the median shows
the neighbours' load. Prints a markdown table and the issue 18 target."""
import os
import secrets
import statistics
import sys
import time

import grndpool

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 61
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
sources = [
    ("grndpool.token_bytes(16)", grndpool.token_bytes, 16),
    ("os.urandom(16)", os.urandom, 16),
    ("secrets.token_bytes(16)", secrets.token_bytes, 16),
    ("grndpool.token_hex(16)", grndpool.token_hex, 16),
    ("secrets.token_hex(16)", secrets.token_hex, 16),
    ("grndpool.randbelow(1000)", grndpool.randbelow, 1000),
    ("secrets.randbelow(1000)", secrets.randbelow, 1000),
]
loop_ns, pid_ns = [], []
results = {name: [] for name, _, _ in sources}


def block(fn, arg):
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter_ns() - t0) / calls


def empty(arg):
    return None


for r in range(rounds):
    loop_ns.append(block(empty, 0))
    pid_ns.append(block(lambda _: os.getpid(), 0))
    for k in range(len(sources)):
        name, fn, arg = sources[(k + r) % len(sources)]
        results[name].append(block(fn, arg))

print(f"Python {sys.version.split()[0]}, {calls} calls per block, {rounds} rounds, "
      f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
print(f"{grndpool.describe()}\n")
print("| call | best ns/call | median ns/call | vs os.urandom(16) (best) |")
print("|---|---|---|---|")
base = min(results["os.urandom(16)"])
for name, _, _ in sources:
    best, med = min(results[name]), statistics.median(results[name])
    print(f"| `{name}` | {best:.1f} | {med:.1f} | {base / best:.1f}x |")
print(f"| (an empty Python call, for scale) | {min(loop_ns):.1f} | {statistics.median(loop_ns):.1f} | |")
print(f"| (`os.getpid()`, one bare system call, for scale) | {min(pid_ns):.1f} | "
      f"{statistics.median(pid_ns):.1f} | |")
speedup = base / min(results["grndpool.token_bytes(16)"])
med_speedup = statistics.median(results["os.urandom(16)"]) / statistics.median(
    results["grndpool.token_bytes(16)"])
print(f"\nTarget: token_bytes(16) at least 8x faster than os.urandom(16): {speedup:.1f}x best, "
      f"{med_speedup:.1f}x median: {'met' if speedup >= 8 else 'MISSED'}")
