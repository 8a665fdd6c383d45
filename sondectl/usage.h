// The help texts of sondectl and each of its commands (`sondectl help`,
// `sondectl COMMAND --help`): what bash completion and the man page
// (help2man) read, so they are part of the command line's contract
// (docs/sondectl.md). Constants only.
#ifndef SONDE_SONDECTL_USAGE_H_
#define SONDE_SONDECTL_USAGE_H_

namespace sonde::sondectl {

inline constexpr char kMainUsage[] = R"txt(usage: sondectl COMMAND [flags]

sondectl asks a Sonde collector what is broken now, about incidents,
availability and SLOs, acknowledges incidents, and checks Sonde config
files. Commands:

  incidents  open (and recent) incidents: sondectl incidents [--all] [--format json]
  incident   one incident with its timeline: sondectl incident ID
  ack        acknowledge an incident (stops repeats/escalation): sondectl ack ID
  update     a human line on the incident's status page timeline:
             sondectl update ID --message "Fix deployed, watching"
  report     availability per check and region over a window, from the
             collector's per-minute rollups, with its accounting footer
             sondectl report --window 30d|--month 2026-11 [--service S]
                             [--format table|json|csv|html] [--output FILE]
  status     the current state per service, check and region, what is
             broken first: sondectl status [--service S] [--broken]
             each prober's status and config delivery: sondectl status --probers
  slo        the SLOs: target, achieved, error budget left, burn rates,
             worst first: sondectl slo [--service S] [--format json]
  validate   load and validate a config file exactly as the collector does
             sondectl validate --config sonde.yaml
  help       this text; `sondectl COMMAND --help` explains a command's flags
  version    the version and git revision (also --version)

Exit status: 0 success, 1 operational error (collector unreachable or
failing), 2 usage error (bad command, flag or config file).
The environment variable SONDE_COLLECTOR sets the default --collector.
)txt";

inline constexpr char kReportUsage[] =
    R"txt(usage: sondectl report [--collector HOST:PORT] [--window 1h | --month 2026-11 [--time-zone Z]] [--service S] [--check NAME] [--region R] [--format table|json|csv|html] [--output FILE]

Prints availability per check and region over the last --window (24h, 30d,
90d, 1y, or any duration up to 400d) or a calendar --month, as the
collector computes it from its rollups: probes, failed probes,
availability and reachability (truncated to 3 decimals, so any failure
shows below 100.000%) and the most frequent failure class. Rows below 100% are marked "!". PROBER_ERROR results (a fault
of the prober) count neither as probes nor as failures. Every format ends
with the accounting method (definition, window, time zone, exclusions,
regions counted). --format json and csv are the stable formats of
docs/sondectl.md; CSV cells that start with = + - @ get a leading ' so a
spreadsheet does not run them. --format html is one self-contained file
(no script, no external assets) with a bar per day for every check and
region, the incidents of the window and the footer; --output FILE writes
the report there instead of standard output. While a long report is being made, a
progress line is shown on standard error when it is a terminal.

Exit status: 0 success, 1 the collector is unreachable or failed (the message
names the address and gRPC's error), 2 usage error.

Examples:
  sondectl report --collector collector.example.net:7600 --window 7d --region fra
  sondectl report --month 2026-11 --format html --output report.html)txt";

inline constexpr char kValidateUsage[] = R"txt(usage: sondectl validate --config FILE

Loads FILE as the collector and probers do (YAML -> schema -> semantic
checks) and prints "FILE: OK (N checks, M regions)", or every error found
with the file, line, check and field. A region whose checks come to 80 % or
more of the largest config a region may have (docs/configuration.md) is
named in a warning on stderr; above the limit the file is invalid.

Exit status: 0 valid, 2 invalid (or unreadable, or a usage error).

Example:
  sondectl validate --config /etc/sonde/sonde.yaml)txt";

inline constexpr char kStatusUsage[] =
    R"txt(usage: sondectl status [--service S] [--check NAME] [--region R] [--broken] [--format table|json]
       sondectl status --probers [--collector HOST:PORT] [--format table|json]
       sondectl status --collectors [--collector HOST:PORT] [--format table|json]

Without --probers: the current state of every check in every region as the
collector's detector sees it (DOWN, FLAPPING, DEGRADED, STALE, NO_DATA, UP),
what is broken first: one line per service (its worst state), then one per
check x region with the last result, its class and the open incidents that
cover it; a broken row's last failure is shown below it. --broken leaves
out the rows that are UP. --format json prints Query.Status's reply
({"as_of", "statuses": [...], "open_incidents": [...]}, docs/api.md).

--probers lists every prober the collector has seen: its software version,
when its last result batch arrived, its scheduler lateness (p99) and spool
depth (bytes, unacked results, the oldest one's age), whether its config
stream is up, the config version it says it runs, the version its region has
now, how long that one has been waiting to be applied, the last transfer
(full, delta or legacy, and its bytes), how many deliveries failed and the
last failure. --format json prints {"probers": [...]} (docs/sondectl.md).

--collectors lists the collector replicas that share the database (docs/ha.md):
the config version recorded for detection, then per replica its address,
whether it is live (seen within 10 s by the database clock), its software and
config versions, whether that config is the recorded one (IN-STEP NO: it takes
no part in detection until its file matches), its uptime and when it was last
seen. --format json prints Query.Collectors' reply.

Exit status: 0 success, 1 the collector is unreachable or failed, 2 usage error.

Examples:
  sondectl status --broken
  sondectl status --probers --collector collector.example.net:7600)txt";

inline constexpr char kSloUsage[] =
    R"txt(usage: sondectl slo [--collector HOST:PORT] [--name NAME] [--service S] [--format table|json]

Prints every SLO of the config (docs/availability.md): its target, window
and budgeting method, what it achieved (SLI), the error budget left (100%
untouched, 0% spent, negative overspent; spent ones marked "!") and the burn
rates (1 spends the budget exactly over the window), the lowest budget
first; below the table each SLO's accounting method (window, time zone,
exclusions). --format json prints Query.Slo's reply ({"slos": [...]}).

Exit status: 0 success, 1 the collector is unreachable or failed, 2 usage error.

Example:
  sondectl slo --service app)txt";

inline constexpr char kIncidentsUsage[] =
    R"txt(usage: sondectl incidents [--collector HOST:PORT] [--all [--window 24h]] [--service S] [--format table|json]

Lists the open incidents (with --all also the resolved ones that were open
at some time within --window), newest first: id, kind, severity, service, regions, failing
share, dominant failure class, since when, acknowledged by whom. --format
json prints {"incidents": [...]} with the fields of docs/sondectl.md.

Exit status: 0 success, 1 the collector is unreachable or failed, 2 usage error.

Example:
  sondectl incidents --collector collector.example.net:7600 --all --window 7d)txt";

inline constexpr char kIncidentUsage[] =
    R"txt(usage: sondectl incident INCIDENT [--collector HOST:PORT] [--format table|json]

Shows one incident and its timeline: opened, reclassified, regions added or
removed, recovered/affected counts ("62 of 80 hosts recovered"), notified,
acknowledged, resolved.

Exit status: 0 success, 1 unknown incident or collector failure, 2 usage error.

Example:
  sondectl incident app/partial_failure/1763715600)txt";

inline constexpr char kAckUsage[] =
    R"txt(usage: sondectl ack INCIDENT [--collector HOST:PORT] [--by NAME] [--comment TEXT]

Acknowledges an incident: Sonde stops repeating and escalating its pages
(a resolved notice is still sent when it ends). The acknowledgement is in
the incident's timeline. Acknowledging twice is harmless.

Exit status: 0 acknowledged (or already), 1 unknown incident or collector
failure, 2 usage error.

Example:
  sondectl ack app/partial_failure/1763715600 --by alice --comment "LB disk full, on it")txt";

inline constexpr char kUpdateUsage[] =
    R"txt(usage: sondectl update INCIDENT --message TEXT [--collector HOST:PORT] [--by NAME]

Adds a person's update to the incident's timeline: it appears on the public
status page (/status), in /status.json and in the Atom feed, as text. Needs
a query token with scope ack. --by is logged by the collector, not shown.

Exit status: 0 stored, 1 unknown incident or collector failure, 2 usage
error.

Example:
  sondectl update shop/regional_outage/1763715600 --message "Traffic moved off ber; fix underway")txt";

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_USAGE_H_
