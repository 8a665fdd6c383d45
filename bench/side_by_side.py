#!/usr/bin/env python3
"""Prober builds and the floor measured at the same time, in one window.

    python3 bench/side_by_side.py --probers BIN[,BIN...] [--kind tcp] [--rate 1000]
                                  [--rounds 5] [--window 10] [--build-dir build-bench]

bench/run.sh measures its subjects one after the other; on a small shared VM
the same subject's CPU per probe moves by 10-50 us from one 10 s window to
the next (bench/README.md), which hides a change of a few microseconds. Here
every subject runs at once, against one sonde-faultd, at the same rate and
on the same 10 ms grid: the floor (sonde-bench-floor) and each prober binary
(a daemon with its own checks, streaming to one sonde-collector on a
throwaway PostgreSQL, as in bench/run.sh). Each round starts fresh probers,
waits one interval and 2 s, then reads every subject's CPU-time clock
(nanoseconds, all threads) at the start and the end of the same window.
Every subject sees the same neighbours, so the differences between them
hold to 1-2 us per round where their absolute values do not.

Prints CPU-us per probe for each subject and round, then the median of each
and of each prober minus the first. Use it to compare builds (put the old one
first); the absolute numbers include the others' load and are not the
acceptance numbers (bench/run.sh's are).

`--alone` runs the subjects one after another instead, each alone against
faultd in a window of its own, in an order that turns round every round
(A B floor, floor B A, ...), and pairs each round's windows. At once, the
subjects share faultd's wake-ups (one faultd serves all of them on the same
grid), so a change in how a prober's connects are spaced over a tick, which
decides how often it wakes faultd and is preempted by it, does not show;
alone it does, at the price of the window-to-window noise run.sh has.
All traffic stays on loopback; every process is started and stopped here,
and every phase is bounded in time.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from bench import KINDS, Bench, cpu_seconds, free_port, log


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probers", required=True,
                    help="comma-separated sonde-prober binaries (the first is the reference)")
    ap.add_argument("--kind", default="tcp", choices=KINDS)
    ap.add_argument("--rate", type=float, default=1000, help="probes per second, per subject")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=float, default=10, help="seconds measured per round")
    ap.add_argument("--interval", type=int, default=5, help="the probers' check interval, seconds")
    ap.add_argument("--build-dir", default=os.path.join(os.path.dirname(here), "build-bench"))
    ap.add_argument("--alone", action="store_true",
                    help="each subject alone in its own window, in turn, instead of all at once")
    a = ap.parse_args()
    probers = [os.path.abspath(p) for p in a.probers.split(",") if p]
    for p in probers:
        if not os.access(p, os.X_OK):
            sys.exit(f"side_by_side: {p} is not an executable")
    names = ["floor"] + [f"prober{i + 1}" for i in range(len(probers))]
    binaries = [None] + probers  # by subject: 0 is the floor
    rounds = {n: [] for n in names}
    b = Bench(argparse.Namespace(build_dir=a.build_dir, placement="shared", rate=a.rate,
                                 window=a.window, interval=a.interval, grid_ms=10,
                                 keep_work_dir=False, perf_dir=None))
    try:
        b.start_faultd()
        b.start_postgres_and_collector()
        config = os.path.join(b.work, f"{a.kind}.yaml")
        b.write_config(config, a.kind, int(a.rate * a.interval), a.interval)
        for rnd in range(a.rounds):
            if a.alone:
                order = list(range(len(names)))[::1 if rnd % 2 == 0 else -1]
                cpu = [0.0] * len(names)
                for i in order:
                    cpu[i] = measure(b, a, config, rnd, {i: binaries[i]})[i]
            else:
                at_once = measure(b, a, config, rnd, dict(enumerate(binaries)))
                cpu = [at_once[i] for i in range(len(names))]
            for name, x in zip(names, cpu):
                rounds[name].append(x)
            log(f"round {rnd + 1}/{a.rounds}: "
                + ", ".join(f"{n} {rounds[n][-1]:.2f}" for n in names) + " CPU-us/probe")
    except BaseException:
        b.a.keep_work_dir = True  # the logs say what went wrong
        raise
    finally:
        b.shutdown()
    print(f"{a.kind}, {a.rate:.0f} probes/s per subject, {a.rounds} round(s) of {a.window:g} s, "
          f"{'each subject alone' if a.alone else 'all subjects at once'}; "
          "CPU-us per probe (all threads):\n")
    print("| subject | median | every round |\n| --- | ---: | --- |")
    for name, binary in zip(names, ["sonde-bench-floor"] + probers):
        print(f"| {name} ({binary}) | {statistics.median(rounds[name]):.2f} | "
              + ", ".join(f"{x:.2f}" for x in rounds[name]) + " |")
    print("\n| difference | median | every round |\n| --- | ---: | --- |")
    for name in names[1:]:
        for other in ("floor", "prober1"):
            if other == name:
                continue
            d = [x - y for x, y in zip(rounds[name], rounds[other])]
            print(f"| {name} − {other} | {statistics.median(d):+.2f} | "
                  + ", ".join(f"{x:+.2f}" for x in d) + " |")


def measure(b, a, config, rnd, subjects):
    """Runs the subjects ({index: prober binary}, index 0 the floor) at once
    for one window; returns {index: CPU-us per probe}."""
    running = {i: b.start_prober(f"side-{i}-{rnd}", config, free_port(), binary)
               for i, binary in subjects.items() if i > 0}
    if running:
        time.sleep(a.interval)  # every check has reached its slot
    floor = None
    if 0 in subjects:
        floor = b.procs.start(f"floor-{rnd}", b.floor_argv(a.kind, a.window + 4),
                              stdout=subprocess.DEVNULL)
        time.sleep(2)  # the floor's warm-up
    for p in running.values():
        if p.poll() is not None:
            raise RuntimeError(f"a sonde-prober exited early (logs in {b.work})")
    pids = {i: p.pid for i, p in running.items()}
    if floor is not None:
        pids[0] = floor.pid
    c0, t0 = {i: cpu_seconds(pid) for i, pid in pids.items()}, time.monotonic()
    time.sleep(a.window)
    c1, t1 = {i: cpu_seconds(pid) for i, pid in pids.items()}, time.monotonic()
    probes = a.rate * (t1 - t0)  # every subject runs on the same schedule
    if floor is not None:
        floor.wait(a.window + 30)
        b.procs.stop(floor)
    for p in running.values():
        b.procs.stop(p, grace=10)
    return {i: 1e6 * (c1[i] - c0[i]) / probes for i in pids}


if __name__ == "__main__":
    main()
