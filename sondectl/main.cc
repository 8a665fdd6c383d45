// sondectl: the SRE command line for Sonde. Single-threaded; each subcommand
// parses its own flags, does one thing and maps the outcome to an exit code:
// 0 ok, 1 operational error (e.g. the collector is unreachable), 2 usage error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/detect/options.h"
#include "common/config/config.h"
#include "common/config/config_transfer.h"
#include "common/flags.h"
#include "common/grpc_status.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "common/tls/credentials.h"
#include "common/version/version.h"
#include "grpcpp/grpcpp.h"
#include "sonde/v1/collector.grpc.pb.h"
#include "sondectl/incidents.h"
#include "sondectl/report.h"
#include "sondectl/status.h"

namespace sonde::sondectl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kDefaultCollectorPort = 7600;
constexpr auto kRpcDeadline = std::chrono::seconds(10);
constexpr absl::Duration kMaxWindow = absl::Hours(24 * 400);

constexpr char kMainUsage[] = R"txt(usage: sondectl COMMAND [flags]

sondectl asks a Sonde collector about incidents and availability,
acknowledges incidents, and checks Sonde config files. Commands:

  incidents  open (and recent) incidents: sondectl incidents [--all] [--format json]
  incident   one incident with its timeline: sondectl incident ID
  ack        acknowledge an incident (stops repeats/escalation): sondectl ack ID
  update     a human line on the incident's status page timeline:
             sondectl update ID --message "Fix deployed, watching"
  report     availability per check and region over a window, from the
             collector's per-minute rollups (table or JSON)
             sondectl report --collector HOST:PORT --window 24h [--format json]
  status     what the collector knows about each prober's config delivery:
             sondectl status --probers [--format json]
  validate   load and validate a config file exactly as the collector does
             sondectl validate --config sonde.yaml
  help       this text; `sondectl COMMAND --help` explains a command's flags
  version    the version and git revision (also --version)

Exit status: 0 success, 1 operational error (collector unreachable or
failing), 2 usage error (bad command, flag or config file).
The environment variable SONDE_COLLECTOR sets the default --collector.
)txt";

constexpr char kReportUsage[] =
    R"txt(usage: sondectl report [--collector HOST:PORT] [--window 1h] [--format table|json] [--check NAME] [--region R]

Prints availability per check and region over the last --window, as the
collector computes it from its per-minute rollups: probes, failed probes,
availability (truncated to 3 decimals, so any failure shows below 100.000%)
and the most frequent failure class. Rows below 100% are marked "!".
PROBER_ERROR results (a fault of the prober) count neither as probes nor as
failures. --format json prints the stable format of docs/sondectl.md.

Exit status: 0 success, 1 the collector is unreachable or failed (the message
names the address and gRPC's error), 2 usage error.

Example:
  sondectl report --collector collector.example.net:7600 --window 7d --region fra)txt";

constexpr char kValidateUsage[] = R"txt(usage: sondectl validate --config FILE

Loads FILE as the collector and probers do (YAML -> schema -> semantic
checks) and prints "FILE: OK (N checks, M regions)", or every error found
with the file, line, check and field. A region whose checks come to 80 % or
more of the largest config a region may have (docs/configuration.md) is
named in a warning on stderr; above the limit the file is invalid.

Exit status: 0 valid, 2 invalid (or unreadable, or a usage error).

Example:
  sondectl validate --config /etc/sonde/sonde.yaml)txt";

constexpr char kStatusUsage[] =
    R"txt(usage: sondectl status --probers [--collector HOST:PORT] [--format table|json]

--probers lists every prober the collector has seen: its software version,
when its last result batch arrived, its scheduler lateness (p99) and spool
depth (bytes, unacked results, the oldest one's age), whether its config
stream is up, the config version it says it runs, the version its region has
now, how long that one has been waiting to be applied, the last transfer
(full, delta or legacy, and its bytes), how many deliveries failed and the
last failure. --format json prints {"probers": [...]} (docs/sondectl.md).

Exit status: 0 success, 1 the collector is unreachable or failed, 2 usage error.

Example:
  sondectl status --probers --collector collector.example.net:7600)txt";

constexpr char kIncidentsUsage[] =
    R"txt(usage: sondectl incidents [--collector HOST:PORT] [--all [--window 24h]] [--service S] [--format table|json]

Lists the open incidents (with --all also the resolved ones opened within
--window), newest first: id, kind, severity, service, regions, failing
share, dominant failure class, since when, acknowledged by whom. --format
json prints {"incidents": [...]} with the fields of docs/sondectl.md.

Exit status: 0 success, 1 the collector is unreachable or failed, 2 usage error.

Example:
  sondectl incidents --collector collector.example.net:7600 --all --window 7d)txt";

constexpr char kIncidentUsage[] =
    R"txt(usage: sondectl incident INCIDENT [--collector HOST:PORT] [--format table|json]

Shows one incident and its timeline: opened, reclassified, regions added or
removed, recovered/affected counts ("62 of 80 hosts recovered"), notified,
acknowledged, resolved.

Exit status: 0 success, 1 unknown incident or collector failure, 2 usage error.

Example:
  sondectl incident app/partial_failure/1763715600)txt";

constexpr char kAckUsage[] =
    R"txt(usage: sondectl ack INCIDENT [--collector HOST:PORT] [--by NAME] [--comment TEXT]

Acknowledges an incident: Sonde stops repeating and escalating its pages
(a resolved notice is still sent when it ends). The acknowledgement is in
the incident's timeline. Acknowledging twice is harmless.

Exit status: 0 acknowledged (or already), 1 unknown incident or collector
failure, 2 usage error.

Example:
  sondectl ack app/partial_failure/1763715600 --by alice --comment "LB disk full, on it")txt";

constexpr char kUpdateUsage[] =
    R"txt(usage: sondectl update INCIDENT --message TEXT [--collector HOST:PORT] [--by NAME]

Adds a person's update to the incident's timeline: it appears on the public
status page (/status), in /status.json and in the Atom feed, as text. Needs
a query token with scope ack. --by is logged by the collector, not shown.

Exit status: 0 stored, 1 unknown incident or collector failure, 2 usage
error.

Example:
  sondectl update shop/regional_outage/1763715600 --message "Traffic moved off ber; fix underway")txt";

int UsageError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "sondectl: %s\n", message.c_str());
  if (!absl::StrContains(message, "--help")) {
    std::fprintf(stderr, "(see sondectl %s--help)\n",
                 command.empty() ? "" : (command + " ").c_str());
  }
  return kExitUsage;
}

// The flags every command that talks to the collector takes, and the
// channel they describe.
struct CollectorFlags {
  std::string collector;
  std::string token;
  common::ClientSecurity security;

  void Add(common::FlagSet* flags) {
    const char* env = std::getenv("SONDE_COLLECTOR");
    collector =
        env != nullptr && env[0] != '\0' ? env : absl::StrCat("127.0.0.1:", kDefaultCollectorPort);
    const char* token_env = std::getenv("SONDE_TOKEN");
    token = token_env != nullptr ? token_env : "";
    flags->String("collector", &collector,
                  "The collector's gRPC address, HOST:PORT (port 7600 when omitted).\n"
                  "Default: $SONDE_COLLECTOR, else 127.0.0.1:7600.");
    flags->Secret("token", &token,
                  "Query token, when the collector requires one. Default: $SONDE_TOKEN.");
    flags->String("token-file", &security.token_file, "Read the query token from this file.");
    flags->String("tls-ca", &security.tls_ca, "CA (PEM) of the collector's certificate: use TLS.");
    flags->Bool("insecure", &security.insecure,
                "Allow plaintext to a collector that is not on loopback.");
  }

  // The Query stub and the target it talks to; a usage error's message.
  absl::StatusOr<std::unique_ptr<v1::Query::Stub>> Open(std::string* target) {
    absl::StatusOr<common::HostPort> hp = common::ParseHostPort(collector, kDefaultCollectorPort);
    if (!hp.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--collector: ", hp.status().message()));
    }
    *target = common::FormatHostPort(hp->host, hp->port);
    absl::StatusOr<common::ClientCredentials> creds =
        common::MakeClientCredentials(security, *target);
    if (!creds.ok()) {
      return creds.status();
    }
    if (token.empty()) {
      token = creds->bearer_token;
    }
    return v1::Query::NewStub(grpc::CreateChannel(*target, creds->channel));
  }

  void Prepare(grpc::ClientContext* context) const {
    if (!token.empty()) {
      context->AddMetadata("authorization", "Bearer " + token);
    }
    context->set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  }
};

// Prints why an RPC failed; returns the exit status.
int RpcError(const char* what, const std::string& target, const grpc::Status& rpc_status) {
  const absl::Status status = common::FromGrpcStatus(rpc_status);
  std::string why = SafeText(status.message());  // the collector's text may quote outside input
  if (absl::IsDeadlineExceeded(status)) {
    why = absl::StrCat("no answer within ", kRpcDeadline.count(), " s (", why, ")");
  }
  std::fprintf(stderr, "sondectl: cannot %s (collector at %s): %s: %s\n", what, target.c_str(),
               absl::StatusCodeToString(status.code()).c_str(), why.c_str());
  if (absl::IsInvalidArgument(status)) {
    return kExitUsage;
  }
  return kExitFailure;
}

// --format: table (the default) or json; ParseArgs checks the value.
void AddFormatFlag(common::FlagSet* flags, std::string* format) {
  flags->String("format", format, "table (for people) or json (for scripts).");
}

// Parses a command's flags; `format`, when given, is its --format value and
// must be table or json. On a usage error or --help, prints it and returns
// the exit status in `*code`; otherwise the positional arguments.
std::optional<std::vector<std::string>> ParseArgs(const std::string& command,
                                                  common::FlagSet* flags,
                                                  const std::vector<std::string>& args, int* code,
                                                  const std::string* format = nullptr) {
  absl::StatusOr<std::vector<std::string>> rest = flags->Parse(args);
  if (!rest.ok()) {
    *code = UsageError(command, std::string(rest.status().message()));
    return std::nullopt;
  }
  if (flags->help_requested()) {
    std::fputs(flags->Help().c_str(), stdout);
    *code = kExitOk;
    return std::nullopt;
  }
  if (format != nullptr && *format != "table" && *format != "json") {
    *code =
        UsageError(command, absl::StrCat("--format must be table or json, not \"", *format, "\""));
    return std::nullopt;
  }
  return *std::move(rest);
}

int UnexpectedArgument(const std::string& command, const std::string& arg) {
  return UsageError(command, absl::StrCat("unexpected argument \"", arg, "\""));
}

// ParseArgs for a command that takes no positional argument: false, with the
// exit status in `*code`, on a usage error or --help.
bool ParseFlagsOnly(const std::string& command, common::FlagSet* flags,
                    const std::vector<std::string>& args, int* code,
                    const std::string* format = nullptr) {
  std::optional<std::vector<std::string>> rest = ParseArgs(command, flags, args, code, format);
  if (!rest) {
    return false;
  }
  if (!rest->empty()) {
    *code = UnexpectedArgument(command, (*rest)[0]);
    return false;
  }
  return true;
}

// ParseArgs for a command that takes exactly one INCIDENT id: returns it, or
// nullopt with the exit status in `*code`.
std::optional<std::string> ParseIncidentId(const std::string& command, common::FlagSet* flags,
                                           const std::vector<std::string>& args, int* code,
                                           const std::string* format = nullptr) {
  std::optional<std::vector<std::string>> rest = ParseArgs(command, flags, args, code, format);
  if (!rest) {
    return std::nullopt;
  }
  if (rest->size() != 1) {
    *code = UsageError(command, "give exactly one INCIDENT id");
    return std::nullopt;
  }
  return (*rest)[0];
}

// Calls one Query RPC on the collector `c` names and hands the reply to
// `print`; reports a bad --collector as `command`'s usage error and a failed
// call as failing to do `what`. Returns the exit status.
template <typename Request, typename Reply, typename Print>
int CallQuery(const std::string& command, const char* what, CollectorFlags* c,
              grpc::Status (v1::Query::Stub::*rpc)(grpc::ClientContext*, const Request&, Reply*),
              const Request& request, Print print) {
  std::string target;
  auto stub = c->Open(&target);
  if (!stub.ok()) {
    return UsageError(command, std::string(stub.status().message()));
  }
  grpc::ClientContext context;
  c->Prepare(&context);
  Reply reply;
  grpc::Status status = ((**stub).*rpc)(&context, request, &reply);
  if (!status.ok()) {
    return RpcError(what, target, status);
  }
  print(reply);
  return kExitOk;
}

int Incidents(const std::vector<std::string>& args) {
  CollectorFlags c;
  bool all = false;
  absl::Duration window = absl::Hours(24);
  std::string service;
  std::string format = "table";
  common::FlagSet flags("sondectl incidents", kIncidentsUsage);
  c.Add(&flags);
  flags.Bool("all", &all, "Also resolved incidents opened within --window.");
  flags.Duration("window", &window, "With --all: how far back (default 24h, at most 400d).");
  flags.String("service", &service, "Only incidents of this service.");
  AddFormatFlag(&flags, &format);
  int code = kExitOk;
  if (!ParseFlagsOnly("incidents", &flags, args, &code, &format)) {
    return code;
  }
  v1::IncidentsRequest request;
  request.set_include_resolved(all);
  common::FromAbsl(window, request.mutable_window());
  request.set_service(service);
  return CallQuery(
      "incidents", "list incidents", &c, &v1::Query::Stub::Incidents, request,
      [&](const v1::IncidentsReply& reply) {
        std::fputs((format == "json" ? ToJson(reply) : FormatIncidentsTable(reply, all)).c_str(),
                   stdout);
      });
}

int Incident(const std::vector<std::string>& args) {
  CollectorFlags c;
  std::string format = "table";
  common::FlagSet flags("sondectl incident", kIncidentUsage);
  c.Add(&flags);
  AddFormatFlag(&flags, &format);
  int code = kExitOk;
  std::optional<std::string> id = ParseIncidentId("incident", &flags, args, &code, &format);
  if (!id) {
    return code;
  }
  v1::TimelineRequest request;
  request.set_incident_id(*id);
  return CallQuery("incident", "read the incident", &c, &v1::Query::Stub::Timeline, request,
                   [&](const v1::TimelineReply& reply) {
                     std::fputs((format == "json" ? ToJson(reply) : FormatTimeline(reply)).c_str(),
                                stdout);
                   });
}

int Ack(const std::vector<std::string>& args) {
  CollectorFlags c;
  const char* user = std::getenv("USER");
  std::string by = user != nullptr && user[0] != '\0' ? user : "sondectl";
  std::string comment;
  common::FlagSet flags("sondectl ack", kAckUsage);
  c.Add(&flags);
  flags.String("by", &by, "Who acknowledges (default: $USER).");
  flags.String("comment", &comment, "A note for the timeline.");
  int code = kExitOk;
  std::optional<std::string> id = ParseIncidentId("ack", &flags, args, &code);
  if (!id) {
    return code;
  }
  v1::AcknowledgeRequest request;
  request.set_incident_id(*id);
  request.set_by(by);
  request.set_comment(comment);
  return CallQuery("ack", "acknowledge the incident", &c, &v1::Query::Stub::Acknowledge, request,
                   [](const v1::AcknowledgeReply& reply) {
                     const v1::Incident& i = reply.incident();
                     if (reply.already_acknowledged()) {
                       std::printf("%s was already acknowledged by %s\n", SafeText(i.id()).c_str(),
                                   SafeText(i.acknowledged_by()).c_str());
                     } else {
                       std::printf("%s acknowledged by %s (%s, %s)\n", SafeText(i.id()).c_str(),
                                   SafeText(i.acknowledged_by()).c_str(),
                                   SafeText(i.kind()).c_str(), SafeText(i.status()).c_str());
                     }
                   });
}

int Update(const std::vector<std::string>& args) {
  CollectorFlags c;
  const char* user = std::getenv("USER");
  std::string by = user != nullptr && user[0] != '\0' ? user : "sondectl";
  std::string message;
  common::FlagSet flags("sondectl update", kUpdateUsage);
  c.Add(&flags);
  flags.String("message", &message, "The update, shown on the status page (required).");
  flags.String("by", &by, "Who writes it, for the collector's log (default: $USER).");
  int code = kExitOk;
  std::optional<std::string> id = ParseIncidentId("update", &flags, args, &code);
  if (!id) {
    return code;
  }
  if (message.empty()) {
    return UsageError("update", "--message is required");
  }
  v1::PostUpdateRequest request;
  request.set_incident_id(*id);
  request.set_message(message);
  request.set_by(by);
  return CallQuery("update", "post the update", &c, &v1::Query::Stub::PostUpdate, request,
                   [](const v1::PostUpdateReply& reply) {
                     std::printf("%s: update posted (%s, %s)\n",
                                 SafeText(reply.incident().id()).c_str(),
                                 SafeText(reply.incident().kind()).c_str(),
                                 SafeText(reply.incident().status()).c_str());
                   });
}

int Report(const std::vector<std::string>& args) {
  CollectorFlags c;
  absl::Duration window = absl::Hours(1);
  std::string format = "table";
  std::string check;
  std::string region;
  common::FlagSet flags("sondectl report", kReportUsage);
  c.Add(&flags);
  flags.Duration("window", &window, "How far back to look: 30m, 1h, 24h, 7d, 30d (at most 400d).");
  AddFormatFlag(&flags, &format);
  flags.String("check", &check, "Only this check (its name).");
  flags.String("region", &region, "Only this region.");
  int code = kExitOk;
  if (!ParseFlagsOnly("report", &flags, args, &code, &format)) {
    return code;
  }
  if (window <= absl::ZeroDuration() || window > kMaxWindow) {
    return UsageError("report", "--window must be more than 0 and at most 400d");
  }
  v1::AvailabilityRequest request;
  common::FromAbsl(window, request.mutable_window());
  request.set_check_id(check);
  request.set_region(region);
  return CallQuery("report", "get availability", &c, &v1::Query::Stub::Availability, request,
                   [&](const v1::AvailabilityReply& reply) {
                     std::string text =
                         format == "json" ? FormatReportJson(reply) : FormatReportTable(reply);
                     std::fputs(text.c_str(), stdout);
                   });
}

int Status(const std::vector<std::string>& args) {
  CollectorFlags c;
  bool probers = false;
  std::string format = "table";
  common::FlagSet flags("sondectl status", kStatusUsage);
  c.Add(&flags);
  flags.Bool("probers", &probers, "Status and config delivery per prober.");
  AddFormatFlag(&flags, &format);
  int code = kExitOk;
  if (!ParseFlagsOnly("status", &flags, args, &code, &format)) {
    return code;
  }
  if (!probers) {
    return UsageError("status", "say what to show: --probers");
  }
  return CallQuery(
      "status", "list probers", &c, &v1::Query::Stub::Probers, v1::ProbersRequest(),
      [&](const v1::ProbersReply& reply) {
        std::fputs(
            (format == "json" ? ToJson(reply) : FormatProbersTable(reply, absl::Now())).c_str(),
            stdout);
      });
}

int Validate(const std::vector<std::string>& args) {
  std::string path;
  common::FlagSet flags("sondectl validate", kValidateUsage);
  flags.String("config", &path, "The config file to check.");
  int code = kExitOk;
  std::optional<std::vector<std::string>> rest = ParseArgs("validate", &flags, args, &code);
  if (!rest) {
    return code;
  }
  if (path.empty() && rest->size() == 1) {
    path = (*rest)[0];  // `sondectl validate FILE` works too
  } else if (!rest->empty()) {
    return UnexpectedArgument("validate", (*rest)[0]);
  }
  if (path.empty()) {
    return UsageError("validate", "--config FILE is required");
  }
  absl::StatusOr<v1::Config> config = common::LoadConfigFile(path);
  if (config.ok()) {
    // The detector's own limits, as the collector checks them at start.
    if (absl::Status st = detect::WithConfig({}, config->detection()).Validate(); !st.ok()) {
      config = absl::InvalidArgumentError(absl::StrCat(path, ": detection: ", st.message()));
    }
  }
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    std::fprintf(stderr, "%s: INVALID\n", path.c_str());
    return kExitUsage;
  }
  // A region close to the largest config the collector can send it.
  std::vector<std::string> warnings;
  common::CheckConfigLimits(*config, &warnings).IgnoreError();  // refused above when over
  for (const std::string& w : warnings) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), w.c_str());
  }
  std::printf("%s: OK (%d checks, %d regions)\n", path.c_str(), config->checks_size(),
              config->regions_size());
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kMainUsage, stderr);
    return kExitUsage;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "help" && !args.empty() && (args[0] == "report" || args[0] == "validate")) {
    return args[0] == "report" ? Report({"--help"}) : Validate({"--help"});
  }
  if (command == "--version" || command == "version") {
    std::printf("%s\n", common::VersionLine("sondectl").c_str());
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h" || command == "-help") {
    std::fputs(kMainUsage, stdout);
    return kExitOk;
  }
  struct Command {
    const char* name;
    int (*run)(const std::vector<std::string>& args);
  };
  static constexpr Command kCommands[] = {
      {"incidents", Incidents}, {"incident", Incident}, {"ack", Ack},          {"update", Update},
      {"report", Report},       {"status", Status},     {"validate", Validate}};
  for (const Command& c : kCommands) {
    if (command == c.name) {
      return c.run(args);
    }
  }
  return UsageError(
      "", absl::StrCat(
              "unknown command \"", command,
              "\"; commands: incidents, incident, ack, update, report, status, validate, help"));
}

}  // namespace
}  // namespace sonde::sondectl

int main(int argc, char** argv) { return sonde::sondectl::Main(argc, argv); }
