#!/usr/bin/env python3
"""Grafana dashboards and provisioning files of deploy/grafana (issue 12, acceptance 6).

Grafana has no Debian package, so this test checks the files, not a server:

1. The provisioning files parse as YAML and carry the documented keys
   (docs/operations.md, "Grafana").
2. Every dashboard JSON is well formed: unique uids and panel ids, every query
   on the `sonde-pg` data source, no SQL comments (newer Grafana strips them
   before expanding macros, older ones do not: a query must not depend on it).
3. Against a real PostgreSQL (deploy/local-postgres.sh) migrated by a real
   sonde-collector and filled through the real path (two sonde-probers probe
   a loopback HTTPS server that fails every third request, and a closed port;
   the collector stores results, rollups and batches, and its detector opens
   incidents with their timeline), plus a prober fault and a gap written as
   rows of the real schema, every template
   variable, panel and annotation query is expanded the way Grafana does it
   (the frontend's variable interpolation, then the PostgreSQL data source's
   macros) and run as the read-only role of deploy/grafana/grafana-reader.sql,
   for two time ranges (15 minutes: `$__interval` = 1m; 7 days: 10m). Every
   query must succeed and return rows; time series and annotations must
   return a `time` column, time series ordered by it and numeric apart from
   `metric`. An unknown `$__` macro
   or a `$variable` left unexpanded fails the test.

Usage: grafana_test.py SOURCE_DIR BIN_DIR   (ctest passes both)
"""

import datetime
import decimal
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import yaml

DATASOURCE_UID = "sonde-pg"
FIELD_SEP = "\x1f"
RECORD_SEP = "\x1e"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# --------------------------------------------------------------------------
# Grafana's expansion, step by step.
#
# 1. Frontend (SqlDatasource.applyTemplateVariables -> templateSrv.replace
#    with interpolateVariable): `$name`, `${name}`, `[[name]]` of a dashboard
#    variable, and the panel's `$__interval`/`$__interval_ms`. A single value
#    has its quotes doubled but is NOT quoted; a multi-value or "All"
#    variable's values are each quoted and joined with ','. Names that are
#    not variables are left alone (the macros below).
# 2. Backend sqleng.Interpolate: `$__interval_ms`, `$__interval`,
#    `$__unixEpochFrom()`, `$__unixEpochTo()`.
# 3. Backend postgres macro engine: every `$name(args)` (regex
#    `\$([_a-zA-Z0-9]+)\(([^\)]*)\)`, args split on ',' and trimmed of
#    spaces); an unknown name is an error.
# --------------------------------------------------------------------------

TEMPLATE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
MACRO_RE = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")


def quote_literal(value):
    return "'" + value.replace("'", "''") + "'"


def interpolate_variables(sql, variables, interval=None):
    """Frontend step. variables: name -> (value or list of values, multi_or_all)."""

    def replace(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in ("__interval", "__interval_ms") and interval is not None:
            check(fmt is None, "a format on %s is not supported here" % m.group(0))
            return interval[0] if name == "__interval" else str(interval[1])
        if name not in variables:
            return m.group(0)
        check(fmt is None and m.group(5) is None,
              "variable formats/fields (%s) are not used by Sonde's dashboards" % m.group(0))
        value, multi = variables[name]
        if isinstance(value, list):
            return ",".join(quote_literal(v) for v in value)
        if multi:
            return quote_literal(value)
        return value.replace("'", "''")

    return TEMPLATE_RE.sub(replace, sql)


def rfc3339_nano(t):
    """Go's time.RFC3339Nano of a UTC time: fraction without trailing zeros."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += ("." + "%06d" % t.microsecond).rstrip("0")
    return s + "Z"


def unix_seconds(t):
    return int((t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc))
               // datetime.timedelta(seconds=1))


def go_float(x):
    """Go's fmt "%v" of a float64 (strconv.FormatFloat(x, 'g', -1, 64)): the
    shortest digits that round-trip; exponent form when the decimal exponent
    is < -4 or >= 6 (the shortest precision's threshold), else plain decimal."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    d = decimal.Decimal(repr(abs(x))).normalize()
    digits = "".join(str(c) for c in d.as_tuple().digits)
    exp = len(digits) + d.as_tuple().exponent - 1
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, mant, "-" if exp < 0 else "+", abs(exp))
    point = exp + 1
    if point <= 0:
        return sign + "0." + "0" * (-point) + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
            "m": 60.0, "h": 3600.0}


def parse_interval(text):
    """gtime.ParseInterval: N d|w|M|y, else Go's time.ParseDuration. Seconds."""
    check(text != "", "empty interval")
    m = re.fullmatch(r"(\d+)([dwMy])", text)
    if m:
        # Calendar units count from now in the server's zone; d and w are
        # exact in UTC (Grafana's server runs in UTC here); M and y are not
        # used by Sonde's dashboards.
        check(m.group(2) in "dw", "interval %r: month/year buckets are not used" % text)
        return int(m.group(1)) * (86400 if m.group(2) == "d" else 7 * 86400)
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)", text)
    check(parts and "".join(a + b for a, b in parts) == text,
          "error parsing interval %s" % text)
    return sum(float(n) * GO_UNITS[u] for n, u in parts)


def expand_macros(sql, t_from, t_to, interval):
    """Backend steps 2 and 3. interval: None for variable and annotation
    queries, which Sonde's dashboards write without $__interval."""
    if interval is not None:
        sql = sql.replace("$__interval_ms", str(interval[1])).replace("$__interval", interval[0])
    sql = sql.replace("$__unixEpochFrom()", str(unix_seconds(t_from)))
    sql = sql.replace("$__unixEpochTo()", str(unix_seconds(t_to)))
    original = sql
    errors = []

    def group(args, name):
        check(len(args) >= 2, "macro %s needs time column and interval" % name)
        secs = parse_interval(args[1].strip("'"))
        if len(args) == 3:
            check(args[2] in ("NULL", "previous") or re.fullmatch(r"-?\d+(\.\d+)?", args[2]),
                  "bad fill value %r" % args[2])
        return go_float(secs)

    def evaluate(name, args):
        if name == "__time":
            check(args, "missing time column argument for macro %s" % name)
            return '%s AS "time"' % args[0]
        if name == "__timeEpoch":
            check(args, "missing time column argument for macro %s" % name)
            return 'extract(epoch from %s) as "time"' % args[0]
        if name == "__timeFilter":
            check(args, "missing time column argument for macro %s" % name)
            return "%s BETWEEN '%s' AND '%s'" % (args[0], rfc3339_nano(t_from), rfc3339_nano(t_to))
        if name == "__timeFrom":
            return "'%s'" % rfc3339_nano(t_from)
        if name == "__timeTo":
            return "'%s'" % rfc3339_nano(t_to)
        if name == "__timeGroup":
            s = group(args, name)
            return "floor(extract(epoch from %s)/%s)*%s" % (args[0], s, s)
        if name == "__timeGroupAlias":
            return evaluate("__timeGroup", args) + ' AS "time"'
        if name == "__unixEpochFilter":
            check(args, "missing time column argument for macro %s" % name)
            return "%s >= %d AND %s <= %d" % (args[0], unix_seconds(t_from), args[0],
                                              unix_seconds(t_to))
        if name == "__unixEpochGroup":
            s = group(args, name)
            return "floor((%s)/%s)*%s" % (args[0], s, s)
        if name == "__unixEpochGroupAlias":
            return evaluate("__unixEpochGroup", args) + ' AS "time"'
        raise Failure("unknown macro %r" % name)

    def replace(m):
        name = m.group(1)
        # Pre-5.3 compatibility: a $__timeGroup(...) directly followed by ','
        # (its first occurrence in the query) gets the alias.
        if name == "__timeGroup":
            i = original.find(m.group(0))
            if i >= 0 and original[i + len(m.group(0)):i + len(m.group(0)) + 1] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        try:
            return evaluate(name, args)
        except Failure as e:
            errors.append(str(e))
            return "macro_error()"

    sql = MACRO_RE.sub(replace, sql)
    if errors:
        raise Failure(errors[0])
    return sql


def expand(sql, variables, t_from, t_to, interval):
    """The whole chain; fails on anything left that looks like a variable or macro."""
    out = expand_macros(interpolate_variables(sql, variables, interval), t_from, t_to, interval)
    left = re.findall(r"\$\{?\w+|\[\[\w+", out)
    check(not left, "unexpanded %s in:\n%s" % (left, out))
    return out


# Grafana's rangeutil.roundInterval ladder (ms) and secondsToHms.
ROUND_LADDER = [
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
    (1814400000, 604800000), (3628800000, 2592000000)]


def round_interval(ms):
    for limit, value in ROUND_LADDER:
        if ms < limit:
            return value
    return 31536000000


def seconds_to_hms(seconds):
    """Grafana's rangeutil.secondsToHms: the largest whole unit, truncated."""
    parts = (("y", seconds // 31536000), ("d", seconds % 31536000 // 86400),
             ("h", seconds % 31536000 % 86400 // 3600), ("m", seconds % 31536000 % 86400 % 3600 // 60),
             ("s", seconds % 31536000 % 86400 % 3600 % 60))
    for unit, n in parts:
        if int(n):
            return "%d%s" % (int(n), unit)
    return "%dms" % int(seconds * 1000)


def panel_interval(t_from, t_to, min_interval, max_data_points=1000):
    """(text, ms) of $__interval as the frontend computes it for a panel."""
    range_ms = (t_to - t_from) / datetime.timedelta(milliseconds=1)
    ms = round_interval(range_ms / max_data_points)
    low = int(parse_interval(min_interval) * 1000)
    ms = max(ms, low)
    return seconds_to_hms(ms / 1000), ms


def self_test():
    """Pins the expansion to Grafana's own macro tests (macros_test.go)."""
    f = datetime.datetime(2018, 4, 12, 18, 0, tzinfo=datetime.timezone.utc)
    t = f + datetime.timedelta(minutes=5)
    iv = ("5m", 300000)
    cases = [
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("WHERE $__timeFilter(time_column)",
         "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
        ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
        ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
        ("SELECT $__timeGroup(time_column,'5m'), value",
         'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'),
        ("SELECT $__timeGroup(time_column,'5m') as time, value",
         "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"),
        ("$__timeGroupAlias(time_column , '5m')",
         'floor(extract(epoch from time_column)/300)*300 AS "time"'),
        ("select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"),
        ("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
         'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'),
        ("x $__timeGroup(c, $__interval) y", "x floor(extract(epoch from c)/300)*300 y"),
        ("$__timeGroup(c, 20ms)", "floor(extract(epoch from c)/0.02)*0.02"),
    ]
    for sql, want in cases:
        got = expand(sql, {}, f, t, iv)
        check(got == want, "expansion of %r: got %r, want %r" % (sql, got, want))
    half = f.replace(microsecond=500000)
    check(rfc3339_nano(half) == "2018-04-12T18:00:00.5Z", "RFC3339Nano fraction")
    for x, want in ((300.0, "300"), (0.02, "0.02"), (86400.0, "86400"), (604800.0, "604800"),
                    (1036800.0, "1.0368e+06"), (2592000.0, "2.592e+06"), (1e6, "1e+06"),
                    (0.0001, "0.0001"), (0.00001, "1e-05")):
        check(go_float(x) == want, "Go %%v of %r: got %r, want %r" % (x, go_float(x), want))
    for bad in ("$__bogus(x)", "$__timeGroup(c)", "$undefined_var", "$__timeFilter"):
        try:
            expand(bad, {}, f, t, iv)
        except Failure:
            continue
        raise Failure("expansion of %r should fail" % bad)
    v = {"check": ("it's", False), "region": (["fra", "a'b"], True)}
    got = interpolate_variables("c = '$check' AND r IN ($region) AND ${check}", v)
    check(got == "c = 'it''s' AND r IN ('fra','a''b') AND it''s", "variables: %r" % got)
    six_h = (f - datetime.timedelta(hours=6), f)
    check(panel_interval(*six_h, "1m") == ("1m", 60000), "6h interval")
    week = (f - datetime.timedelta(days=7), f)
    check(panel_interval(*week, "1m") == ("10m", 600000), "7d interval")
    check(panel_interval(*week, "1m", 1) == ("7d", 604800000), "7d interval, 1 point")


# --------------------------------------------------------------------------
# Static checks of the files.
# --------------------------------------------------------------------------

def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    check(isinstance(doc, dict), "%s: not a YAML mapping" % path)
    check(doc.get("apiVersion") == 1, "%s: apiVersion must be 1" % path)
    return doc


def check_provisioning(grafana_dir):
    ds_doc = load_yaml(os.path.join(grafana_dir, "provisioning/datasources/sonde.yaml"))
    sources = ds_doc.get("datasources")
    check(isinstance(sources, list) and len(sources) == 1, "datasources: exactly one entry")
    ds = sources[0]
    check(ds.get("uid") == DATASOURCE_UID, "data source uid must be %s" % DATASOURCE_UID)
    check(ds.get("type") == "postgres", "data source type must be postgres")
    for key in ("name", "url", "user"):
        check(isinstance(ds.get(key), str) and ds[key], "data source %s missing" % key)
    password = (ds.get("secureJsonData") or {}).get("password", "")
    check(re.fullmatch(r"\$\{?[A-Z_][A-Z0-9_]*\}?", str(password)),
          "secureJsonData.password must come from an environment variable, got %r" % password)
    check("password" not in ds, "a plain-text password key")
    jd = ds.get("jsonData") or {}
    check(jd.get("database") == "sonde", "jsonData.database must be sonde")
    check(jd.get("sslmode") in ("disable", "require", "verify-ca", "verify-full"),
          "jsonData.sslmode %r" % jd.get("sslmode"))
    check(jd.get("timescaledb") is False, "jsonData.timescaledb: the macros assume plain PostgreSQL")
    parse_interval(jd.get("timeInterval", ""))

    prov_doc = load_yaml(os.path.join(grafana_dir, "provisioning/dashboards/sonde.yaml"))
    providers = prov_doc.get("providers")
    check(isinstance(providers, list) and len(providers) == 1, "providers: exactly one entry")
    p = providers[0]
    for key, kind in (("name", str), ("orgId", int), ("folder", str), ("type", str),
                      ("disableDeletion", bool), ("updateIntervalSeconds", int),
                      ("allowUiUpdates", bool), ("options", dict)):
        check(isinstance(p.get(key), kind), "provider key %s missing or not %s" % (key, kind))
    check(p["type"] == "file", "provider type must be file")
    check(os.path.isabs(p["options"].get("path", "")), "provider options.path must be absolute")
    return jd["timeInterval"]


def queries_of(board):
    """(where, sql, format, needs_time) of every panel target and annotation."""
    out = []
    for panel in board["panels"]:
        ds = panel.get("datasource") or {}
        for t in panel.get("targets", []):
            tds = t.get("datasource") or ds
            check(tds.get("uid") == DATASOURCE_UID,
                  "%s panel %r: data source %r" % (board["uid"], panel["title"], tds))
            fmt = t.get("format")
            check(fmt in ("table", "time_series"), "panel %r: format %r" % (panel["title"], fmt))
            check(t.get("rawQuery") is True and t.get("rawSql"), "panel %r: no rawSql" % panel["title"])
            out.append(("panel %r" % panel["title"], t["rawSql"], fmt, fmt == "time_series"))
    for a in board.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        check((a.get("datasource") or {}).get("uid") == DATASOURCE_UID,
              "annotation %r: data source" % a.get("name"))
        out.append(("annotation %r" % a["name"], a["target"]["rawSql"], "table", True))
    for where, sql, _, _ in out:
        stripped = re.sub(r"'(?:[^']|'')*'", "''", sql)
        check("--" not in stripped and "/*" not in stripped,
              "%s %s: no SQL comments in dashboard queries" % (board["uid"], where))
    return out


def load_dashboards(grafana_dir):
    boards = []
    directory = os.path.join(grafana_dir, "dashboards")
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            board = json.load(f)
        check(board.get("uid") and board.get("title"), "%s: uid and title" % name)
        for key in ("id", "title"):
            values = [p[key] for p in board["panels"]]
            check(len(values) == len(set(values)), "%s: panel %ss not unique" % (name, key))
        cells = set()
        for p in board["panels"]:
            g = p.get("gridPos", {})
            check(set(g) >= {"h", "w", "x", "y"} and g["x"] + g["w"] <= 24,
                  "%s: panel %r: gridPos" % (name, p["title"]))
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            check(not cells & mine, "%s: panel %r overlaps another" % (name, p["title"]))
            cells |= mine
        for v in board.get("templating", {}).get("list", []):
            check(v.get("type") == "query" and v["datasource"]["uid"] == DATASOURCE_UID,
                  "%s: variable %s" % (name, v.get("name")))
        boards.append((name, board))
    check(len(boards) >= 3, "expected the overview, check and prober dashboards")
    uids = [b["uid"] for _, b in boards]
    check(len(uids) == len(set(uids)), "dashboard uids not unique")
    return boards


# --------------------------------------------------------------------------
# PostgreSQL, collector, probers.
# --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Psql:
    def __init__(self, port, user):
        self.args = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", user,
                     "-d", "sonde", "-v", "ON_ERROR_STOP=1"]

    def run(self, sql):
        """Rows (lists of strings) and the column names; raises on an error."""
        p = subprocess.run(self.args + ["-A", "-F", FIELD_SEP, "-R", RECORD_SEP,
                                        "--pset=footer=off", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise Failure("query failed: %s\n%s" % (p.stderr.strip(), sql))
        records = p.stdout.rstrip("\n").split(RECORD_SEP) if p.stdout.strip() else []
        if not records:
            return [], []
        columns = records[0].split(FIELD_SEP)
        return columns, [r.lstrip("\n").split(FIELD_SEP) for r in records[1:] if r.strip("\n")]

    def script(self, path):
        p = subprocess.run(self.args + ["-f", path], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise Failure("psql -f %s: %s" % (path, p.stderr.strip()))


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 200 "welcome", except every third request: 503."""
    count = 0
    lock = threading.Lock()

    def do_GET(self):
        with Flaky.lock:
            Flaky.count += 1
            fail = Flaky.count % 3 == 0
        body = b"busy" if fail else b"welcome"
        self.send_response(503 if fail else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_https(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert


def wait_port(port, proc, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(proc.poll() is None, "%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise Failure("%s did not listen on %d within %d s" % (what, port, seconds))


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fill_through_the_real_path(tmp, bin_dir, conninfo, db):
    """A collector and two probers (fra, ams) probe for real until every
    table the dashboards read from the ingest path has rows."""
    server, cert = start_https(tmp)
    closed = free_port()
    config = os.path.join(tmp, "sonde.yaml")
    with open(config, "w") as f:
        f.write("""regions: [fra, ams]
defaults: {interval: 500ms, timeout: 400ms}
checks:
  - name: app-home
    service: app
    http: {url: "https://127.0.0.1:%d/", expect_status: [200], ca_file: "%s"}
  - name: legacy-admin
    service: legacy
    http: {url: "http://127.0.0.1:%d/admin"}
""" % (server.server_address[1], cert, closed))
    grpc = free_port()
    log = open(os.path.join(tmp, "daemons.log"), "w")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [os.path.join(bin_dir, "sonde-collector"), "--listen", "127.0.0.1:%d" % grpc,
             "--postgres", conninfo, "--config", config], stdout=log, stderr=log))
        wait_port(grpc, procs[0], "sonde-collector")
        for region in ("fra", "ams"):
            procs.append(subprocess.Popen(
                [os.path.join(bin_dir, "sonde-prober"), "--region", region,
                 "--prober-id", "grafana-" + region, "--collector", "127.0.0.1:%d" % grpc],
                stdout=log, stderr=log))
        # Enough for each region to have passed, failed (503 and refused) and
        # measured the certificate, and for the detector to have opened an
        # incident for each check (a third of app-home's probes fail, all of
        # legacy-admin's); bounded.
        ready = """
SELECT (SELECT count(DISTINCT (check_id, region)) FROM rollup_minute) = 4
   AND (SELECT count(DISTINCT region) FROM rollup_minute_class WHERE check_id = 'app-home') = 2
   AND (SELECT count(*) FROM results WHERE cert_days_left IS NOT NULL) > 0
   AND (SELECT count(*) FROM results WHERE ok) >= 10
   AND (SELECT count(DISTINCT prober_id) FROM ingested_batches) = 2
   AND EXISTS (SELECT 1 FROM incidents i JOIN incident_events e ON e.incident_id = i.id
               WHERE 'app-home' = ANY (i.checks))
   AND EXISTS (SELECT 1 FROM incidents WHERE 'legacy-admin' = ANY (checks))"""
        start = time.monotonic()
        deadline = start + 90
        while True:
            for p in procs:
                check(p.poll() is None, "a daemon exited early (see %s)" % log.name)
            if db.run(ready)[1] == [["t"]]:
                print("filled through the real path in %.1f s" % (time.monotonic() - start))
                break
            check(time.monotonic() < deadline,
                  "no complete data within 90 s (see %s)" % log.name)
            time.sleep(0.5)
    finally:
        stop(procs[1:])
        stop(procs[:1])
        server.shutdown()
        log.close()


def add_prober_fault_and_gap(db):
    """Rows of the real schema for what takes minutes or a full disk to happen
    for real: a resolved prober fault with its timeline, and a gap a prober
    reported (its spool dropped results)."""
    db.run("""
INSERT INTO incidents (id, kind, severity, service, checks, regions, hosts, protocol,
  failure_class, failing_share, latency_phase, latency_p95_ms, latency_baseline_p95_ms,
  affected_targets, recovered_targets, evidence, opened_at, updated_at, resolved_at)
VALUES ('sonde/PROBER_FAULT/1', 'PROBER_FAULT', 'PAGE', 'sonde', '{app-home}', '{ams}', '{}', '',
  'PROBER_ERROR', 1, '', 0, 0, 0, 0, 'no results from region ams (prober grafana-ams)',
  now() - interval '4 minutes', now() - interval '3 minutes', now() - interval '3 minutes');
INSERT INTO incident_events (incident_id, at, kind, incident_kind, regions, affected_targets,
  recovered_targets, failing_share, detail)
VALUES ('sonde/PROBER_FAULT/1', now() - interval '4 minutes', 'OPENED', 'PROBER_FAULT', '{ams}',
        0, 0, 1, 'no results from region ams'),
       ('sonde/PROBER_FAULT/1', now() - interval '3 minutes', 'RESOLVED', 'PROBER_FAULT', '{ams}',
        0, 0, 0, 'region ams reports again');
INSERT INTO gaps (prober_id, region, first_batch_seq, last_batch_seq, results, from_time, to_time)
VALUES ('grafana-ams', 'ams', 1000000, 1000004, 120, now() - interval '5 minutes',
        now() - interval '4 minutes');
""")


# --------------------------------------------------------------------------
# Running the dashboards.
# --------------------------------------------------------------------------

def run_query(db, where, sql, needs_time, time_series, require_rows):
    columns, rows = db.run(sql)
    if require_rows:
        check(rows, "%s returned no rows:\n%s" % (where, sql))
    if needs_time and columns:
        check("time" in columns, "%s: no column named time (got %s)" % (where, columns))
    if time_series and rows:
        i = columns.index("time")
        times = [float(r[i]) for r in rows]
        check(times == sorted(times), "%s: rows not ordered by time" % where)
        # Grafana plots numeric columns; `metric` names the series.
        for j, name in enumerate(columns):
            if j != i and name != "metric":
                for r in rows:
                    check(r[j] == "" or re.fullmatch(r"-?[0-9.eE+-]+|NaN", r[j]),
                          "%s: column %s is not numeric (%r)" % (where, name, r[j]))
    return columns, rows


def run_board(db, board, t_from, t_to, min_interval, require_rows, chosen=None):
    """Resolves the variables in order (the first value of a single-value
    variable, All of a multi-value one, as Grafana does with no saved
    selection, or the value `chosen` names), then runs every query. Returns
    (queries run, the variables' values)."""
    variables = {}
    count = 0
    for v in board.get("templating", {}).get("list", []):
        sql = expand(v["query"], variables, t_from, t_to, None)
        columns, rows = run_query(db, "variable %s" % v["name"], sql, False, False, True)
        count += 1
        values = [r[0] for r in rows]
        if v.get("multi") or v.get("includeAll"):
            variables[v["name"]] = (values, True)
        else:
            value = (chosen or {}).get(v["name"], values[0])
            check(value in values, "variable %s has no value %r" % (v["name"], value))
            variables[v["name"]] = (value, False)
    interval = panel_interval(t_from, t_to, min_interval)
    for where, raw, fmt, needs_time in queries_of(board):
        sql = expand(raw, variables, t_from, t_to,
                     interval if where.startswith("panel") else None)
        run_query(db, "%s %s" % (board["uid"], where), sql, needs_time, fmt == "time_series",
                  require_rows)
        count += 1
    return count, variables


def main():
    source_dir, bin_dir = sys.argv[1], sys.argv[2]
    grafana_dir = os.path.join(source_dir, "deploy/grafana")
    self_test()
    min_interval = check_provisioning(grafana_dir)
    boards = load_dashboards(grafana_dir)

    tmp = tempfile.mkdtemp(prefix="sonde-grafana.")
    os.chmod(tmp, 0o711)
    script = os.path.join(source_dir, "deploy/local-postgres.sh")
    pgdir = os.path.join(tmp, "pg")
    try:
        for attempt in range(3):
            port = free_port()
            p = subprocess.run(["/bin/bash", script, "start", pgdir, str(port)],
                               capture_output=True, text=True, timeout=180)
            if p.returncode == 0:
                break
            check(attempt < 2, "local-postgres.sh start failed:\n%s" % p.stderr)
        conninfo = p.stdout.strip()
        owner = Psql(port, "sonde")
        fill_through_the_real_path(tmp, bin_dir, conninfo, owner)
        add_prober_fault_and_gap(owner)
        owner.script(os.path.join(grafana_dir, "grafana-reader.sql"))
        reader = Psql(port, "sonde_grafana")

        now = datetime.datetime.now(datetime.timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000) + datetime.timedelta(seconds=5)
        total = 0
        for span in (datetime.timedelta(minutes=15), datetime.timedelta(days=7)):
            t_from = now - span
            for name, board in boards:
                n, variables = run_board(reader, board, t_from, now, min_interval, True)
                total += n
                # Every other value of a single-value variable: no errors
                # (a check without a certificate may show an empty panel).
                for v in board.get("templating", {}).get("list", []):
                    if v.get("multi") or v.get("includeAll"):
                        continue
                    sql = expand(v["query"], variables, t_from, now, None)
                    for other in [r[0] for r in reader.run(sql)[1]][1:]:
                        total += run_board(reader, board, t_from, now, min_interval, False,
                                           {v["name"]: other})[0]
                print("%s over %s: %d queries, variables %s" %
                      (name, span, n, {k: v[0] for k, v in variables.items()}))
        # The reader may read, not write.
        try:
            reader.run("DELETE FROM incidents")
        except Failure:
            pass
        else:
            raise Failure("sonde_grafana could delete incidents")
        print("OK: %d queries expanded and run as sonde_grafana" % total)
    finally:
        subprocess.run(["/bin/bash", script, "destroy", pgdir], capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
