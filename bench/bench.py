#!/usr/bin/env python3
"""The Sonde benchmark (see bench/README.md). Run it through bench/run.sh,
which installs what is missing and builds the binaries first.

For each probe kind (http, tcp, dns), one after the other on the same
loopback sonde-faultd target and at the same probe rate:
  floor     sonde-bench-floor: a bare single-threaded loop doing only probes
  sonde     sonde-prober as in production: a daemon (--region, --collector,
            --spool-dir) running rate x interval checks, streaming every result
            to a real sonde-collector that commits it to a throwaway PostgreSQL
  blackbox  prometheus-blackbox-exporter, driven at the same rate by
            sonde-bench-blackbox-load (/probe?module=...&target=...)
Each subject's CPU is its process CPU-time clock (ns) over a fixed window
(and its threads' involuntary context switches, reported beside it);
its probes are counted in the same window (sonde: rows committed in
PostgreSQL by start time; floor and blackbox: completions seen by the tool).
Then the prober's RSS with 1,000 and 100,000 configured checks.

Every process is started here and stopped here (by pid), all traffic stays on
loopback, and every phase is bounded in time.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
KINDS = ("http", "tcp", "dns")
DNS_NAME = "bench.test"


def pinned(cpus):
    """A preexec_fn that confines a child (and every thread and process it
    starts) to the given CPUs; None leaves it free."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def faultd_argv(bin_dir, work):
    """sonde-faultd's command line for the bench targets (HTTP 200, a TCP
    listener, DNS answering DNS_NAME A 127.0.0.1) and the ports file it
    writes once it listens."""
    rules = os.path.join(work, "rules.json")
    with open(rules, "w") as f:
        json.dump([{"id": "bench", "listener": "dns", "name": DNS_NAME,
                    "records": [{"type": "A", "data": "127.0.0.1", "ttl": 60}]}], f)
    ports = os.path.join(work, "faultd.ports")
    return [os.path.join(bin_dir, "sonde-faultd"), "--http-listen", "127.0.0.1:0",
            "--tcp-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--rules", rules,
            "--ports-file", ports, "--max-connections", "65536", "--log-level", "warn"], ports


def write_config(path, kind, count, interval_s, ports):
    """A prober config of `count` checks of one kind against sonde-faultd's
    listeners (`ports`: its ports file)."""
    target = f"127.0.0.1:{ports[kind]}"
    if kind == "http":
        spec = f'http: {{url: "http://{target}/"}}'
    elif kind == "tcp":
        spec = f'tcp: {{host: 127.0.0.1, port: {ports["tcp"]}}}'
    else:
        spec = f'dns: {{name: {DNS_NAME}, type: A, resolvers: ["{target}"]}}'
    with open(path, "w") as f:
        f.write("regions: [bench]\ndefaults: {timeout: 1s}\nchecks:\n")
        for i in range(count):
            f.write(f"  - {{name: {kind}-{i:06d}, service: bench, interval: {interval_s}s, "
                    f"{spec}}}\n")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def cpu_seconds(pid):
    """CPU time of all of pid's threads (ended ones included), in seconds:
    the kernel's CPU-time clock of the process, to the nanosecond
    (/proc/PID/stat's utime + stime are the same sum in 10 ms ticks, 1 us
    per probe over a 10 s window at 1,000 probes/s). OSError once pid is gone."""
    # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): what clock_getcpuclockid(3) returns.
    return time.clock_gettime(((~pid) << 3) | 2)


def preemptions(pid):
    """Involuntary context switches of all of pid's threads so far (a thread
    that ended is not counted): how often the kernel took the CPU from it."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def children_preemptions():
    """Involuntary context switches of the waited-for children so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_nivcsw


def status_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Processes:
    """Every process the benchmark started; stopped by pid, newest first."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, argv, cpus=None, **kw):
        out = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out,
                             cwd=self.workdir, preexec_fn=pinned(cpus), **kw)
        self.procs.append((name, p))
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_all(self):
        for _, p in reversed(list(self.procs)):
            self.stop(p)


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = os.path.join(args.build_dir, "bin")
        self.work = tempfile.mkdtemp(prefix="sonde-bench.")
        self.procs = Processes(self.work)
        self.results = {"kinds": {}, "rss": []}
        self.sonde_runs = 0
        # --placement split: the subject on the first CPUs, everything it
        # talks to (target, collector, PostgreSQL, load generator) on the last.
        cpus = sorted(os.sched_getaffinity(0))
        split = args.placement == "split" and len(cpus) >= 2
        self.subject_cpus = set(cpus[:-1]) if split else None
        self.remote_cpus = {cpus[-1]} if split else None

    # ---- setup ---------------------------------------------------------

    def start_faultd(self):
        argv, ports = faultd_argv(self.bin, self.work)
        self.faultd = self.procs.start("faultd", argv, cpus=self.remote_cpus)
        wait_for(lambda: os.path.exists(ports), 10, "sonde-faultd's ports file")
        with open(ports) as f:
            self.ports = json.load(f)
        log(f"sonde-faultd pid {self.faultd.pid}, ports {self.ports}")

    def start_postgres_and_collector(self):
        self.pg_dir = os.path.join(self.work, "pg")
        pg_port = free_port()
        script = os.path.join(SOURCE, "deploy", "local-postgres.sh")
        self.pg_url = subprocess.run([script, "start", self.pg_dir, str(pg_port)], check=True,
                                     preexec_fn=pinned(self.remote_cpus),
                                     capture_output=True, text=True, timeout=120).stdout.strip()
        newest = max(os.listdir("/usr/lib/postgresql"), key=int)
        self.psql_bin = os.path.join("/usr/lib/postgresql", newest, "bin", "psql")
        self.collector_port = free_port()
        self.collector = self.procs.start("collector", cpus=self.remote_cpus, argv=[
            os.path.join(self.bin, "sonde-collector"), "--postgres", self.pg_url,
            "--listen", f"127.0.0.1:{self.collector_port}", "--log-level", "warn"])
        wait_for(lambda: port_open(self.collector_port), 60, "sonde-collector to listen")
        log(f"postgres at {self.pg_url}; sonde-collector pid {self.collector.pid} "
            f"on 127.0.0.1:{self.collector_port}")

    def postgres_pids(self):
        """The postmaster and its children (their CPU is reported, not compared)."""
        pid_file = os.path.join(os.path.realpath(self.pg_dir), "postmaster.pid")
        with open(pid_file) as f:
            master = int(f.readline())
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                             text=True).stdout.split()
        return [master] + [int(p) for p in out]

    def psql(self, sql):
        out = subprocess.run([self.psql_bin, "-X", "-qtA", "-F", " ", "-d", self.pg_url, "-c", sql],
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def start_blackbox(self):
        self.bb_port = free_port()
        self.blackbox = self.procs.start("blackbox", cpus=self.subject_cpus, argv=[
            shutil.which("prometheus-blackbox-exporter"),
            f"--config.file={os.path.join(HERE, 'blackbox.yml')}",
            f"--web.listen-address=127.0.0.1:{self.bb_port}", "--log.level=warn"])
        wait_for(lambda: port_open(self.bb_port), 20, "blackbox exporter to listen")
        log(f"prometheus-blackbox-exporter pid {self.blackbox.pid} on 127.0.0.1:{self.bb_port}")

    # ---- subjects -------------------------------------------------------

    def target(self, kind):
        return f"127.0.0.1:{self.ports[kind]}"

    def run_tool(self, argv, timeout, cpus):
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout,
                             preexec_fn=pinned(cpus))
        return json.loads(out.stdout.strip().splitlines()[-1])

    def floor_argv(self, kind, window):
        """sonde-bench-floor's command line: `kind` probes against faultd at the
        rate and on the grid of every subject, 2 s of warm-up, then `window` s."""
        return [os.path.join(self.bin, "sonde-bench-floor"), "--kind", kind, "--target",
                self.target(kind), "--name", DNS_NAME, "--rate", str(self.a.rate),
                "--tick-ms", str(self.a.grid_ms), "--warmup", "2", "--window", str(window)]

    def measure_floor(self, kind):
        n0, t0 = children_preemptions(), time.monotonic()
        r = self.run_tool(self.floor_argv(kind, self.a.window), timeout=self.a.window + 30,
                          cpus=self.subject_cpus)
        probes = r["ok"] + r["failed"]
        return {"probes": probes, "ok": r["ok"], "probes_per_s": probes / r["window_s"],
                "cpu_s": r["cpu_s"],
                "preempted_per_s": (children_preemptions() - n0) / (time.monotonic() - t0)}

    def measure_blackbox(self, kind):
        module, target = {
            "http": ("http_2xx", f"http://{self.target('http')}/"),
            "tcp": ("tcp_connect", self.target("tcp")),
            "dns": ("dns", self.target("dns")),
        }[kind]
        url = f"http://127.0.0.1:{self.bb_port}/probe?module={module}&target={target}"
        n0, t0 = preemptions(self.blackbox.pid), time.monotonic()
        r = self.run_tool([
            os.path.join(self.bin, "sonde-bench-blackbox-load"), "--kind", kind, "--url", url,
            "--rate", str(self.a.rate), "--tick-ms", str(self.a.grid_ms), "--warmup", "2",
            "--window", str(self.a.window), "--measure-pid", str(self.blackbox.pid)],
            timeout=self.a.window + 30, cpus=self.remote_cpus)
        probes = r["ok"] + r["failed"]
        return {"probes": probes, "ok": r["ok"], "probes_per_s": probes / r["window_s"],
                "cpu_s": r["pids_cpu_s"][str(self.blackbox.pid)],
                "load_generator_cpu_s": r["cpu_s"],
                "preempted_per_s": (preemptions(self.blackbox.pid) - n0) / (time.monotonic() - t0)}

    def write_config(self, path, kind, count, interval_s):
        write_config(path, kind, count, interval_s, self.ports)

    def start_prober(self, prober_id, config, metrics_port, binary=None):
        # As in production: results are spooled to disk until acked.
        spool = os.path.join(self.work, f"spool-{prober_id}")
        os.makedirs(spool, exist_ok=True)
        return self.procs.start(prober_id, cpus=self.subject_cpus, argv=[
            binary or os.path.join(self.bin, "sonde-prober"), "--region", "bench",
            "--prober-id", prober_id,
            "--collector", f"127.0.0.1:{self.collector_port}", "--config", config,
            "--spool-dir", spool, "--metrics-listen", f"127.0.0.1:{metrics_port}",
            "--log-level", "warn"])

    @staticmethod
    def scrape(port):
        """The prober's own /metrics as {name: value} (no labels used)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and " " in line:
                name, value = line.rsplit(" ", 1)
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def measure_sonde(self, kind, subject="sonde", binary=None):
        interval = self.a.interval
        count = int(self.a.rate * interval)
        config = os.path.join(self.work, f"sonde-{kind}.yaml")
        self.write_config(config, kind, count, interval)
        self.sonde_runs += 1
        prober_id = f"bench-{kind}-{self.sonde_runs}"
        metrics_port = free_port()
        p = self.start_prober(prober_id, config, metrics_port, binary)
        # One full interval so that every check has reached its slot, then some.
        time.sleep(interval + 2)
        if p.poll() is not None:
            raise RuntimeError(f"sonde-prober exited early (see {self.work}/{prober_id}.log)")
        others = {"collector": [self.collector.pid], "postgres": self.postgres_pids()}

        def aux_cpu(pid):
            # A PostgreSQL process may end within the window (a worker);
            # its CPU then counts in neither snapshot.
            try:
                return cpu_seconds(pid)
            except OSError:
                return 0.0

        def snapshot():
            cpu = cpu_seconds(p.pid)
            aux = {k: sum(aux_cpu(x) for x in pids) for k, pids in others.items()}
            aux["preempted"] = preemptions(p.pid)
            return time.time(), cpu, aux

        perf = None
        if self.a.perf_dir:
            # Sampling costs the prober a little CPU too: profile rounds
            # are for the profile, not for the numbers.
            data = os.path.join(self.a.perf_dir,
                                f"{subject}-{kind}-{self.a.rate:.0f}-{self.sonde_runs}.data")
            perf = subprocess.Popen(["perf", "record", *self.a.perf_args.split(), "-o", data,
                                     "-p", str(p.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        m0 = self.scrape(metrics_port)
        t0, c0, a0 = snapshot()
        time.sleep(self.a.window)
        t1, c1, a1 = snapshot()
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(30)
        m1 = self.scrape(metrics_port)
        rss = status_kib(p.pid)
        # Batches go out within 1 s; give the uplink time, then stop it (it
        # flushes what it holds on SIGTERM).
        time.sleep(2)
        self.procs.stop(p, grace=10)
        where = (f"prober_id = '{prober_id}' AND started_at >= to_timestamp({t0}) "
                 f"AND started_at < to_timestamp({t1})")
        total, ok = (int(x) for x in self.psql(
            f"SELECT count(*), count(*) FILTER (WHERE ok) FROM results WHERE {where}").split())
        failures = self.psql(f"SELECT failure_class || ': ' || detail, count(*) FROM results "
                             f"WHERE {where} AND NOT ok GROUP BY 1 ORDER BY 2 DESC LIMIT 3")
        if failures:
            log(f"sonde {kind} failures:\n{failures}")
        window = t1 - t0
        runs = m1.get("sonde_prober_runs_total", 0) - m0.get("sonde_prober_runs_total", 0)
        return {"probes": total, "ok": ok, "probes_per_s": total / window, "cpu_s": c1 - c0,
                "runs_counted_by_prober": int(runs),
                "lateness_p99_ms": 1000 * m1.get("sonde_prober_lateness_p99_seconds", 0),
                "checks": count, "interval_s": interval, "rss_kib": rss,
                "collector_cpu_s": a1["collector"] - a0["collector"],
                "postgres_cpu_s": a1["postgres"] - a0["postgres"],
                "preempted_per_s": (a1["preempted"] - a0["preempted"]) / window}

    def measure_rss(self, count, subject="sonde", binary=None):
        # By default mostly idle: one-hour interval, so ~count/3600 probes per
        # second still run (against faultd) and the scheduler is in its steady
        # state. With a short --rss-interval every check has run (twice)
        # before RSS is read: what a run leaves behind shows too.
        kind, interval = self.a.rss_kind, self.a.rss_interval
        config = os.path.join(self.work, f"rss-{kind}-{interval}-{count}.yaml")
        if not os.path.exists(config):
            self.write_config(config, kind, count, interval)
        t_start = time.monotonic()
        p = self.start_prober(f"rss-{subject}-{count}", config, free_port(), binary)
        samples = []
        # The config is loaded and scheduled once RSS stops growing.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(1)
            samples.append(status_kib(p.pid))
            if len(samples) >= 5 and max(samples[-4:]) - min(samples[-4:]) <= max(64, samples[-1] // 200):
                break
        ran_twice = t_start + 2 * interval + 2
        if interval <= 60 and time.monotonic() < ran_twice:
            time.sleep(ran_twice - time.monotonic())
        if p.poll() is not None:
            raise RuntimeError(f"sonde-prober exited early (see {self.work}/rss-{count}.log)")
        settled = time.monotonic() - t_start
        rss, peak = status_kib(p.pid), status_kib(p.pid, "VmHWM")
        self.procs.stop(p, grace=10)
        return {"subject": subject, "checks": count, "rss_kib": rss, "kib_per_check": rss / count,
                "peak_rss_kib": peak, "settled_after_s": round(settled, 1), "kind": kind,
                "interval_s": interval}

    # ---- driver ---------------------------------------------------------

    def run(self):
        log(f"work dir {self.work}; rate {self.a.rate}/s, window {self.a.window}s")
        try:
            self.start_faultd()
            self.start_postgres_and_collector()
            if "blackbox" in self.a.subjects:
                self.start_blackbox()
            runs = {}  # (kind, subject) -> one measurement per round
            for rnd in range(self.a.rounds):
                for kind in self.a.kinds:
                    subjects = [("floor", self.measure_floor), ("sonde", self.measure_sonde)]
                    if self.a.baseline_prober:
                        subjects.append(("baseline", lambda k: self.measure_sonde(
                            k, "baseline", self.a.baseline_prober)))
                    subjects.append(("blackbox", self.measure_blackbox))
                    for subject, fn in subjects:
                        if subject not in self.a.subjects:
                            continue
                        log(f"round {rnd + 1}/{self.a.rounds} {kind}: measuring {subject}")
                        m = fn(kind)
                        m["cpu_ms_per_probe"] = 1000 * m["cpu_s"] / max(m["probes"], 1)
                        log(f"{kind} {subject}: {m['probes_per_s']:.0f} probes/s, "
                            f"{m['cpu_ms_per_probe']:.4f} CPU-ms/probe, ok {m['ok']}/{m['probes']}")
                        runs.setdefault(kind, {}).setdefault(subject, []).append(m)
            self.results["rounds"] = runs
            for count in self.a.rss_checks:
                for subject in ("sonde", "baseline"):
                    if subject == "baseline" and not self.a.baseline_prober:
                        continue
                    log(f"rss: {subject}, {count} checks")
                    r = self.measure_rss(count, subject, self.a.baseline_prober
                                         if subject == "baseline" else None)
                    log(f"rss {subject} {count}: {r['rss_kib']} KiB, "
                        f"{r['kib_per_check']:.2f} KiB/check, peak {r['peak_rss_kib']} KiB")
                    self.results["rss"].append(r)
        except BaseException:
            self.a.keep_work_dir = True  # the logs say what went wrong
            raise
        finally:
            self.shutdown()
        self.results["meta"] = self.meta()
        return self.results

    def shutdown(self):
        """Stops every process started here, destroys the throwaway PostgreSQL
        and removes the work directory (unless --keep-work-dir or an error)."""
        self.procs.stop_all()
        if hasattr(self, "pg_dir"):
            subprocess.run([os.path.join(SOURCE, "deploy", "local-postgres.sh"), "destroy",
                            self.pg_dir], capture_output=True, timeout=60)
        if self.a.keep_work_dir:
            log(f"kept {self.work} (logs, configs, spools)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def meta(self):
        cpu = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        bb_out = subprocess.run([shutil.which("prometheus-blackbox-exporter"), "--version"],
                                capture_output=True, text=True)
        bb = (bb_out.stdout + bb_out.stderr).splitlines()
        return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "host": platform.node(), "cpu": cpu, "cores": os.cpu_count(),
                "kernel": platform.release(), "rate": self.a.rate, "window_s": self.a.window,
                "interval_s": self.a.interval, "grid_ms": self.a.grid_ms, "rounds": self.a.rounds,
                "placement": self.a.placement,
                "blackbox": bb[0] if bb else "", "loadavg": os.getloadavg()}


def summarize(res):
    """Picks the round that stands for each subject: the median by CPU per
    probe (the lower one of the middle two for an even count) among the
    rounds in which the subject kept the asked rate, or among all rounds if
    it never did."""
    rate = res["meta"]["rate"]
    res["kinds"] = {}
    for kind, subjects in res["rounds"].items():
        for subject, ms in subjects.items():
            kept_up = [m for m in ms if m["probes_per_s"] >= 0.95 * rate] or ms
            kept_up = sorted(kept_up, key=lambda m: m["cpu_ms_per_probe"])
            row = dict(kept_up[(len(kept_up) - 1) // 2])
            row["rounds_cpu_ms_per_probe"] = [m["cpu_ms_per_probe"] for m in ms]
            row["rounds_probes_per_s"] = [m["probes_per_s"] for m in ms]
            res["kinds"].setdefault(kind, {})[subject] = row
    return res


def markdown(res):
    m = res["meta"]
    out = [f"Measured {m['date']} on {m['host']}: {m['cpu']}, {m['cores']} cores, "
           f"Linux {m['kernel']}; {m['blackbox']}; load average at the end "
           f"{m['loadavg'][0]:.2f}. Target rate {m['rate']:.0f} probes/s started on a "
           f"{m['grid_ms']:g} ms grid, {m['window_s']:.0f} s window per subject, median of "
           f"{m['rounds']} round(s)."]
    if m.get("placement") == "split":
        out[0] += (" Placement split: each subject on the first CPU(s); faultd, the collector, "
                   "PostgreSQL and the load generator on the last.")
    if res["kinds"]:  # none with --subjects none (the RSS phase alone)
        out += ["", "| kind | subject | probes/s | ok | CPU-s / 1000 probes | vs blackbox | "
                "vs floor | minus floor | preempted / s | every round |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    names = {"sonde": "sonde-prober", "baseline": "sonde-prober (baseline build)",
             "floor": "floor (bare loop)", "blackbox": "blackbox_exporter"}
    for kind, row in res["kinds"].items():
        bb = row.get("blackbox", {}).get("cpu_ms_per_probe")
        fl = row.get("floor", {}).get("cpu_ms_per_probe")
        for subject in [s for s in names if s in row]:
            r = row[subject]
            c = r["cpu_ms_per_probe"]
            every = ", ".join(
                f"{x:.3f}" + ("" if rate >= 0.95 * m["rate"] else f" ({rate:.0f}/s)")
                for x, rate in zip(r["rounds_cpu_ms_per_probe"], r["rounds_probes_per_s"]))
            # Involuntary context switches a second (older JSON files have none).
            pre = f"{r['preempted_per_s']:.0f}" if "preempted_per_s" in r else "—"
            out.append(f"| {kind} | {names[subject]} | {r['probes_per_s']:.0f} | "
                       f"{100 * r['ok'] / max(r['probes'], 1):.1f}% | {c:.3f} | "
                       f"{f'{c / bb:.2f}' if bb else '—'} | {f'{c / fl:.2f}' if fl else '—'} | "
                       f"{f'{c - fl:.4f}' if fl else '—'} | {pre} | {every} |")
    slow = [(k, subj, r["probes_per_s"]) for k, row in res["kinds"].items()
            for subj, r in row.items() if r["probes_per_s"] < 0.95 * m["rate"]]
    for kind, subj, rate in slow:
        out.append(f"\n**Warning:** {subj} {kind} ran {rate:.0f} probes/s, short of the "
                   f"{m['rate']:.0f}/s asked: it did not keep up (or the machine was busy), so "
                   f"its CPU per probe is not measured at the same rate as the others.")
    if any(s in row for row in res["kinds"].values() for s in ("sonde", "baseline")):
        out += ["", "sonde-prober in the same windows: its own run counter next to the rows "
                "committed in PostgreSQL, its lateness p99 (start minus planned slot, includes the "
                "10 ms start grid), and the server side of its results (not part of the "
                "comparison):", "",
                "| kind | runs (prober) | rows (PostgreSQL) | lateness p99 | "
                "collector CPU-s / 1000 results | PostgreSQL CPU-s / 1000 results |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, row in res["kinds"].items():
        for subject in [s for s in ("sonde", "baseline") if s in row]:
            s = row[subject]
            n = max(s["probes"], 1)
            out.append(f"| {kind}{' (baseline)' if subject == 'baseline' else ''} | "
                       f"{s['runs_counted_by_prober']} | {s['probes']} | "
                       f"{s['lateness_p99_ms']:.1f} ms | {1000 * s['collector_cpu_s'] / n:.3f} | "
                       f"{1000 * s['postgres_cpu_s'] / n:.3f} |")
    if res["rss"]:
        out += ["", "| prober | checks (kind, interval) | prober RSS, steady | RSS per check | "
                "peak RSS while loading | peak ÷ steady |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in res["rss"]:
            out.append(f"| {names.get(r.get('subject', 'sonde'))} | {r['checks']:,} "
                       f"({r.get('kind', 'http')}, {r.get('interval_s', 3600)} s) | "
                       f"{r['rss_kib'] / 1024:.1f} MiB | {r['kib_per_check']:.2f} KiB | "
                       f"{r['peak_rss_kib'] / 1024:.1f} MiB | "
                       f"{r['peak_rss_kib'] / r['rss_kib']:.2f} |")
        own = [r for r in res["rss"] if r.get("subject", "sonde") == "sonde"]
        if len(own) >= 2:
            a, b = own[0], own[-1]
            marginal = (b["rss_kib"] - a["rss_kib"]) / (b["checks"] - a["checks"])
            out.append(f"\nMarginal cost between {a['checks']:,} and {b['checks']:,} checks: "
                       f"{marginal:.2f} KiB per check.")
    out += ["", *standing(res)]
    return "\n".join(out)


def standing(res):
    """Issue 15's targets in one table: every ratio this run measured (sonde
    against the floor and blackbox_exporter per kind, lateness, RSS), and
    the ingest ratio from an ingest run's JSON line (--ingest-json) or a
    pointer to bench/ingest."""
    m = res["meta"]
    rows = []

    def row(what, value, target, met):
        rows.append(f"| {what} | {value} | {target} | "
                    f"{'—' if met is None else ('met' if met else '**not met**')} |")

    for kind, subjects in res["kinds"].items():
        s = subjects.get("sonde")
        if not s:
            continue
        c = s["cpu_ms_per_probe"]
        fl = subjects.get("floor", {}).get("cpu_ms_per_probe")
        bb = subjects.get("blackbox", {}).get("cpu_ms_per_probe")
        if fl:
            row(f"{kind}: sonde − floor, CPU-ms per probe", f"{c - fl:.4f} ({c:.3f} − {fl:.3f})",
                "≤ 0.005", c - fl <= 0.005)
            row(f"{kind}: sonde ÷ floor", f"{c / fl:.2f}", "", None)
        if bb:
            row(f"{kind}: sonde ÷ blackbox_exporter", f"{c / bb:.3f}", "≤ 0.1", c / bb <= 0.1)
        ok = s["ok"] / max(s["probes"], 1)
        row(f"{kind}: probes ok", f"{100 * ok:.2f} % of {s['probes']}", "all", ok >= 1.0)
        row(f"{kind}: lateness p99 at {m['rate']:.0f} probes/s", f"{s['lateness_p99_ms']:.1f} ms",
            "< 50 ms at 5,000/s", s["lateness_p99_ms"] < 50 if m["rate"] >= 5000 else None)
    own = [r for r in res.get("rss") or [] if r.get("subject", "sonde") == "sonde"]
    if own:
        r = max(own, key=lambda x: x["checks"])
        row(f"RSS per check at {r['checks']:,} checks", f"{r['kib_per_check']:.2f} KiB", "≤ 2 KiB",
            r["kib_per_check"] <= 2 if r["checks"] >= 100000 else None)
        ratio = r["peak_rss_kib"] / r["rss_kib"]
        row("peak RSS while loading ÷ steady", f"{ratio:.2f}", "≤ 2",
            ratio <= 2 if r["checks"] >= 100000 else None)
    ingest = res.get("ingest")
    if ingest:
        row("ingest ÷ raw COPY (bench/ingest)", f"{100 * ingest['ratio_vs_copy']:.0f} % "
            f"({ingest['ingest_results_per_s']:.0f} results/s)", "≥ 80 %",
            ingest["ratio_vs_copy"] >= 0.8)
    else:
        row("ingest ÷ raw COPY", "not run here: `bench/ingest/run.sh --rounds 3`, then "
            "`--ingest-json` its output (last figure: bench/ingest/README.md)", "≥ 80 %", None)
    return ["Issue 15, every target at a glance (this run):", "",
            "| measure | value | target | |", "| --- | --- | --- | --- |", *rows]


def read_ingest(path):
    """The JSON line sonde-bench-ingest prints last (bench/ingest/run.sh's output)."""
    with open(path) as f:
        lines = [x for x in f.read().splitlines() if x.startswith("{") and "ratio_vs_copy" in x]
    return json.loads(lines[-1]) if lines else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.path.join(SOURCE, "build-bench"))
    p.add_argument("--rate", type=float, default=1000, help="probes per second (all subjects)")
    p.add_argument("--window", type=float, default=10, help="measurement window, seconds")
    p.add_argument("--interval", type=int, default=5, help="sonde check interval, seconds")
    p.add_argument("--grid-ms", type=float, default=10,
                   help="start grid of every subject; must match the prober's "
                        "Scheduler::Options::start_grid (10 ms)")
    p.add_argument("--rounds", type=int, default=1, help="repeat every measurement, report the median")
    p.add_argument("--kinds", default="http,tcp,dns")
    p.add_argument("--rss-checks", default="1000,100000", help="'' skips the RSS phase")
    p.add_argument("--rss-kind", default="http", choices=KINDS,
                   help="the RSS phase's checks (default http)")
    p.add_argument("--rss-interval", type=int, default=3600,
                   help="the RSS phase's check interval, seconds (default 3600: mostly idle); "
                        "at most 60 reads RSS after every check ran twice")
    p.add_argument("--placement", choices=("shared", "split"), default="shared",
                   help="shared (default): every process on every CPU; split: the subject "
                        "on the first CPUs, its target, the collector, PostgreSQL and the "
                        "load generator on the last one, as on separate machines (a "
                        "subject then has one CPU fewer: blackbox_exporter's Go runtime "
                        "sizes itself to it)")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--subjects", default="floor,sonde,baseline,blackbox",
                   help="which subjects to measure (baseline only with --baseline-prober)")
    p.add_argument("--baseline-prober",
                   help="another sonde-prober binary, measured like sonde in the same rounds "
                        "(old build next to new)")
    p.add_argument("--perf-dir", help="perf record each sonde window into this directory")
    p.add_argument("--perf-args", default="-g -F 999",
                   help="perf record's options for --perf-dir (e.g. '--call-graph dwarf -F 499')")
    p.add_argument("--from-json", help="print the report of an earlier --json file, run nothing")
    p.add_argument("--ingest-json",
                   help="the output of bench/ingest/run.sh: its ingest ÷ COPY goes into the "
                        "report's last table")
    p.add_argument("--keep-work-dir", action="store_true",
                   help="keep the temporary directory (logs, configs, spools); kept anyway on errors")
    a = p.parse_args()
    a.kinds = [k for k in a.kinds.split(",") if k]
    a.subjects = [x for x in a.subjects.split(",") if x]
    if a.perf_dir:
        os.makedirs(a.perf_dir, exist_ok=True)
    a.rss_checks = [int(x) for x in a.rss_checks.split(",") if x]
    if any(k not in KINDS for k in a.kinds):
        p.error(f"--kinds: choose from {KINDS}")
    if (not 1 <= a.rate <= 5000 or not 1 <= a.window <= 60 or not 1 <= a.interval <= 60
            or not 1 <= a.rounds <= 5 or not 1 <= a.grid_ms <= 100
            or not 5 <= a.rss_interval <= 3600):
        p.error("bounds: --rate 1..5000, --window 1..60, --interval 1..60, --rounds 1..5, "
                "--grid-ms 1..100, --rss-interval 5..3600")
    if a.from_json:
        with open(a.from_json) as f:
            res = summarize(json.load(f))
        if a.ingest_json:
            res["ingest"] = read_ingest(a.ingest_json)
        print(markdown(res))
        return
    res = summarize(Bench(a).run())
    if a.ingest_json:
        res["ingest"] = read_ingest(a.ingest_json)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    print(markdown(res))


if __name__ == "__main__":
    main()
