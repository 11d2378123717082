#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The VM-clone test: does buffered randomness stop repeating once the kernel has reseeded?

Boots the x86_64 guest kernel (build-kernel.sh) under TCG with QEMU's vmgenid
device and the static guest program kernel/vm/vm_clone.cc. The guest waits
until it has been up 2 minutes and the kernel's next scheduled reseed is at
least 30 s away (it logs every reseed it sees), then starts one worker per
library mode, each with 3 threads that draw once, so the library holds
buffered bytes, and block:

  per-draw    GRND_TIMESTAMP checked before every draw (the series' point);
  unchecked   the same, with the check disabled (the positive control);
  per-refill  the stock vDSO's generation, checked at each refill.

The VM is saved (QMP stop, migrate to "exec:cat > state") and resumed
(-incoming, QMP cont, a line typed on the console) as 4 clones with vmgenid
GUIDs of their own and 2 with the original's. Every thread draws blocks of
16..96 bytes, records each (a 64-bit fingerprint), and asks the kernel itself
(the GRND_TIMESTAMP syscall) after every draw whether it reseeded: draw k is
the one in flight when the reseed became visible.

Asserted, across the 4 clones with their own IDs:
  - every thread saw the guest kernel reseed;
  - per-draw: no draw after k is found in any other clone's output;
  - unchecked: that same assertion fails (draws after k are shared);
  - the 2 same-ID clones saw no reseed during their draws (the control is
    conclusive) and share their output.
Reported: the draws each mode served before and after k that another clone
also served (per-refill's window), when the reseed became visible.
Prints one line per figure and a summary; exits non-zero on failure. The
serial consoles are kept in the kernel cache's logs/ directory.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIR = os.path.dirname(HERE)
MODES = ("per-draw", "unchecked", "per-refill")
OWN_CLONES = 4
CONTROL_CLONES = 2
ALL_VMS = []  # killed on the way out, whatever happened


def log(msg):
    print(f"grndpool-vm-clone: {msg}", flush=True)


class Vm:
    """One QEMU process: serial console on a pipe, QMP on a unix socket."""

    def __init__(self, name, work, common, guid, extra, log_dir):
        self.name = name
        self.qmp_path = os.path.join(work, f"{name}.qmp")
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.lines = []
        self.cond = threading.Condition()
        cmd = common + ["-device", f"vmgenid,guid={guid}",
                        "-qmp", f"unix:{self.qmp_path},server=on,wait=off"] + extra
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        ALL_VMS.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.sock = None
        self.buf = b""

    def _read(self):
        with open(self.log_path, "wb") as out:
            for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                line = raw.decode(errors="replace").rstrip("\r\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise RuntimeError(f"{self.name}: no '{prefix}' line within {timeout} s "
                                       f"(log {self.log_path})")
                self.cond.wait(min(left, 1.0))

    def qmp(self, command, **arguments):
        if self.sock is None:
            for _ in range(200):
                try:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.connect(self.qmp_path)
                    break
                except OSError:
                    self.sock = None
                    time.sleep(0.05)
            if self.sock is None:
                raise RuntimeError(f"{self.name}: cannot connect to QMP")
            self._reply()  # the greeting
            self.qmp("qmp_capabilities")
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(f"{self.name}: QMP {command}: {reply['error']}")
        return reply.get("return")

    def _reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"{self.name}: QMP connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def type_line(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name}: did not finish within {timeout} s "
                               f"(log {self.log_path})")
        self.reader.join(5)


def parse(vm):
    """Per mode, per thread: the result fields and the fingerprints in order."""
    out = {m: {} for m in MODES}
    for line in vm.lines:
        parts = line.split()
        if len(parts) < 3 or parts[0] != "GRNDPOOL-CLONE:" or parts[1] not in out:
            continue
        mode = parts[1]
        if parts[2] != "thread":
            continue
        thread = out[mode].setdefault(int(parts[3]), {"result": None, "fps": []})
        if parts[4] == "result":
            thread["result"] = {k: float(v) for k, v in (p.split("=", 1) for p in parts[5:])}
        elif parts[4] == "fp":
            # A kernel message can break into a line: then the record is not trusted.
            fps = parts[6:]
            if int(parts[5]) != len(thread["fps"]) or not all(
                    len(h) == 16 and all(c in "0123456789abcdef" for c in h) for h in fps):
                raise RuntimeError(f"{vm.name}: garbled line (log {vm.log_path}): {line[:80]}")
            thread["fps"].extend(fps)
    for mode in MODES:
        if not out[mode]:
            raise RuntimeError(f"{vm.name}: no result for {mode} (log {vm.log_path})")
        for t, thread in out[mode].items():
            r = thread["result"]
            if r is None or r["draws"] != len(thread["fps"]):
                raise RuntimeError(f"{vm.name}: {mode} thread {t}: incomplete record "
                                   f"(log {vm.log_path})")
    return out


def visible_ms(clone):
    """When the clone's kernel reseed was first seen, in ms after its first
    thread woke: the earliest (wake + visible) over all threads of all modes."""
    threads = [t["result"] for mode in MODES for t in clone[mode].values()]
    woke = min(r["start_ms"] for r in threads)
    seen = [r["start_ms"] + r["visible_us"] / 1e3 for r in threads if r["k"] >= 0]
    return min(seen) - woke if seen else float("nan")


def shared_after(clones, mode):
    """Per clone: (draws after k that another clone served too, draws up to k
    served by another clone, draws up to k, draws after k, visible times)."""
    everyone = []
    for c in clones:
        fps = set()
        for thread in c[mode].values():
            fps.update(thread["fps"])
        everyone.append(fps)
    rows = []
    for i, c in enumerate(clones):
        others = set().union(*(everyone[j] for j in range(len(clones)) if j != i))
        after = before = n_before = n_after = 0
        visible = []
        for thread in c[mode].values():
            k = int(thread["result"]["k"])
            visible.append(thread["result"]["visible_us"])
            for index, fp in enumerate(thread["fps"]):
                if k < 0 or index <= k:
                    n_before += 1
                    before += fp in others
                else:
                    n_after += 1
                    after += fp in others
        rows.append({"after": after, "before": before, "n_before": n_before,
                     "n_after": n_after, "visible_us": visible,
                     "k": [int(t["result"]["k"]) for t in c[mode].values()]})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payload", required=True, help="static vm_clone binary")
    ap.add_argument("--timeout", type=int, default=600, help="per VM, seconds")
    ap.add_argument("--kernel", help="boot this bzImage instead of build-kernel.sh's")
    args = ap.parse_args()
    t_start = time.monotonic()

    if args.kernel:
        bzimage, cached, release = args.kernel, "given", os.path.basename(args.kernel)
        log_dir = os.path.join(tempfile.gettempdir(),
                               time.strftime("grndpool-clone-%Y%m%d-%H%M%S-") + str(os.getpid()))
    else:
        built = subprocess.run([os.path.join(HERE, "build-kernel.sh"), "--arch", "x86_64"],
                               check=True, stdout=subprocess.PIPE, text=True).stdout.split()
        cache, cached, bzimage = built[-3], built[-2], built[-1]
        release = open(os.path.join(cache, "kernelrelease")).read().strip()
        log_dir = os.path.join(cache, "logs",
                               time.strftime("clone-%Y%m%d-%H%M%S-") + str(os.getpid()))
    os.makedirs(log_dir)

    work = tempfile.mkdtemp(prefix="grndpool-vm-clone.")
    try:
        root = os.path.join(work, "root")
        for d in ("dev", "proc", "sys", "tmp", "payloads"):
            os.makedirs(os.path.join(root, d))
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", os.path.join(root, "init"),
                        os.path.join(KERNEL_DIR, "vm", "init.c")], check=True)
        shutil.copy(args.payload, os.path.join(root, "payloads", "vm_clone"))
        with open(os.path.join(root, "payloads.list"), "w") as f:
            f.write("/payloads/vm_clone\n")
        initrd = os.path.join(work, "initramfs.gz")
        subprocess.run(f"cd {root} && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > {initrd}",
                       shell=True, check=True)
        state = os.path.join(work, "state")
        common = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "2",
                  "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none",
                  "-no-reboot", "-kernel", bzimage, "-initrd", initrd,
                  "-append", "console=ttyS0 panic=-1 loglevel=1 GRNDPOOL_PAYLOAD_TIMEOUT=900"]

        guid0 = str(uuid.uuid4())
        original = Vm("original", work, common, guid0, [], log_dir)
        ready = original.wait_line("GRNDPOOL-CLONE: all ready", args.timeout)
        original.qmp("stop")
        fields = dict(p.split("=", 1) for p in ready.split()[3:])
        describe = {m: l.split(" describe ", 1)[1] for l in original.lines
                    for m in MODES if l.startswith(f"GRNDPOOL-CLONE: {m} describe ")}
        reseeds = [l.split()[2].split("=")[1] for l in original.lines
                   if l.startswith("GRNDPOOL-CLONE: reseed ")]
        original.qmp("migrate", uri=f"exec:cat > {state}")
        while True:
            status = original.qmp("query-migrate").get("status")
            if status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.1)
        if status != "completed":
            raise RuntimeError(f"saving the VM: migration {status}")
        original.qmp("quit")
        original.finish(30)
        last_ms, next_ms = float(fields["last_reseed_ms"]), float(fields["next_reseed_ms"])
        log(f"saved the VM ({os.path.getsize(state) >> 20} MiB) at guest uptime "
            f"{float(fields['uptime_ms']) / 1e3:.1f} s, {time.monotonic() - t_start:.1f} s "
            f"after the start; kernel {release} ({cached}, tcg)")
        log(f"guest reseeds seen before the save (uptime, ms): {' '.join(reseeds)}; the next "
            f"scheduled one is due at {next_ms / 1e3:.1f} s (last {last_ms / 1e3:.1f} s + 60 s)")

        # Two clones at a time: each has 2 vCPUs, the host has 2 cores.
        specs = [(f"own{i + 1}", str(uuid.uuid4()), "go") for i in range(OWN_CLONES)] + \
                [(f"same{i + 1}", guid0, "go control") for i in range(CONTROL_CLONES)]
        results, kernel_ms = {}, {}
        for batch in range(0, len(specs), 2):
            vms = [(Vm(f"clone-{name}", work, common, guid,
                       ["-incoming", f"exec:cat {state}", "-S"], log_dir), name, line)
                   for name, guid, line in specs[batch:batch + 2]]
            for vm, _, _ in vms:
                while vm.qmp("query-status")["status"] == "inmigrate":
                    time.sleep(0.05)
            for vm, _, line in vms:
                vm.qmp("cont")
                vm.type_line(line)
            for vm, name, _ in vms:
                vm.wait_line("GRNDPOOL-VM: done", args.timeout)
                vm.finish(60)
                results[name] = parse(vm)
                for l in vm.lines:
                    if l.startswith("GRNDPOOL-CLONE: kernel reseed_us="):
                        kernel_ms[name] = float(l.split("=")[1]) / 1e3

        problems = []
        own = [results[f"own{i + 1}"] for i in range(OWN_CLONES)]
        same = [results[f"same{i + 1}"] for i in range(CONTROL_CLONES)]
        for mode in MODES:
            missed = [f"own{i + 1}" for i, c in enumerate(own)
                      if any(t["result"]["k"] < 0 for t in c[mode].values())]
            if missed:
                problems.append(f"{mode}: no reseed seen in {', '.join(missed)}")
        log(f"{OWN_CLONES} clones with their own vmgenid GUID, {len(own[0]['per-draw'])} threads "
            f"per mode; per clone: draws after the one in flight at the kernel's reseed that "
            f"another clone also served / draws after it; draws up to it that another clone "
            f"served / draws up to it; when the reseed became visible (us after the wake-up, "
            f"per thread)")
        verdicts = {}
        for mode in MODES:
            rows = shared_after(own, mode)
            stale_after = sum(r["after"] for r in rows)
            verdicts[mode] = stale_after
            for i, r in enumerate(rows):
                log(f"  {mode:10} own{i + 1}: after {r['after']:4} / {r['n_after']:5}; "
                    f"up to {r['before']:5} / {r['n_before']:5}; visible "
                    f"{' '.join(f'{v:.0f}' for v in r['visible_us'])}")
        log("guest kernel's reseed visible, in ms after the wake-up, to the coordinator's "
            "syscall loop / to the first drawing thread (after its draw in flight): " +
            ", ".join(f"own{i + 1} {kernel_ms.get(f'own{i + 1}', -1):.1f} / {visible_ms(c):.1f}"
                      for i, c in enumerate(own)))
        if any(kernel_ms.get(f"own{i + 1}", -1) < 0 for i in range(OWN_CLONES)):
            problems.append("the coordinator did not see a guest kernel reseed in every clone")
        if verdicts["per-draw"] == 0:
            log(f"ok   per-draw: 0 draws after the one in flight at the kernel's reseed are "
                f"shared between clones")
        else:
            problems.append(f"per-draw served {verdicts['per-draw']} draws after the reseed "
                            f"that another clone also served")
            log(f"FAIL per-draw: {verdicts['per-draw']} draws after the kernel's reseed are "
                f"shared between clones")
        if verdicts["unchecked"] > 0:
            log(f"ok   unchecked (positive control): the same assertion FAILS, as it must: "
                f"{verdicts['unchecked']} draws after the kernel's reseed are shared between "
                f"clones")
        else:
            problems.append("unchecked: the assertion did not fail: the test cannot see stale "
                            "draws")
            log("FAIL unchecked (positive control): no shared draw after the reseed")
        log(f"info per-refill: {verdicts['per-refill']} draws after the kernel's reseed are "
            f"shared between clones (its window: the rest of a slice per thread)")

        # The control: nothing told these clones; they must not have reseeded on
        # their own schedule while drawing, and so must share their output.
        for mode in MODES:
            changed = [f"same{i + 1}" for i, c in enumerate(same)
                       if any(t["result"]["k"] >= 0 for t in c[mode].values())]
            ends = [t["result"]["end_ms"] for c in same for t in c[mode].values()]
            fps = [set(f for t in c[mode].values() for f in t["fps"]) for c in same]
            common_fps = len(fps[0] & fps[1])
            margin = (next_ms - max(ends)) / 1e3
            if changed:
                problems.append(f"control {mode}: the guest reseeded during the draws in "
                                f"{', '.join(changed)}: inconclusive")
            if common_fps == 0:
                problems.append(f"control {mode}: the same-ID clones share nothing")
            ok = not changed and common_fps > 0
            log(f"{'ok  ' if ok else 'FAIL'} control (same ID) {mode}: {common_fps} of "
                f"{min(len(fps[0]), len(fps[1]))} draws shared; no reseed during the draws: "
                f"{'no' if changed else 'yes'}; the last draw ended {margin:.1f} s before the "
                f"next scheduled reseed")
        for mode in MODES:
            log(f"guest {mode}: {describe.get(mode, '?')}")
    finally:
        for vm in ALL_VMS:
            if vm.proc.poll() is None:
                vm.proc.kill()
                vm.proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    total = time.monotonic() - t_start
    if problems:
        log(f"FAIL {'; '.join(problems)}; total {total:.1f} s; logs {log_dir}")
        return 1
    log(f"PASS {OWN_CLONES} clones + {CONTROL_CLONES} controls x {len(MODES)} modes, kernel "
        f"{release} ({cached}, tcg), total {total:.1f} s; logs {log_dir}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log(f"FAIL {e}")
        sys.exit(1)
