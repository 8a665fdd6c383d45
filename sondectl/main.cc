// sondectl: the SRE command line for Sonde. Single-threaded; each subcommand
// parses its own flags, does one thing and maps the outcome to an exit code:
// 0 ok, 1 operational error (e.g. the collector is unreachable), 2 usage error.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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
#include "sondectl/progress.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"
#include "sondectl/report_model.h"
#include "sondectl/slo.h"
#include "sondectl/state.h"
#include "sondectl/status.h"
#include "sondectl/usage.h"

namespace sonde::sondectl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kDefaultCollectorPort = 7600;
constexpr auto kRpcDeadline = std::chrono::seconds(10);
// gRPC's default 4 MiB is too small for a report with per-day numbers
// (--format html: about 50 bytes per check x region x day).
constexpr int kMaxReplyBytes = 256 << 20;
constexpr absl::Duration kMaxWindow = absl::Hours(24 * 400);

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
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxReplyBytes);
    return v1::Query::NewStub(grpc::CreateCustomChannel(*target, creds->channel, args));
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

const std::vector<std::string> kTableOrJson = {"table", "json"};

// Parses a command's flags; `format`, when given, is its --format value and
// must be one of `formats`. On a usage error or --help, prints it and
// returns the exit status in `*code`; otherwise the positional arguments.
std::optional<std::vector<std::string>> ParseArgs(
    const std::string& command, common::FlagSet* flags, const std::vector<std::string>& args,
    int* code, const std::string* format = nullptr,
    const std::vector<std::string>& formats = kTableOrJson) {
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
  if (format != nullptr && std::find(formats.begin(), formats.end(), *format) == formats.end()) {
    *code = UsageError(command, absl::StrCat("--format must be ", absl::StrJoin(formats, ", "),
                                             "; not \"", SafeText(*format), "\""));
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
                    const std::string* format = nullptr,
                    const std::vector<std::string>& formats = kTableOrJson) {
  std::optional<std::vector<std::string>> rest =
      ParseArgs(command, flags, args, code, format, formats);
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

// The command line of `ack` and `update`: the collector flags, --by (default
// $USER, "sondectl" when unset), one text flag and the INCIDENT id.
struct IncidentAction {
  CollectorFlags collector;
  std::string by;
  std::string text;
  std::string id;
};

// Parses `sondectl <command> INCIDENT` into `*action`, the text flag named
// `text_flag`. False with the exit status in `*code` when the command ends.
bool ParseIncidentAction(const std::string& command, const char* usage, const char* by_help,
                         const char* text_flag, const char* text_help,
                         const std::vector<std::string>& args, IncidentAction* action, int* code) {
  const char* user = std::getenv("USER");
  action->by = user != nullptr && user[0] != '\0' ? user : "sondectl";
  common::FlagSet flags("sondectl " + command, usage);
  action->collector.Add(&flags);
  flags.String("by", &action->by, by_help);
  flags.String(text_flag, &action->text, text_help);
  std::optional<std::string> id = ParseIncidentId(command, &flags, args, code);
  if (!id) {
    return false;
  }
  action->id = *id;
  return true;
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
  IncidentAction a;
  int code = kExitOk;
  if (!ParseIncidentAction("ack", kAckUsage, "Who acknowledges (default: $USER).", "comment",
                           "A note for the timeline.", args, &a, &code)) {
    return code;
  }
  v1::AcknowledgeRequest request;
  request.set_incident_id(a.id);
  request.set_by(a.by);
  request.set_comment(a.text);
  return CallQuery("ack", "acknowledge the incident", &a.collector, &v1::Query::Stub::Acknowledge,
                   request, [](const v1::AcknowledgeReply& reply) {
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

// --window of `report`: a duration ("24h", "30d") or whole years ("1y" =
// 365 days), more than 0 and at most 400 days.
absl::StatusOr<absl::Duration> ParseReportWindow(const std::string& text) {
  absl::string_view years = text;
  int64_t n = 0;
  if (absl::ConsumeSuffix(&years, "y")) {
    if (!absl::SimpleAtoi(years, &n) || n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("--window: bad duration \"", text, "\""));
    }
  }
  absl::StatusOr<absl::Duration> window =
      n > 0 ? absl::StatusOr<absl::Duration>(absl::Hours(24 * 365 * n))
            : common::ParseDuration(text);
  if (!window.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--window: ", window.status().message()));
  }
  if (*window <= absl::ZeroDuration() || *window > kMaxWindow) {
    return absl::InvalidArgumentError("--window must be more than 0 and at most 400d");
  }
  return window;
}

// --month of `report`: "2026-11" (a calendar month, 1970..9999).
bool ValidMonth(const std::string& month) {
  absl::Time t;
  std::string err;
  return month.size() == 7 && absl::ParseTime("%Y-%m", month, &t, &err);
}

int Update(const std::vector<std::string>& args) {
  IncidentAction a;
  int code = kExitOk;
  if (!ParseIncidentAction("update", kUpdateUsage,
                           "Who writes it, for the collector's log (default: $USER).", "message",
                           "The update, shown on the status page (required).", args, &a, &code)) {
    return code;
  }
  if (a.text.empty()) {
    return UsageError("update", "--message is required");
  }
  v1::PostUpdateRequest request;
  request.set_incident_id(a.id);
  request.set_message(a.text);
  request.set_by(a.by);
  return CallQuery("update", "post the update", &a.collector, &v1::Query::Stub::PostUpdate, request,
                   [](const v1::PostUpdateReply& reply) {
                     std::printf("%s: update posted (%s, %s)\n",
                                 SafeText(reply.incident().id()).c_str(),
                                 SafeText(reply.incident().kind()).c_str(),
                                 SafeText(reply.incident().status()).c_str());
                   });
}

// Writes a finished report to `path` (through a temporary file renamed over
// it, so a reader never sees half a report), or to standard output when
// `path` is empty; an HTML file on a terminal gets a hint on stderr.
int WriteReport(const std::string& text, const std::string& path, const std::string& format) {
  if (path.empty()) {
    if (format == "html" && IsTerminal(stdout)) {
      std::fprintf(stderr, "sondectl: this is an HTML file; save it with --output report.html\n");
    }
    std::fputs(text.c_str(), stdout);
    return kExitOk;
  }
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = f != nullptr && std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "sondectl: cannot write the report to %s: %s\n", SafeText(path).c_str(),
                 std::strerror(errno));
    std::remove(tmp.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

int Report(const std::vector<std::string>& args) {
  CollectorFlags c;
  std::string window_text;
  std::string month;
  std::string time_zone;
  std::string format = "table";
  std::string service;
  std::string check;
  std::string region;
  std::string output;
  common::FlagSet flags("sondectl report", kReportUsage);
  c.Add(&flags);
  flags.String("window", &window_text,
               "How far back to look: 24h, 30d, 90d, 1y, or any duration up to 400d\n"
               "(default 1h).");
  flags.String("month", &month, "A calendar month instead of --window: 2026-11 (in --time-zone).");
  flags.String("time-zone", &time_zone,
               "With --month: the IANA time zone of its boundaries (default UTC).");
  std::string format_help = "One of:";
  for (const std::string& name : ReportFormatNames()) {
    absl::StrAppend(&format_help, "\n  ", name, ": ", FindReportFormat(name)->description);
  }
  flags.String("format", &format, format_help);
  flags.String("service", &service, "Only the checks of this service.");
  flags.String("check", &check, "Only this check (its name).");
  flags.String("region", &region, "Only this region.");
  flags.String("output", &output,
               "Write the report to this file (replaced whole) instead of standard output.");
  int code = kExitOk;
  if (!ParseFlagsOnly("report", &flags, args, &code, &format, ReportFormatNames())) {
    return code;
  }
  if (!month.empty() && !window_text.empty()) {
    return UsageError("report", "give --window or --month, not both");
  }
  if (!month.empty() && !ValidMonth(month)) {
    return UsageError(
        "report", absl::StrCat("--month must look like 2026-11, not \"", SafeText(month), "\""));
  }
  if (!time_zone.empty() && month.empty()) {
    return UsageError("report", "--time-zone goes with --month");
  }
  absl::StatusOr<absl::Duration> window =
      ParseReportWindow(window_text.empty() ? "1h" : window_text);
  if (!window.ok()) {
    return UsageError("report", std::string(window.status().message()));
  }
  v1::AvailabilityRequest request;
  if (month.empty()) {
    common::FromAbsl(*window, request.mutable_window());
  } else {
    request.set_month(month);
    request.set_time_zone(time_zone);
  }
  request.set_check_id(check);
  request.set_region(region);
  request.set_service(service);
  const ReportFormat* renderer = FindReportFormat(format);
  request.set_daily(renderer->daily);
  Progress progress(absl::StrCat("report over ", month.empty() ? FormatWindow(*window) : month,
                                 ": waiting for the collector"),
                    IsTerminal(stderr));
  std::optional<ReportModel> model;
  code = CallQuery("report", "get availability", &c, &v1::Query::Stub::Availability, request,
                   [&](const v1::AvailabilityReply& reply) {
                     if (!month.empty() && !reply.has_method()) {
                       return;
                     }
                     model = ModelFromAvailability(reply, service);
                     model->month = month;
                   });
  if (code == kExitOk && !model) {
    // An older collector ignores `month` and answers the last hour.
    progress.Stop();
    std::fprintf(stderr,
                 "sondectl: the collector does not answer calendar months (--month); "
                 "upgrade it or use --window\n");
    return kExitFailure;
  }
  if (code == kExitOk && renderer->daily) {
    model->generated_at = absl::Now();
    v1::IncidentsRequest incidents;
    incidents.set_include_resolved(true);
    incidents.set_service(service);
    common::FromAbsl(std::clamp(model->generated_at - model->from, absl::Seconds(1), kMaxWindow),
                     incidents.mutable_window());
    code = CallQuery("report", "list incidents", &c, &v1::Query::Stub::Incidents, incidents,
                     [&](const v1::IncidentsReply& reply) {
                       model->incidents = IncidentsOfWindow(reply, *model, check, region);
                     });
  }
  progress.Stop();
  if (code != kExitOk) {
    return code;
  }
  return WriteReport(renderer->render(*model), output, format);
}

int Status(const std::vector<std::string>& args) {
  CollectorFlags c;
  bool probers = false;
  bool collectors = false;
  bool broken = false;
  std::string format = "table";
  v1::StatusRequest request;
  common::FlagSet flags("sondectl status", kStatusUsage);
  c.Add(&flags);
  flags.Bool("probers", &probers, "Status and config delivery per prober.");
  flags.Bool("collectors", &collectors,
             "The collector replicas sharing the database and their config versions.");
  flags.String("service", request.mutable_service(), "Only the checks of this service.");
  flags.String("check", request.mutable_check(), "Only this check (its name).");
  flags.String("region", request.mutable_region(), "Only this region.");
  flags.Bool("broken", &broken, "Leave out the check x region rows that are UP.");
  AddFormatFlag(&flags, &format);
  int code = kExitOk;
  if (!ParseFlagsOnly("status", &flags, args, &code, &format)) {
    return code;
  }
  if (collectors) {
    return CallQuery(
        "status", "list the collector replicas", &c, &v1::Query::Stub::Collectors,
        v1::CollectorsRequest(), [&](const v1::CollectorsReply& reply) {
          std::fputs((format == "json" ? ToJson(reply) : FormatCollectorsTable(reply)).c_str(),
                     stdout);
        });
  }
  if (!probers) {
    return CallQuery("status", "read the current status", &c, &v1::Query::Stub::Status, request,
                     [&](const v1::StatusReply& reply) {
                       std::fputs((format == "json" ? ToJson(reply)
                                                    : FormatStatusTable(reply, absl::Now(), broken))
                                      .c_str(),
                                  stdout);
                     });
  }
  return CallQuery(
      "status", "list probers", &c, &v1::Query::Stub::Probers, v1::ProbersRequest(),
      [&](const v1::ProbersReply& reply) {
        std::fputs(
            (format == "json" ? ToJson(reply) : FormatProbersTable(reply, absl::Now())).c_str(),
            stdout);
      });
}

int Slo(const std::vector<std::string>& args) {
  CollectorFlags c;
  std::string format = "table";
  v1::SloRequest request;
  common::FlagSet flags("sondectl slo", kSloUsage);
  c.Add(&flags);
  flags.String("name", request.mutable_name(), "Only the SLO with this name.");
  flags.String("service", request.mutable_service(), "Only the SLOs of this service.");
  AddFormatFlag(&flags, &format);
  int code = kExitOk;
  if (!ParseFlagsOnly("slo", &flags, args, &code, &format)) {
    return code;
  }
  return CallQuery(
      "slo", "read the SLOs", &c, &v1::Query::Stub::Slo, request, [&](const v1::SloReply& reply) {
        std::fputs((format == "json" ? ToJson(reply) : FormatSloTable(reply)).c_str(), stdout);
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
  struct Command {
    const char* name;
    int (*run)(const std::vector<std::string>& args);
  };
  static constexpr Command kCommands[] = {
      {"incidents", Incidents}, {"incident", Incident}, {"ack", Ack}, {"update", Update},
      {"report", Report},       {"status", Status},     {"slo", Slo}, {"validate", Validate}};
  if (command == "help" && !args.empty()) {
    for (const Command& c : kCommands) {
      if (args[0] == c.name) {
        return c.run({"--help"});
      }
    }
  }
  if (command == "--version" || command == "version") {
    std::printf("%s\n", common::VersionLine("sondectl").c_str());
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h" || command == "-help") {
    std::fputs(kMainUsage, stdout);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (command == c.name) {
      return c.run(args);
    }
  }
  return UsageError(
      "",
      absl::StrCat(
          "unknown command \"", command,
          "\"; commands: incidents, incident, ack, update, report, status, slo, validate, help"));
}

}  // namespace
}  // namespace sonde::sondectl

int main(int argc, char** argv) { return sonde::sondectl::Main(argc, argv); }
