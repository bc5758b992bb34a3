#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Latency tests under our VMM and QEMU, side by side (docs/latency.md).

    run.py BUILD_DIR [--samples N] [--interval-us US] [--out DIR] [--smoke]
           [--tests timer,irq] [--runners vmm,vmm-rt,qemu,qemu-rt] [--rt-cpu CPU] [--rt-prio P]
           [--vmm PATH] [--vmm-args ARGS] [--irqgen-args ARGS] [--irqgen-rt-args ARGS]
           [--qemu-args ARGS]

Runs guest-tests/latency-timer.elf and latency-irq.elf (built in BUILD_DIR) under:
  vmm      our VMM as is;
  vmm-rt   our VMM with the vCPU pinned and SCHED_FIFO (--cpus 1,affinity=CPU,rt=PRIO), plus
           --rt when `vmm --help` lists it;
  qemu     qemu-system-x86_64 -M microvm (same image, -kernel, KVM);
  qemu-rt  the same under taskset -c CPU chrt -f PRIO (every QEMU thread: QEMU has no per-vCPU
           pinning option; its other threads sleep during the test).
QEMU runs the timer test only: the irq test needs our interrupt generator (--irqgen). The irq
test runs when `vmm --help` mentions --irqgen (or --irqgen-args is given).

Writes into --out (default BUILD_DIR/latency): one log per run (<test>-<runner>.log, the full
guest output: cyclictest histogram + "latency:" line), latency.md (the side-by-side table) and
<test>.svg (histograms, log scales, one series per runner, via plot.py). Prints latency.md.
--smoke: 300 samples at 1 ms under our VMM only (both tests if it has --irqgen); fails if a
run or the parsing fails: the latency-smoke ctest. Exit status 0 ok, 1 failure, 77 no /dev/kvm.
Needs root for the -rt runners (SCHED_FIFO). Never run it on a host where a busy SCHED_FIFO
vCPU could starve something important: the guest spins in ring 3 between samples, and only the
kernel's RT throttling (sched_rt_runtime_us) leaves the pinned CPU 5% for everything else.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64")
QEMU_ARGS = ["-M", "microvm,x-option-roms=off,rtc=off", "-accel", "kvm",
             "-cpu", "host,-arch-capabilities", "-m", "128M", "-nodefaults", "-no-reboot",
             "-display", "none", "-serial", "stdio",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
KEYS = ["min_ns", "avg_ns", "p50_us", "p99_us", "p999_us", "p9999_us", "max_ns"]


class Fail(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def host_tsc_khz(build):
    """The host TSC rate, measured by tools/bench/bench-host (the guests may only guess)."""
    tool = os.path.join(build, "tools", "bench", "bench-host")
    if os.access(tool, os.X_OK):
        p = subprocess.run([tool, "tsc"], capture_output=True, text=True, timeout=60)
        m = re.search(r"tsc_khz=(\d+)", p.stdout)
        if p.returncode == 0 and m:
            return int(m.group(1))
    return None


def parse(text):
    m = re.search(r"^latency: (.*)$", text, re.M)
    if not m:
        raise Fail("no 'latency:' line in the guest output")
    kv = dict(x.split("=", 1) for x in m.group(1).split() if "=" in x)
    return kv, plot.parse_hist(text)


def percentile(hist, overflows, frac):
    """The bucket (us) below which frac of the samples lie; 10000 = in the overflow."""
    total = sum(hist.values()) + overflows
    want, acc = max(1, -(-int(total * frac * 1000000) // 1000000)), 0
    for b in sorted(hist):
        acc += hist[b]
        if acc >= want:
            return b
    return 10000


def run_one(cmd, timeout, path):
    log("+ " + " ".join(shlex.quote(c) for c in cmd))
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout + 30)
    except subprocess.TimeoutExpired as e:
        raise Fail(f"timed out after {timeout + 30} s: {cmd[0]}") from e
    with open(path, "w") as f:
        f.write(p.stdout)
        f.write(p.stderr)
    return p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--samples", default="100000")
    ap.add_argument("--interval-us", type=int, default=100)
    ap.add_argument("--out")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--tests", default="timer,irq")
    ap.add_argument("--runners", default="vmm,vmm-rt,qemu,qemu-rt")
    ap.add_argument("--rt-cpu", type=int, default=1)
    ap.add_argument("--rt-prio", type=int, default=50)
    ap.add_argument("--vmm", help="vmm binary (default BUILD/vmm/vmm)")
    ap.add_argument("--vmm-args", default="", help="more vmm arguments, shell-quoted")
    ap.add_argument("--irqgen-args", help="vmm arguments that attach the interrupt generator "
                    "(default '--irqgen on' when vmm --help lists it)")
    ap.add_argument("--irqgen-rt-args", help="the same for the vmm-rt runner, e.g. "
                    "'--irqgen on,cpu=0,rt=50' to pin the generator thread (default: as "
                    "--irqgen-args)")
    ap.add_argument("--qemu-args", default="", help="more QEMU arguments, shell-quoted")
    a = ap.parse_args()

    build = os.path.abspath(a.build)
    vmm = a.vmm or os.path.join(build, "vmm", "vmm")
    out = os.path.abspath(a.out or os.path.join(build, "latency"))
    if a.smoke:
        a.samples, a.interval_us, a.runners = "300", 1000, "vmm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log("SKIP: /dev/kvm is not usable")
        return 77
    images = {t: os.path.join(build, "guest-tests", f"latency-{t}.elf") for t in ("timer", "irq")}
    for p in [vmm] + list(images.values()):
        if not os.access(p, os.R_OK):
            raise Fail(f"missing {p}: build first")
    os.makedirs(out, exist_ok=True)

    helptext = subprocess.run([vmm, "--help"], capture_output=True, text=True).stdout
    irqgen = shlex.split(a.irqgen_args) if a.irqgen_args is not None else (
        ["--irqgen", "on"] if "--irqgen" in helptext else None)
    irqgen_rt = shlex.split(a.irqgen_rt_args) if a.irqgen_rt_args is not None else irqgen
    rt = ["--cpus", f"1,affinity={a.rt_cpu},rt={a.rt_prio}"]
    if re.search(r"--rt\b", helptext):
        rt.append("--rt")
    khz = host_tsc_khz(build)
    guest = f"samples={a.samples} interval_us={a.interval_us}" + (f" tsc_khz={khz}" if khz else "")
    samples = int(float(a.samples.rstrip("KMG")) * {"K": 1e3, "M": 1e6, "G": 1e9}.get(
        a.samples[-1], 1))
    timeout = int(samples * a.interval_us / 1e6 * 4) + 120
    extra_vmm, extra_qemu = shlex.split(a.vmm_args), shlex.split(a.qemu_args)

    def cmd(test, runner):
        img = images[test]
        if runner.startswith("vmm"):
            c = [vmm, "run", "--kernel", img, "--cmdline", guest, "--serial", "stdio",
                 "--timeout", str(timeout)] + extra_vmm
            if runner == "vmm-rt":
                c += rt
            if test == "irq":
                c += irqgen_rt if runner == "vmm-rt" else irqgen
            return c
        c = [QEMU] + QEMU_ARGS + ["-kernel", img, "-append", guest] + extra_qemu
        if runner == "qemu-rt":
            c = ["taskset", "-c", str(a.rt_cpu), "chrt", "-f", str(a.rt_prio)] + c
        return ["timeout", str(timeout)] + c

    results, failures = {}, []
    for test in [t for t in a.tests.split(",") if t]:
        for runner in [r for r in a.runners.split(",") if r]:
            if runner.startswith("qemu") and (test == "irq" or not QEMU):
                log(f"skip {test} under {runner}: " +
                    ("needs our interrupt generator" if test == "irq" else "no QEMU"))
                continue
            if test == "irq" and irqgen is None:
                log(f"skip irq under {runner}: this vmm has no --irqgen")
                continue
            path = os.path.join(out, f"{test}-{runner}.log")
            rc, text = run_one(cmd(test, runner), timeout, path)
            # QEMU's isa-debug-exit turns exit(0) into status 1
            ok = rc == (1 if runner.startswith("qemu") else 0)
            try:
                kv, hist = parse(text)
            except Fail as e:
                failures.append(f"{test}/{runner}: {e} (status {rc}, see {path})")
                continue
            if not ok:
                failures.append(f"{test}/{runner}: guest reported failures (status {rc}, "
                                f"see {path})")
            kv["ok"] = "yes" if ok else "**FAIL**"
            results[(test, runner)] = (kv, hist)
            log(f"  {test}/{runner}: " + " ".join(f"{k}={kv.get(k)}" for k in KEYS))

    md = [f"Latency, µs ({a.samples} samples per run, interval {a.interval_us} µs, "
          f"host TSC {khz or 'unknown'} kHz; guest ring 0 is emulated on this host, see "
          "docs/latency.md)", "",
          "| test | runner | samples | min | avg | p50 | p90 | p99 | p99.9 | p99.99 | max | "
          ">10 ms | guest checks |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (test, runner), (kv, hist) in results.items():
        def us(k):
            v = int(kv.get(k, 0))
            return f"{v / 1000:.1f}" if k.endswith("_ns") else str(v)
        md.append(f"| {test} | {runner} | {kv.get('samples')} | {us('min_ns')} | "
                  f"{us('avg_ns')} | {us('p50_us')} | "
                  f"{percentile(hist, int(kv.get('overflows', 0)), 0.9)} | "
                  f"{us('p99_us')} | {us('p999_us')} | "
                  f"{us('p9999_us')} | {us('max_ns')} | {kv.get('overflows')} | {kv['ok']} |")
    md.append("")
    with open(os.path.join(out, "latency.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    for test in {t for t, _ in results}:
        series = [(r, h) for (t, r), (_, h) in results.items() if t == test]
        svg = os.path.join(out, f"{test}.svg")
        with open(svg, "w") as f:
            f.write(plot.svg(series, f"{test} latency, {a.samples} samples at "
                                     f"{a.interval_us} µs"))
        log(f"wrote {svg}")
    for f_ in failures:
        log("FAIL: " + f_)
    return 1 if failures or not results else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        log(f"FAIL: {e}")
        sys.exit(1)
