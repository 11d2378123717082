#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The VM-clone test: does a VM fork make buffered randomness repeat?

Boots the guest kernel (build-kernel.sh) under TCG with QEMU's vmgenid device
and the static guest program kernel/vm/vm_clone.cc, which starts one worker per
library mode (per-draw: GRND_TIMESTAMP; per-refill: stock vDSO) that draws once,
so the library holds buffered bytes, and then blocks. The VM is saved once
(QMP stop, migrate to "exec:cat > state") and resumed twice per pair
(-incoming "exec:cat state", QMP cont):

  (a) two clones with VM generation IDs of their own: the guest kernel reseeds
      on resume; after the library sees it (generation_changes rose) the two
      clones must not share a single 16-byte block; the draws served before
      that are reported;
  (b) a control pair with the original's ID: nothing tells the guest, and the
      bytes the two clones share are reported (they must share some: the test
      would not see sharing otherwise).

Prints one line per pair and mode and a summary; exits non-zero on failure.
The serial consoles are kept in the kernel cache's logs/ directory.
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
MODES = ("per-draw", "per-refill")
BLOCK = 16
HEX = set("0123456789abcdef")
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
    """Per mode: the result fields and the stale (S) and fresh (F) blocks."""
    out = {m: {"result": None, "S": [], "F": [], "describe": ""} for m in MODES}
    for line in vm.lines:
        parts = line.split()
        if len(parts) < 3 or parts[0] != "GRNDPOOL-CLONE:" or parts[1] not in out:
            continue
        entry = out[parts[1]]
        if parts[2] == "result":
            entry["result"] = dict(p.split("=", 1) for p in parts[3:])
        elif parts[2] in ("S", "F"):
            # A kernel message can break into a line: then the blocks are not trusted.
            if not all(len(h) == 2 * BLOCK and all(c in HEX for c in h) for h in parts[4:]) \
                    or int(parts[3]) != len(entry[parts[2]]):
                raise RuntimeError(f"{vm.name}: garbled line (log {vm.log_path}): {line[:80]}")
            entry[parts[2]].extend(bytes.fromhex(h) for h in parts[4:])
        elif parts[2] == "describe":
            entry["describe"] = line.split(" describe ", 1)[1]
    for mode, entry in out.items():
        if entry["result"] is None:
            raise RuntimeError(f"{vm.name}: no result for {mode} (log {vm.log_path})")
    return out


def compare(one, two):
    """Figures for one mode of a pair of clones."""
    r1, r2 = one["result"], two["result"]
    all1, all2 = one["S"] + one["F"], two["S"] + two["F"]
    set1, set2 = set(all1), set(all2)
    # Fresh blocks found anywhere in the other clone's output.
    fresh_shared = sum(b in set2 for b in one["F"]) + sum(b in set1 for b in two["F"])
    same_position = sum(a == b for a, b in zip(all1, all2))
    return {
        "stale": (int(r1["stale"]), int(r2["stale"])),
        "kernel_stale": (int(r1["kernel_stale"]), int(r2["kernel_stale"])),
        "visible_us": (r1["visible_us"], r2["visible_us"]),
        "gen": (r1["gen"], r2["gen"]),
        "rose": all(int(r["gen"].split("->")[1]) > int(r["gen"].split("->")[0])
                    for r in (r1, r2)),
        "fresh": (int(r1["fresh"]), int(r2["fresh"])),
        "fresh_shared": fresh_shared,
        "shared_bytes": BLOCK * len(set1 & set2),
        "compared_bytes": BLOCK * min(len(all1), len(all2)),
        "same_position": same_position,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payload", required=True, help="static vm_clone binary")
    ap.add_argument("--timeout", type=int, default=300, help="per VM, seconds")
    ap.add_argument("--kernel", help="boot this bzImage instead of build-kernel.sh's")
    args = ap.parse_args()
    t_start = time.monotonic()

    if args.kernel:
        bzimage, cached, release = args.kernel, "given", os.path.basename(args.kernel)
        log_dir = os.path.join(tempfile.gettempdir(),
                               time.strftime("grndpool-clone-%Y%m%d-%H%M%S-") + str(os.getpid()))
    else:
        built = subprocess.run([os.path.join(HERE, "build-kernel.sh")], check=True,
                               stdout=subprocess.PIPE, text=True).stdout.split()
        cache, cached = built[-2], built[-1]
        bzimage = os.path.join(cache, "bzImage")
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
                  "-append", "console=ttyS0 panic=-1 loglevel=1 GRNDPOOL_PAYLOAD_TIMEOUT=600"]

        guid0 = str(uuid.uuid4())
        original = Vm("original", work, common, guid0, [], log_dir)
        original.wait_line("GRNDPOOL-CLONE: all ready", args.timeout)
        describe = {m: l.split(" describe ", 1)[1] for l in original.lines
                    for m in MODES if l.startswith(f"GRNDPOOL-CLONE: {m} describe ")}
        original.qmp("stop")
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
        log(f"saved the VM ({os.path.getsize(state) >> 20} MiB) after "
            f"{time.monotonic() - t_start:.1f} s; kernel {release} ({cached}, tcg)")

        pairs = {"a": (str(uuid.uuid4()), str(uuid.uuid4())), "b": (guid0, guid0)}
        figures, problems = {}, []
        for pair, guids in pairs.items():
            vms = [Vm(f"clone-{pair}{i + 1}", work, common, guid,
                      ["-incoming", f"exec:cat {state}", "-S"], log_dir)
                   for i, guid in enumerate(guids)]
            for vm in vms:
                while vm.qmp("query-status")["status"] == "inmigrate":
                    time.sleep(0.05)
            for vm in vms:
                vm.qmp("cont")
                vm.type_line("go")
            for vm in vms:
                vm.wait_line("GRNDPOOL-VM: done", args.timeout)
                vm.finish(60)
            one, two = (parse(vm) for vm in vms)
            for mode in MODES:
                figures[pair, mode] = f = compare(one[mode], two[mode])
                if pair == "a":
                    ok = f["rose"] and f["fresh"] == (256, 256) and f["fresh_shared"] == 0
                    verdict = "ok" if ok else "FAIL"
                    if not ok:
                        problems.append(f"(a) {mode}")
                    log(f"{verdict:4} (a) own IDs, {mode}: generation_changes {f['gen'][0]} and "
                        f"{f['gen'][1]}; draws served before the library saw the reseed "
                        f"{f['stale'][0]} and {f['stale'][1]} (before the kernel had "
                        f"reseeded: {f['kernel_stale'][0]} and {f['kernel_stale'][1]}; seen "
                        f"{f['visible_us'][0]} and {f['visible_us'][1]} us after the wake-up); "
                        f"{f['fresh'][0]}+{f['fresh'][1]} fresh "
                        f"blocks, {f['fresh_shared']} shared; all output: "
                        f"{f['shared_bytes']} of {f['compared_bytes']} bytes shared")
                else:
                    # Draws made before the guest kernel reseeded on its own schedule must
                    # repeat across the clones; if that reseed came first, nothing can be said.
                    conclusive = min(f["kernel_stale"]) > 0
                    ok = f["shared_bytes"] > 0 or not conclusive
                    verdict = "ok" if ok else "FAIL"
                    if not ok:
                        problems.append(f"(b) {mode} shares nothing: the test cannot see sharing")
                    if not conclusive:
                        log(f"note (b) {mode}: a scheduled reseed came before the first draw")
                    log(f"{verdict:4} (b) same ID,  {mode}: clones share {f['shared_bytes']} of "
                        f"{f['compared_bytes']} bytes ({f['same_position']} draws identical "
                        f"draw for draw); generation_changes {f['gen'][0]} and {f['gen'][1]}; "
                        f"draws before any change {f['stale'][0]} and {f['stale'][1]}")
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
    log(f"PASS 2 pairs x 2 modes, kernel {release} ({cached}, tcg), total {total:.1f} s; logs {log_dir}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log(f"FAIL {e}")
        sys.exit(1)
