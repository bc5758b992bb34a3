#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmarks of the VMM core against QEMU and the raw-KVM floor (docs/benchmarks.md).

    bench.py BUILD_DIR [--smoke] [--runs N] [--only startup,exits,prefault,memory]

Prints markdown tables on stdout (progress on stderr). Every configuration of a benchmark is
run in interleaved rounds (A B C A B C ...) so that host noise hits all of them alike; tables
give the median, min and max over the runs, and ratios of medians. --smoke runs the fastest
case once (our vmm, 64 MiB startup) and fails if the harness breaks: the bench-smoke ctest.
Exit status 0, 1 on a harness failure, 77 if /dev/kvm is missing.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

QEMU = shutil.which("qemu-system-x86_64")
QEMU_BASE = ["-accel", "kvm", "-cpu", "host,-arch-capabilities", "-nodefaults", "-no-reboot",
             "-display", "none", "-serial", "stdio",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
QEMU_MACHINE = "microvm,x-option-roms=off,rtc=off"


class Fail(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def stats(v):
    return statistics.median(v), min(v), max(v)


def fmt3(v, unit_div=1.0, prec=2):
    m, lo, hi = stats([x / unit_div for x in v])
    return f"{m:.{prec}f} [{lo:.{prec}f}–{hi:.{prec}f}]"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{statistics.median(a) / statistics.median(b):.2f}"


class Bench:
    def __init__(self, build, runs):
        self.build = os.path.abspath(build)
        self.runs = runs
        self.vmm = os.path.join(self.build, "vmm", "vmm")
        self.floor = os.path.join(self.build, "tools", "kvm-floor")
        self.host = os.path.join(self.build, "tools", "bench", "bench-host")
        self.raw = {k: os.path.join(self.build, "tools", "bench", f"raw-{k}.elf")
                    for k in ("startup", "exits", "idle")}
        self.ring3 = os.path.join(self.build, "guest-tests", "bench-exits.elf")
        for p in [self.vmm, self.floor, self.host] + list(self.raw.values()):
            if not os.access(p, os.R_OK):
                raise Fail(f"missing {p}: build first (make bench builds everything)")
        self.tsc_khz = float(self.kv(self.run([self.host, "tsc"]))["tsc_khz"])

    @staticmethod
    def run(cmd, ok=(0,), timeout=600, stderr=False):
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode not in ok:
            raise Fail(f"{' '.join(cmd)}: status {p.returncode}\n{p.stdout}{p.stderr}")
        return (p.stdout, p.stderr) if stderr else p.stdout

    @staticmethod
    def kv(line):
        return dict(x.split("=", 1) for x in line.split() if "=" in x)

    # ---- command lines: ours, QEMU, floor ----
    def ours(self, image, mem, extra=()):
        return [self.vmm, "run", "--kernel", image, "--memory", mem, "--serial", "stdio",
                *extra]

    def qemu(self, image, mem, backend=None):
        machine = QEMU_MACHINE
        cmd = [QEMU, *QEMU_BASE, "-m", mem, "-kernel", image]
        if backend:
            cmd += ["-object", backend]
            machine += ",memory-backend=m"
        return cmd + ["-M", machine]

    def floor_cmd(self, image, mem):
        return [self.floor, "--memory", mem, image]

    def startup_once(self, cmd, status):
        out = self.run([self.host, "startup", "-n", "1", "-s", str(status), "--", *cmd])
        d = self.kv(out)
        return float(d["first_med"]), float(d["exit_med"])

    # ---- 1. startup ----
    def startup(self, mems=("64M", "1G"), smoke=False):
        rows = []
        cfgs = []
        for mem in mems:
            cfgs.append((f"vmm {mem}", self.ours(self.raw["startup"], mem), 0))
            if not smoke and QEMU:
                cfgs.append((f"QEMU microvm {mem}", self.qemu(self.raw["startup"], mem), 1))
            cfgs.append((f"floor {mem}", self.floor_cmd(self.raw["startup"], mem), 0))
        res = {name: ([], []) for name, _, _ in cfgs}
        for r in range(self.runs):
            log(f"startup round {r + 1}/{self.runs}")
            for name, cmd, status in cfgs:
                f, e = self.startup_once(cmd, status)
                res[name][0].append(f / 1e3)
                res[name][1].append(e / 1e3)
        out = ["| config | exec→first byte ms median [min–max] | exec→exit ms median [min–max] "
               "| first ÷ QEMU | first ÷ floor | exit ÷ QEMU | exit ÷ floor |",
               "|---|---|---|---|---|---|---|"]
        for name, _, _ in cfgs:
            mem = name.split()[-1]
            q = res.get(f"QEMU microvm {mem}", ([], []))
            fl = res[f"floor {mem}"]
            out.append(f"| {name} | {fmt3(res[name][0])} | {fmt3(res[name][1])} | "
                       f"{ratio(res[name][0], q[0])} | {ratio(res[name][0], fl[0])} | "
                       f"{ratio(res[name][1], q[1])} | {ratio(res[name][1], fl[1])} |")
        rows.append("\n".join(out))
        if smoke:
            return rows
        # Where the time goes: the floor's steps and our own setup report.
        steps = {}
        for r in range(self.runs):
            for mem in mems:
                _, err = self.run([self.floor, "--memory", mem, "--breakdown",
                                   self.raw["startup"]], stderr=True)
                for m in re.finditer(r"floor: (.+?)\s+([0-9.]+) ms", err):
                    steps.setdefault((mem, m.group(1)), []).append(float(m.group(2)))
                _, err = self.run(self.ours(self.raw["startup"], mem, ["--report"]),
                                  stderr=True)
                m = re.search(r"setup ([0-9.]+) ms", err)
                if m:
                    steps.setdefault((mem, "vmm --report: setup"), []).append(float(m.group(1)))
        out = ["| step | " + " | ".join(f"{m} ms median [min–max]" for m in mems) + " |",
               "|---|" + "---|" * len(mems)]
        names = []
        for (mem, n) in steps:
            if n not in names:
                names.append(n)
        for n in names:
            out.append(f"| {n} | " + " | ".join(fmt3(steps.get((m, n), [0]), prec=3)
                                                for m in mems) + " |")
        rows.append("\n".join(out))
        return rows

    # ---- 2. exits ----
    def exits(self, runs):
        n = 20000
        cfgs = [("vmm", self.ours(self.raw["exits"], "64M"), 0, 0)]
        if QEMU:
            cfgs.append(("QEMU microvm", self.qemu(self.raw["exits"], "64M"), 1, 0))
        cfgs.append(("floor", self.floor_cmd(self.raw["exits"], "64M"), 0, 0))
        if os.access(self.ring3, os.R_OK):
            # Ring-3 exits cost several times more here: fewer of them keep a round short.
            cfgs.append(("vmm", self.ours(self.ring3, "64M", ["--cmdline", "n=5000"]), 0, 3))
            if QEMU:
                cfgs.append(("QEMU microvm", self.qemu(self.ring3, "64M") + ["-append", "n=5000"],
                             1, 3))
        res = {}
        for r in range(runs):
            log(f"exits round {r + 1}/{runs}")
            for name, cmd, status, ring in cfgs:
                out = self.run(cmd, ok=(status,))
                if ring == 0:
                    for m in re.finditer(r"^(pio-out|pio-in|mmio-in) ([0-9a-f]{16})$", out, re.M):
                        res.setdefault((ring, m.group(1), name), []).append(int(m.group(2), 16) / n)
                else:
                    for m in re.finditer(r"^ring3 (\S+) cycles=(\d+) n=(\d+)", out, re.M):
                        res.setdefault((ring, m.group(1), name), []).append(
                            int(m.group(2)) / int(m.group(3)))
                if not any(k[2] == name and k[0] == ring for k in res):
                    raise Fail(f"{' '.join(cmd)}: no results in its output:\n{out}")
        us = self.tsc_khz / 1e3     # cycles per microsecond
        out = [f"| ring | access | VMM | µs/exit median [min–max] | cycles/exit (med) | ÷ QEMU | ÷ floor |",
               "|---|---|---|---|---|---|---|"]
        for (ring, acc, name), v in sorted(res.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            q = res.get((ring, acc, "QEMU microvm"))
            fl = res.get((ring, acc, "floor"))
            out.append(f"| {ring} | {acc} | {name} | {fmt3(v, us)} | {statistics.median(v):.0f} | "
                       f"{ratio(v, q)} | {ratio(v, fl)} |")
        return ["\n".join(out) + f"\n\nTSC {self.tsc_khz / 1e3:.0f} MHz (host, measured); "
                f"ring 0: {n} exits per phase, ring 3: 5000; {runs} runs."]

    # ---- 3. prefault ----
    def hugepages(self, need):
        try:
            with open("/proc/sys/vm/nr_hugepages") as f:
                have = int(f.read())
            if have < need:
                with open("/proc/sys/vm/nr_hugepages", "w") as f:
                    f.write(str(need))
            with open("/proc/meminfo") as f:
                free = int(re.search(r"HugePages_Free:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            return False
        return free >= 512

    def prefault(self, threads=(1, 2)):
        if not self.hugepages(1100):
            return ["(skipped: could not reserve 1100 2 MiB hugepages; run as root)"]
        img = self.raw["startup"]
        cfgs = [("vmm hugepages=2M prefault=off", self.ours(img, "size=1G,hugepages=2M"), 0)]
        for t in threads:
            cfgs.append((f"vmm prefault=on threads={t}",
                         self.ours(img, f"size=1G,hugepages=2M,prefault=on,prefault-threads={t}"),
                         0))
        if QEMU:
            be = "memory-backend-memfd,id=m,hugetlb=on,hugetlbsize=2M,size=1G"
            cfgs.append(("QEMU prealloc=off", self.qemu(img, "1G", be + ",prealloc=off"), 1))
            for t in threads:
                cfgs.append((f"QEMU prealloc=on threads={t}",
                             self.qemu(img, "1G", be + f",prealloc=on,prealloc-threads={t}"), 1))
        res = {}
        for r in range(self.runs):
            log(f"prefault round {r + 1}/{self.runs}")
            for name, cmd, status in cfgs:
                _, e = self.startup_once(cmd, status)
                res.setdefault(("exit", name), []).append(e / 1e3)
                if name.startswith("vmm prefault"):
                    _, err = self.run(cmd + ["--report"], stderr=True)
                    m = re.search(r"populate ([0-9.]+) ms", err)
                    if not m:
                        raise Fail(f"no populate time in --report output: {err}")
                    res.setdefault(("populate", name), []).append(float(m.group(1)))
            for t in threads:
                for mode, flag in (("memset", []), ("MADV_POPULATE_WRITE", ["-p"])):
                    o = self.run([self.host, "memset", "-S", "1024", "-t", str(t), *flag])
                    res.setdefault(("populate", f"host {mode} threads={t}"), []).append(
                        float(self.kv(o)["ms"]))
        out = ["| config | exec→exit ms median [min–max] | exit − no-prefault baseline ms (med) | populate ms median [min–max] |",
               "|---|---|---|---|"]
        names = [n for n, _, _ in cfgs] + [n for (k, n) in res if n.startswith("host")]
        seen = set()
        for n in names:
            if n in seen:
                continue
            seen.add(n)
            ex = res.get(("exit", n))
            pop = res.get(("populate", n))
            base = res.get(("exit", "QEMU prealloc=off" if n.startswith("QEMU")
                            else "vmm hugepages=2M prefault=off"))
            diff = f"{statistics.median(ex) - statistics.median(base):.1f}" if ex and base else "-"
            out.append(f"| {n} | {fmt3(ex, prec=1) if ex else '-'} | {diff} | "
                       f"{fmt3(pop, prec=1) if pop else '-'} |")
        return ["\n".join(out)]

    # ---- 4. memory overhead ----
    @staticmethod
    def smaps(pid, guest_kib):
        total = priv = guest = 0
        cur_size = 0
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "Size":
                    cur_size = int(v.split()[0])
                elif k == "Rss":
                    rss = int(v.split()[0])
                    if cur_size >= guest_kib:
                        guest += rss
                    else:
                        total += rss
                elif k in ("Private_Dirty",) and cur_size < guest_kib:
                    priv += int(v.split()[0])
        return total, priv, guest

    def rss_once(self, cmd, guest_kib):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            if p.stdout.read(1) != b"!":
                raise Fail(f"{' '.join(cmd)}: no first byte")
            time.sleep(0.3)     # past start-up: the idle state
            return self.smaps(p.pid, guest_kib)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def memory(self, runs=5):
        img = self.raw["idle"]
        cfgs = [("vmm 64M", self.ours(img, "size=64M"), 64),
                ("vmm 1G", self.ours(img, "size=1G"), 1024),
                ("vmm 1G prefault=on", self.ours(img, "size=1G,prefault=on"), 1024)]
        if self.hugepages(1100):
            cfgs.append(("vmm 1G hugepages=2M prefault=on",
                         self.ours(img, "size=1G,hugepages=2M,prefault=on"), 1024))
        if QEMU:
            cfgs += [("QEMU microvm 64M", self.qemu(img, "64M"), 64),
                     ("QEMU microvm 1G", self.qemu(img, "1G"), 1024),
                     ("QEMU microvm 1G prealloc=on",
                      self.qemu(img, "1G", "memory-backend-ram,id=m,size=1G,prealloc=on"), 1024)]
        cfgs += [("floor 64M", self.floor_cmd(img, "64M"), 64),
                 ("floor 1G", self.floor_cmd(img, "1G"), 1024)]
        res = {}
        for r in range(runs):
            log(f"memory round {r + 1}/{runs}")
            for name, cmd, mib in cfgs:
                t, pd, g = self.rss_once(cmd, mib * 1024)
                res.setdefault(name, []).append((t, pd, g))
        out = ["| config | RSS beyond guest RAM MiB median [min–max] | of it private dirty MiB (med) | guest RAM resident MiB (med) |",
               "|---|---|---|---|"]
        for name, _, _ in cfgs:
            v = res[name]
            out.append(f"| {name} | {fmt3([x[0] for x in v], 1024)} | "
                       f"{statistics.median([x[1] for x in v]) / 1024:.2f} | "
                       f"{statistics.median([x[2] for x in v]) / 1024:.1f} |")
        return ["\n".join(out) + f"\n\n{runs} runs each; /proc/PID/smaps 0.3 s after the first byte; "
                "guest RAM = mappings at least as large as the guest's RAM (hugetlb pages are "
                "not in Rss at all)."]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--exit-runs", type=int, default=10)
    ap.add_argument("--only", default="startup,exits,prefault,memory")
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log("SKIP: no usable /dev/kvm")
        return 77
    try:
        if a.smoke:
            b = Bench(a.build, 1)
            print("\n\n".join(b.startup(mems=("64M",), smoke=True)))
            return 0
        b = Bench(a.build, a.runs)
        print(f"Host: {os.uname().release}, {os.cpu_count()} CPUs, TSC {b.tsc_khz / 1e3:.0f} MHz; "
              f"QEMU {'at ' + QEMU if QEMU else 'missing'}; {a.runs} runs unless said otherwise\n")
        sections = {"startup": ("1. Startup (raw-startup.elf)", b.startup),
                    "exits": ("2. Exit round trip", lambda: b.exits(a.exit_runs)),
                    "prefault": ("3. Prefault of 1 GiB on 2 MiB hugepages", b.prefault),
                    "memory": ("4. Memory overhead (raw-idle.elf)", b.memory)}
        for key in a.only.split(","):
            title, fn = sections[key]
            print(f"### {title}\n")
            print("\n\n".join(fn()) + "\n", flush=True)
    except (Fail, subprocess.TimeoutExpired) as e:
        log(f"bench: FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
