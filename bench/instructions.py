#!/usr/bin/env python3
"""Instructions per probe, sonde-prober against the floor, under callgrind.

    python3 bench/instructions.py [--build-dir build-bench] [--kinds http,tcp,dns]
                                  [--rate 200] [--window 10] [--baseline-prober BIN]

CPU time on a small shared VM moves by 10-20 us per probe from round to round
(bench/README.md); instruction counts do not. For each kind this runs, one
after the other against one sonde-faultd on loopback:
  floor     sonde-bench-floor at --rate probes/s
  sonde     sonde-prober with --rate checks every 1 s, streaming to a real
            sonde-collector on a throwaway PostgreSQL (--no-collector: the
            collector unreachable, results spooled and the stream retried)
  baseline  another sonde-prober binary the same way (old build next to new)
each under `valgrind --tool=callgrind`, instrumentation switched on for
--window seconds after a warm-up, and prints user-space instructions per probe
(all threads), split by shared object, and the functions that differ most.
Probes are counted as calls of one function per probe (floor: the library
call that starts it; sonde: Scheduler::Start). Instructions are not time
(cache misses and system calls are not in them), and per-second work weighs
5x more at 200/s than at 1,000/s: use it to compare builds and to find
where a probe's instructions go, not as the acceptance number.
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from bench import DNS_NAME, Bench, faultd_argv, write_config

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
FLOOR_MARKER = {"http": "curl_multi_add_handle", "tcp": "connect", "dns": "ares_query"}
SONDE_MARKER = "sonde::prober::Scheduler::Start("


def log(msg):
    print(f"[instructions {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse(path, binary):
    """(self cost by (object, function), calls by callee name) of one callgrind file;
    the subject's own binary is "(its own binary)", whatever its file name."""
    obs, fns, fn_ob = {}, {}, {}
    self_cost, calls = collections.Counter(), collections.Counter()
    cur_ob = cur_fn = callee = None
    after_calls = False
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^(c?ob|c?fn|c?fl|fi|fe)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                kind, ident, name = m.groups()
                table = obs if kind.endswith("ob") else fns if kind.endswith("fn") else None
                if table is not None and name:
                    table[ident] = name
                if kind == "ob":
                    cur_ob = ident
                elif kind == "fn":
                    cur_fn = ident
                    fn_ob[ident] = cur_ob
                elif kind == "cfn":
                    callee = ident
                continue
            if line.startswith("calls="):
                calls[fns.get(callee, callee)] += int(line.split()[0][6:])
                after_calls = True  # the next cost line is the call's inclusive cost
                continue
            if line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if after_calls:
                    after_calls = False
                elif len(parts) >= 2 and cur_fn is not None:
                    self_cost[cur_fn] += int(parts[1])
    named = collections.Counter()
    for ident, cost in self_cost.items():
        obj = obs.get(fn_ob.get(ident), "?")
        obj = "(its own binary)" if obj == binary else os.path.basename(obj)
        named[(obj, fns.get(ident, ident))] += cost
    return named, calls


def profile(out_prefix, argv, warmup, window):
    """Runs argv under callgrind, instrumented for `window` s after `warmup` s."""
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                          f"--callgrind-out-file={out_prefix}.%p", *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        if p.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited early")
        subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True,
                       capture_output=True)
        time.sleep(window)
        subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True,
                       capture_output=True)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    named, calls = collections.Counter(), collections.Counter()
    for path in glob.glob(f"{out_prefix}.*"):
        n, c = parse(path, os.path.realpath(argv[0]))
        named.update(n)
        calls.update(c)
    return named, calls


def probes(calls, marker):
    """Calls of `marker`: a C name exactly, a C++ one ("ns::F(") with any signature."""
    return sum(v for k, v in calls.items()
               if k == marker or (marker.endswith("(") and k.startswith(marker)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build-bench"),
                    help="where bin/sonde-prober, sonde-faultd and sonde-bench-floor are")
    ap.add_argument("--kinds", default="http,tcp,dns")
    ap.add_argument("--rate", type=int, default=200,
                    help="probes per second (the prober: this many checks every 1 s)")
    ap.add_argument("--window", type=float, default=10, help="seconds instrumented per subject")
    ap.add_argument("--baseline-prober", help="another sonde-prober binary, counted the same way")
    ap.add_argument("--top", type=int, default=25, help="functions listed per kind")
    ap.add_argument("--no-collector", action="store_true",
                    help="no sonde-collector: the prober spools and retries its stream")
    ap.add_argument("--keep", action="store_true",
                    help="keep the callgrind files (for callgrind_annotate --inclusive=yes "
                         "--tree=caller) and print where they are")
    a = ap.parse_args()
    if not 10 <= a.rate <= 500 or not 2 <= a.window <= 60:
        ap.error("bounds: --rate 10..500, --window 2..60")
    kinds = [k for k in a.kinds.split(",") if k]
    if not kinds or any(k not in FLOOR_MARKER for k in kinds):
        ap.error(f"--kinds: choose from {','.join(FLOOR_MARKER)}")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found (Debian package valgrind)")
    bin_dir = os.path.join(os.path.abspath(a.build_dir), "bin")
    for tool in ("sonde-prober", "sonde-faultd", "sonde-bench-floor"):
        if not os.path.exists(os.path.join(bin_dir, tool)):
            ap.error(f"{bin_dir}/{tool} not found: build it first (bench/run.sh does, or "
                     f"ninja -C {a.build_dir} sonde-prober sonde-faultd sonde-bench)")
    work = tempfile.mkdtemp(prefix="sonde-instr.")
    argv, ports_file = faultd_argv(bin_dir, work)
    faultd = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink = None
    collector = "127.0.0.1:1"
    try:
        if not a.no_collector:
            sink = Bench(argparse.Namespace(build_dir=a.build_dir, placement="shared"))
            sink.start_postgres_and_collector()
            collector = f"127.0.0.1:{sink.collector_port}"
        for _ in range(100):
            if os.path.exists(ports_file):
                break
            time.sleep(0.1)
        with open(ports_file) as f:
            ports = json.load(f)
        for kind in kinds:
            target = f"127.0.0.1:{ports[kind]}"
            config = os.path.join(work, f"{kind}.yaml")
            write_config(config, kind, a.rate, 1, ports)
            subjects = [("floor", [os.path.join(bin_dir, "sonde-bench-floor"), "--kind", kind,
                                   "--target", target, "--name", DNS_NAME, "--rate",
                                   str(a.rate), "--tick-ms", "10", "--warmup", "0", "--window",
                                   str(a.window + 30)], FLOOR_MARKER[kind])]
            for name, binary in (("sonde", os.path.join(bin_dir, "sonde-prober")),
                                 ("baseline", a.baseline_prober)):
                if binary:
                    spool = os.path.join(work, f"spool-{kind}-{name}")
                    os.makedirs(spool)
                    subjects.append((name, [binary, "--region", "bench", "--prober-id", name,
                                            "--collector", collector, "--config", config,
                                            "--spool-dir", spool, "--log-level", "warn"],
                                     SONDE_MARKER))
            per_probe, counts = {}, {}
            for name, argv, marker in subjects:
                log(f"{kind}: {name} under callgrind")
                named, calls = profile(os.path.join(work, f"{kind}-{name}"), argv, 15, a.window)
                n = probes(calls, marker)
                if n == 0:
                    raise RuntimeError(f"{kind} {name}: no probe counted")
                counts[name] = n
                per_probe[name] = {k: v / n for k, v in named.items()}
            report(kind, per_probe, counts, a.top)
    finally:
        faultd.terminate()
        faultd.wait(10)
        if sink is not None:
            sink.procs.stop_all()
            if hasattr(sink, "pg_dir"):
                subprocess.run([os.path.join(SOURCE, "deploy", "local-postgres.sh"), "destroy",
                                sink.pg_dir], capture_output=True, timeout=60)
            shutil.rmtree(sink.work, ignore_errors=True)
        if a.keep:
            log(f"callgrind files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(kind, per_probe, counts, top):
    names = list(per_probe)
    print(f"\n## {kind}: user-space instructions per probe "
          f"({', '.join(f'{n} {counts[n]} probes' for n in names)})\n")
    objects = collections.defaultdict(dict)
    for n in names:
        for (obj, _), v in per_probe[n].items():
            objects[obj][n] = objects[obj].get(n, 0) + v
    print("| object | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    total = {n: sum(per_probe[n].values()) for n in names}
    print("| **all** | " + " | ".join(f"**{total[n]:,.0f}**" for n in names) + " |")
    for obj, row in sorted(objects.items(), key=lambda kv: -max(kv[1].values())):
        if max(row.values()) >= 50:
            print(f"| {obj} | " + " | ".join(f"{row.get(n, 0):,.0f}" for n in names) + " |")
    last = "sonde"
    against = "baseline" if "baseline" in names else "floor"
    if last in names and against in names:
        keys = set(per_probe[last]) | set(per_probe[against])
        print(f"\n{last} − {against}, the functions that differ most:\n")
        print(f"| {last} − {against} | " + " | ".join(names) + " | object | function |")
        print("| ---: |" + " ---: |" * len(names) + " --- | --- |")
        diff = lambda k: per_probe[last].get(k, 0) - per_probe[against].get(k, 0)  # noqa: E731
        for k in sorted(keys, key=lambda k: -abs(diff(k)))[:top]:
            cells = " | ".join(f"{per_probe[n].get(k, 0):,.0f}" for n in names)
            print(f"| {diff(k):+,.0f} | {cells} | {k[0]} | `{k[1][:90]}` |")


if __name__ == "__main__":
    main()
