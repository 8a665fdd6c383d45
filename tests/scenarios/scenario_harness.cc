#include "tests/scenarios/scenario_harness.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_receivers.h"

namespace sonde::scenarios {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BinPath;
using testing::Db;
using testing::Process;
using testing::Tail;
using testing::WaitUntil;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const google::protobuf::Value* Field(const google::protobuf::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string StringField(const google::protobuf::Struct& s, const std::string& name) {
  const google::protobuf::Value* v = Field(s, name);
  return v != nullptr && v->has_string_value() ? v->string_value() : "";
}

// Fills the body fields of a delivery from its JSON document.
void ParseBody(Delivery* d) {
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(d->body, &doc).ok()) {
    return;
  }
  d->json_ok = true;
  if (const auto* v = Field(doc, "version"); v != nullptr && v->has_number_value()) {
    d->version = static_cast<int>(v->number_value());
  }
  d->body_event = StringField(doc, "event");
  d->notifier = StringField(doc, "notifier");
  std::string err;
  absl::Time t;
  if (absl::ParseTime(absl::RFC3339_full, StringField(doc, "created_at"), &t, &err)) {
    d->created_at = t;
  }
  const google::protobuf::Value* inc = Field(doc, "incident");
  if (inc == nullptr || !inc->has_struct_value()) {
    return;
  }
  const google::protobuf::Struct& i = inc->struct_value();
  d->incident_id = StringField(i, "id");
  d->incident_kind = StringField(i, "kind");
  d->incident_service = StringField(i, "service");
  d->incident_status = StringField(i, "status");
  if (const auto* r = Field(i, "regions"); r != nullptr && r->has_list_value()) {
    for (const auto& v : r->list_value().values()) {
      d->incident_regions.push_back(v.string_value());
    }
  }
}

std::vector<std::string> PgArray(const std::string& joined) {
  if (joined.empty()) {
    return {};
  }
  return absl::StrSplit(joined, '\x1f');
}

absl::Time MicrosToTime(const std::string& s) {
  int64_t us = 0;
  if (s.empty() || !absl::SimpleAtoi(s, &us)) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(us);
}

double ToDouble(const std::string& s) {
  double v = 0;
  (void)absl::SimpleAtod(s, &v);
  return v;
}

int ToInt(const std::string& s) {
  int v = 0;
  (void)absl::SimpleAtoi(s, &v);
  return v;
}

std::string Clock(absl::Time t) {
  if (t == absl::InfinitePast()) {
    return "-";
  }
  return absl::FormatTime("%H:%M:%E3S", t, absl::UTCTimeZone());
}

// Arrays come back joined by the unit separator, times as epoch micros.
std::string ArrayCol(const std::string& col) {
  return absl::StrCat("array_to_string(", col, ", chr(31))");
}
std::string MicrosCol(const std::string& col) {
  return absl::StrCat("(extract(epoch FROM ", col, ") * 1000000)::bigint");
}

}  // namespace

// ---- helpers ----

std::string PgTime(absl::Time t) {
  return absl::StrCat("'", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()),
                      "'::timestamptz");
}

std::string SqlQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Join(const std::vector<std::string>& v) { return absl::StrJoin(v, ","); }

double Secs(absl::Duration d) { return absl::ToDoubleSeconds(d); }

void SleepUntil(absl::Time t) {
  absl::Duration left = t - absl::Now();
  if (left > absl::ZeroDuration()) {
    absl::SleepFor(left);
  }
}

std::string IncidentRow::ToString() const {
  return absl::StrFormat(
      "%s kind=%s sev=%s service=%s checks=[%s] regions=[%s] hosts=[%s] protocol=%s class=%s "
      "share=%.3f phase=%s p95=%.0f/%.0fms targets=%d/%d opened=%s resolved=%s acked=%s "
      "maint=%d evidence=\"%s\"",
      id, kind, severity, service, Join(checks), Join(regions), Join(hosts), protocol,
      failure_class, failing_share, latency_phase, latency_p95_ms, latency_baseline_p95_ms,
      recovered_targets, affected_targets, Clock(opened_at), Clock(resolved_at),
      Clock(acknowledged_at), in_maintenance ? 1 : 0, evidence);
}

std::string EventRow::ToString() const {
  return absl::StrFormat("  %s %-15s %-20s regions=[%s] targets=%d/%d share=%.3f %s", Clock(at),
                         kind, incident_kind, Join(regions), recovered_targets, affected_targets,
                         failing_share, detail);
}

// ---- FaultTarget ----

FaultTarget::FaultTarget(std::string dir) : dir_(std::move(dir)) {}

absl::Status FaultTarget::Start(const Options& options) {
  const std::string ports_file = dir_ + "/faultd.ports";
  ca_file_ = dir_ + "/faultd-ca.pem";
  std::vector<std::string> argv = {BinPath("sonde-faultd"),
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--https-listen",
                                   "127.0.0.1:0",
                                   "--tcp-listen",
                                   "127.0.0.1:0",
                                   "--dns-listen",
                                   "127.0.0.1:0",
                                   "--control-listen",
                                   "127.0.0.1:0",
                                   "--ports-file",
                                   ports_file,
                                   "--ca-out",
                                   ca_file_,
                                   "--max-connections",
                                   "65536",
                                   "--log-level",
                                   "warn"};
  if (!options.cert_names.empty()) {
    argv.push_back("--cert-names");
    argv.push_back(absl::StrJoin(options.cert_names, ","));
  }
  if (!options.rules_json.empty()) {
    const std::string rules_file = dir_ + "/faultd-rules.json";
    std::ofstream(rules_file) << options.rules_json;
    argv.push_back("--rules");
    argv.push_back(rules_file);
  }
  absl::StatusOr<std::map<std::string, int>> ports =
      testing::LaunchFaultd(argv, ports_file, dir_ + "/faultd.log", &process_);
  if (!ports.ok()) {
    return ports.status();
  }
  ports_ = *std::move(ports);
  if (port("control") == 0 || port("dns") == 0) {
    return absl::InternalError(
        absl::StrCat("faultd's ports file lacks the control or dns listener:\n", Log()));
  }
  return absl::OkStatus();
}

int FaultTarget::port(const std::string& listener) const {
  auto it = ports_.find(listener);
  return it == ports_.end() ? 0 : it->second;
}

std::string FaultTarget::resolver() const { return absl::StrCat("127.0.0.1:", port("dns")); }

absl::StatusOr<absl::Time> FaultTarget::PutRules(const std::string& rules_json) {
  httplib::Client client("127.0.0.1", port("control"));
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const absl::Time sent = absl::Now();
  auto res = client.Put("/rules", rules_json, "application/json");
  if (!res) {
    return absl::UnavailableError("PUT /rules: no answer from faultd");
  }
  if (res->status != 200) {
    return absl::InvalidArgumentError(absl::StrCat("PUT /rules: ", res->status, " ", res->body));
  }
  return sent;
}

absl::StatusOr<std::string> FaultTarget::Stats() {
  httplib::Client client("127.0.0.1", port("control"));
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get("/stats");
  if (!res || res->status != 200) {
    return absl::UnavailableError("GET /stats failed");
  }
  return res->body;
}

std::string FaultTarget::Log() const { return ReadFile(dir_ + "/faultd.log"); }

// ---- WebhookReceiver ----

WebhookReceiver::WebhookReceiver(std::string secret) : secret_(std::move(secret)) {}

WebhookReceiver::~WebhookReceiver() { Stop(); }

absl::Status WebhookReceiver::Start() {
  server_ = std::make_unique<httplib::Server>();
  server_->Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    Delivery d;
    d.received_at = absl::Now();
    d.path = req.path;
    d.event = req.get_header_value("X-Sonde-Event");
    d.delivery_id = req.get_header_value("X-Sonde-Delivery");
    d.body = req.body;
    const std::string sig = req.get_header_value("X-Sonde-Signature");
    d.signature_ok = notify::testing::SignatureValid(secret_, sig, req.body);
    d.peer_port = req.remote_port;
    ParseBody(&d);
    {
      absl::MutexLock l(&mu_);
      d.answered = answer_status_;
      deliveries_.push_back(d);
      if (hold_match_ != nullptr && hold_match_(d)) {
        hold_match_ = nullptr;
        held_ = d;
        mu_.Await(absl::Condition(&released_));
      }
    }
    res.status = d.answered;
    res.set_content(d.answered / 100 == 2 ? "ok\n" : "refused by the scenario\n", "text/plain");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    return absl::UnavailableError("webhook receiver: cannot bind 127.0.0.1");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  if (!testing::WaitForPort(port_, seconds(5))) {
    return absl::UnavailableError("webhook receiver does not accept connections");
  }
  return absl::OkStatus();
}

void WebhookReceiver::Stop() {
  ReleaseHeld();
  if (server_ != nullptr) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string WebhookReceiver::Url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void WebhookReceiver::SetAnswerStatus(int status) {
  absl::MutexLock l(&mu_);
  answer_status_ = status;
}

void WebhookReceiver::HoldNext(std::function<bool(const Delivery&)> match) {
  absl::MutexLock l(&mu_);
  hold_match_ = std::move(match);
  held_.reset();
  released_ = false;
}

std::optional<Delivery> WebhookReceiver::WaitForHeld(milliseconds timeout) const {
  std::optional<Delivery> held;
  WaitUntil(
      [&] {
        absl::MutexLock l(&mu_);
        held = held_;
        return held.has_value();
      },
      timeout, milliseconds(20));
  return held;
}

void WebhookReceiver::ReleaseHeld() {
  absl::MutexLock l(&mu_);
  hold_match_ = nullptr;
  released_ = true;
}

std::vector<Delivery> WebhookReceiver::deliveries() const {
  absl::MutexLock l(&mu_);
  return deliveries_;
}

std::vector<Delivery> WebhookReceiver::Accepted(
    const std::function<bool(const Delivery&)>& match) const {
  std::vector<Delivery> out;
  for (const Delivery& d : deliveries()) {
    if (d.answered / 100 == 2 && (match == nullptr || match(d))) {
      out.push_back(d);
    }
  }
  return out;
}

std::optional<Delivery> WebhookReceiver::WaitFor(const std::function<bool(const Delivery&)>& match,
                                                 milliseconds timeout, bool accepted_only,
                                                 absl::Time since) const {
  std::optional<Delivery> found;
  WaitUntil(
      [&] {
        for (const Delivery& d : deliveries()) {
          if (accepted_only && d.answered / 100 != 2) {
            continue;
          }
          if (d.received_at < since) {
            continue;
          }
          if (match(d)) {
            found = d;
            return true;
          }
        }
        return false;
      },
      timeout, milliseconds(50));
  return found;
}

std::string WebhookReceiver::Describe() const {
  std::string out;
  for (const Delivery& d : deliveries()) {
    absl::StrAppend(&out, "  ", Clock(d.received_at), " ", d.path, " -> ", d.answered, " ", d.event,
                    " delivery=", d.delivery_id, " sig=", d.signature_ok ? "ok" : "BAD",
                    " incident=", d.incident_id, " kind=", d.incident_kind,
                    " status=", d.incident_status, " created=", Clock(d.created_at), "\n");
  }
  return out.empty() ? "  (none)\n" : out;
}

// ---- ScenarioConfig ----

ScenarioConfig::ScenarioConfig() = default;

ScenarioConfig& ScenarioConfig::Defaults(const std::string& interval, const std::string& timeout) {
  interval_ = interval;
  timeout_ = timeout;
  return *this;
}

ScenarioConfig& ScenarioConfig::Check(const std::string& flow_mapping) {
  checks_.push_back(flow_mapping);
  return *this;
}

ScenarioConfig& ScenarioConfig::Notifier(const std::string& flow_mapping) {
  notifiers_.push_back(flow_mapping);
  return *this;
}

std::string ScenarioConfig::Yaml() const {
  std::vector<std::string> regions;
  for (const Site& s : kSites) {
    regions.push_back(s.region);
  }
  std::string out =
      absl::StrCat("regions: [", absl::StrJoin(regions, ", "), "]\n",
                   "defaults: {interval: ", interval_, ", timeout: ", timeout_, "}\n", "checks:\n");
  for (const std::string& c : checks_) {
    absl::StrAppend(&out, "  - ", c, "\n");
  }
  if (!notifiers_.empty()) {
    absl::StrAppend(&out, "notifiers:\n");
    for (const std::string& n : notifiers_) {
      absl::StrAppend(&out, "  - ", n, "\n");
    }
  }
  for (const std::string& b : blocks_) {
    absl::StrAppend(&out, b, "\n");
  }
  return out;
}

ScenarioConfig& ScenarioConfig::Block(const std::string& yaml) {
  blocks_.push_back(yaml);
  return *this;
}

// ---- faultd rules and config entries ----

std::string Zone(const std::string& domain) {
  return absl::StrCat(R"({"id":"zone-)", domain, R"(","listener":"dns","name":"*.)", domain,
                      R"(","records":[{"type":"A","data":"127.0.0.1","ttl":1}]})");
}

std::string Rules(const std::vector<std::string>& rules) {
  std::vector<std::string> all = rules;
  all.push_back(R"({"id":"no-such-name","listener":"dns","rcode":"NXDOMAIN"})");
  return absl::StrCat("[", absl::StrJoin(all, ",\n "), "]");
}

std::string HttpCheck(const std::string& name, const std::string& service, const std::string& url,
                      const std::string& resolver, const std::string& extra) {
  return absl::StrCat("{name: ", name, ", service: ", service, ", http: {url: '", url,
                      "', resolvers: ['", resolver, "']", extra, "}}");
}

std::string Webhook(Scenario& s, const std::string& name, const std::string& path,
                    const std::string& extra) {
  return absl::StrCat("{name: ", name, ", webhook: {url: '", s.webhook().Url(path),
                      "', secret: ", Scenario::kWebhookSecret, "}", extra, "}");
}

// ---- Scenario ----

Scenario::Scenario(std::string name) : name_(std::move(name)) {
  scratch_ = std::make_unique<testing::ScratchDir>(absl::StrCat("scen-", name_));
  started_ = absl::Now();
}

Scenario::~Scenario() {
  // Probers first (they would retry against a dead collector), then the
  // collector, the targets and PostgreSQL last.
  probers_.clear();
  collectors_.clear();
  if (webhook_ != nullptr) {
    webhook_->Stop();
  }
  webhook_.reset();
  faultd_.reset();
  db_.reset();
  pg_.reset();
  std::cerr << "[ scenario ] " << name_ << " took "
            << absl::FormatDuration(absl::Trunc(absl::Now() - started_, absl::Seconds(1))) << "\n";
}

absl::Status Scenario::StartTargets(const FaultTarget::Options& faultd) {
  if (scratch_->path().empty()) {
    return absl::InternalError("no scratch directory");
  }
  pg_ = std::make_unique<testing::Postgres>(scratch_->Path("pg"));
  if (absl::Status st = pg_->Start(); !st.ok()) {
    return st;
  }
  db_ = std::make_unique<Db>(pg_->conninfo());
  faultd_ = std::make_unique<FaultTarget>(scratch_->path());
  if (absl::Status st = faultd_->Start(faultd); !st.ok()) {
    return st;
  }
  webhook_ = std::make_unique<WebhookReceiver>(kWebhookSecret);
  return webhook_->Start();
}

absl::Status Scenario::StartSonde(const ScenarioConfig& config, int replicas, Detection detection) {
  const std::string path = config_path();
  {
    std::ofstream out(path, std::ios::trunc);
    out << config.Yaml();
    if (!out.flush()) {
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
  }
  // The config must be valid before anything runs: a typo would otherwise
  // surface as a scenario that "detects nothing".
  std::string out;
  int rc = testing::RunCommand({BinPath("sondectl"), "validate", "--config", path}, &out);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sondectl validate refused the scenario config:\n", out, "\n", config.Yaml()));
  }
  std::vector<std::string> extra;
  std::string help;
  testing::RunCommand({BinPath("sonde-collector"), "--help"}, &help, seconds(10));
  if (absl::StrContains(help, "--http-listen")) {
    http_api_ = absl::StrCat("127.0.0.1:", testing::FreePort());
    extra = {"--http-listen", http_api_};
  }
  std::vector<std::string> addresses;
  for (int i = 0; i < std::max(1, replicas); ++i) {
    std::vector<std::string> args = i == 0 ? extra : std::vector<std::string>{};
    if (detection == Detection::kSharded) {
      args.insert(args.end(), {"--cluster", "--replica-id", absl::StrCat("replica-", i + 1)});
    }
    collectors_.push_back(std::make_unique<testing::Collector>(
        scratch_->Path(i == 0 ? std::string("collector.log")
                              : absl::StrCat("collector-", i + 1, ".log")),
        testing::Collector::Options{pg_->conninfo(), path, args}));
    if (absl::Status st = collectors_.back()->Start(); !st.ok()) {
      return st;
    }
    addresses.push_back(collectors_.back()->address());
  }
  for (const Site& site : kSites) {
    testing::Prober::Options o;
    o.region = site.region;
    o.id = absl::StrCat("p-", site.region);
    o.source_address = site.source_address;
    o.spool_dir = scratch_->Path(absl::StrCat("spool-", site.region));
    probers_.push_back(std::make_unique<testing::Prober>(scratch_->Path(absl::StrCat(o.id, ".log")),
                                                         absl::StrJoin(addresses, ","), o));
    if (absl::Status st = probers_.back()->Start(); !st.ok()) {
      return st;
    }
  }
  if (!testing::WaitForLiveResults(*db_, prober_ids(), absl::Seconds(5), seconds(60))) {
    return absl::DeadlineExceededError("the probers' results did not arrive within 60 s");
  }
  return absl::OkStatus();
}

std::string Scenario::conninfo() const { return pg_->conninfo(); }

std::vector<std::string> Scenario::prober_ids() const {
  std::vector<std::string> ids;
  for (const auto& p : probers_) {
    ids.push_back(p->options().id);
  }
  return ids;
}

std::vector<IncidentRow> Scenario::Incidents(const std::string& where) {
  absl::StatusOr<Db::Rows> rows = db_->Query(absl::StrCat(
      "SELECT id, kind, severity, service, ", ArrayCol("checks"), ", ", ArrayCol("regions"), ", ",
      ArrayCol("hosts"),
      ", protocol, failure_class, failing_share, latency_phase, latency_p95_ms,"
      " latency_baseline_p95_ms, affected_targets, recovered_targets, evidence, ",
      MicrosCol("opened_at"), ", ", MicrosCol("resolved_at"), ", ", MicrosCol("acknowledged_at"),
      ", in_maintenance FROM incidents WHERE ", where, " ORDER BY opened_at, id"));
  std::vector<IncidentRow> out;
  if (!rows.ok()) {
    return out;  // before migration 3 or while PostgreSQL restarts
  }
  for (const auto& r : *rows) {
    IncidentRow i;
    i.id = r[0];
    i.kind = r[1];
    i.severity = r[2];
    i.service = r[3];
    i.checks = PgArray(r[4]);
    i.regions = PgArray(r[5]);
    i.hosts = PgArray(r[6]);
    i.protocol = r[7];
    i.failure_class = r[8];
    i.failing_share = ToDouble(r[9]);
    i.latency_phase = r[10];
    i.latency_p95_ms = ToDouble(r[11]);
    i.latency_baseline_p95_ms = ToDouble(r[12]);
    i.affected_targets = ToInt(r[13]);
    i.recovered_targets = ToInt(r[14]);
    i.evidence = r[15];
    i.opened_at = MicrosToTime(r[16]);
    i.resolved_at = MicrosToTime(r[17]);
    i.acknowledged_at = MicrosToTime(r[18]);
    i.in_maintenance = r[19] == "t";
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<EventRow> Scenario::Events(const std::string& incident_id) {
  absl::StatusOr<Db::Rows> rows = db_->Query(absl::StrCat(
      "SELECT id, incident_id, ", MicrosCol("at"), ", kind, incident_kind, ", ArrayCol("regions"),
      ", affected_targets, recovered_targets, failing_share, detail FROM incident_events"
      " WHERE incident_id = ",
      SqlQuote(incident_id), " ORDER BY id"));
  std::vector<EventRow> out;
  if (!rows.ok()) {
    return out;
  }
  for (const auto& r : *rows) {
    EventRow e;
    (void)absl::SimpleAtoi(r[0], &e.id);
    e.incident_id = r[1];
    e.at = MicrosToTime(r[2]);
    e.kind = r[3];
    e.incident_kind = r[4];
    e.regions = PgArray(r[5]);
    e.affected_targets = ToInt(r[6]);
    e.recovered_targets = ToInt(r[7]);
    e.failing_share = ToDouble(r[8]);
    e.detail = r[9];
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<IncidentRow> Scenario::WaitForIncident(
    const std::function<bool(const IncidentRow&)>& match, milliseconds timeout,
    absl::Time* seen_at) {
  std::optional<IncidentRow> found;
  WaitUntil(
      [&] {
        for (const IncidentRow& i : Incidents()) {
          if (match(i)) {
            found = i;
            if (seen_at != nullptr) {
              *seen_at = absl::Now();
            }
            return true;
          }
        }
        return false;
      },
      timeout, milliseconds(100));
  return found;
}

std::optional<EventRow> Scenario::WaitForEvent(const std::string& incident_id,
                                               const std::function<bool(const EventRow&)>& match,
                                               milliseconds timeout) {
  std::optional<EventRow> found;
  WaitUntil(
      [&] {
        for (const EventRow& e : Events(incident_id)) {
          if (match(e)) {
            found = e;
            return true;
          }
        }
        return false;
      },
      timeout, milliseconds(200));
  return found;
}

std::string Scenario::DescribeIncidents() {
  std::string out;
  for (const IncidentRow& i : Incidents()) {
    absl::StrAppend(&out, i.ToString(), "\n");
    for (const EventRow& e : Events(i.id)) {
      absl::StrAppend(&out, e.ToString(), "\n");
    }
  }
  absl::StatusOr<Db::Rows> outbox = db_->Query(
      "SELECT id, coalesce(incident_id, ''), notifier, event, attempts,"
      " coalesce(delivered_at::text, 'undelivered'), coalesce(last_error, '') FROM outbox"
      " ORDER BY id");
  if (outbox.ok()) {
    for (const auto& r : *outbox) {
      absl::StrAppend(&out, "  outbox #", r[0], " ", r[1], " ", r[2], " ", r[3], " attempts=", r[4],
                      " ", r[5], " ", r[6], "\n");
    }
  }
  return out.empty() ? "(no incidents)\n" : out;
}

Db::Rows Scenario::Query(const std::string& sql) {
  absl::StatusOr<Db::Rows> rows = db_->Query(sql);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : Db::Rows{};
}

int64_t Scenario::Int(const std::string& sql) {
  absl::StatusOr<int64_t> v = db_->Int(sql);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : -1;
}

bool Scenario::WaitForResultsAfter(absl::Time t, milliseconds timeout) {
  const std::string sql =
      absl::StrCat("SELECT count(DISTINCT prober_id) FROM results WHERE started_at > ", PgTime(t));
  return WaitUntil(
      [&] {
        absl::StatusOr<int64_t> n = db_->Int(sql);
        return n.ok() && *n >= static_cast<int64_t>(probers_.size());
      },
      timeout, milliseconds(250));
}

int Scenario::Sondectl(std::vector<std::string> args, std::string* output) {
  std::vector<std::string> argv = {BinPath("sondectl")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--collector");
  argv.push_back(collector().address());
  for (const std::string& f : testing::PlaintextFlags(BinPath("sondectl"))) {
    argv.push_back(f);
  }
  return testing::RunCommand(argv, output, seconds(30));
}

double Scenario::ReportTime(const std::string& what, const std::string& scenario,
                            absl::Time fault_on, absl::Time detected) {
  const double s = Secs(detected - fault_on);
  std::cout << "[ " << what << " ] " << scenario << " " << absl::StrFormat("%.1f", s) << std::endl;
  ::testing::Test::RecordProperty(
      absl::StrCat(absl::StrReplaceAll(what, {{" ", "_"}}), ".", scenario),
      absl::StrFormat("%.1f", s));
  return s;
}

void Scenario::ReportDetectionPath(const std::string& scenario, const std::string& check,
                                   const std::string& incident_id, absl::Time fault_on,
                                   absl::Time detected) {
  const std::string t0 = PgTime(fault_on);
  auto after = [&](const std::string& column) {
    return absl::StrCat("round((extract(epoch FROM ", column, " - ", t0, ")), 3)");
  };
  // The first three failing runs per region: when each started, ended and
  // was stored.
  const testing::Db::Rows rows = Query(absl::StrCat(
      "SELECT region, ", after("started_at"), ", ",
      after("started_at + total_us * interval '1 microsecond'"), ", ", after("received_at"),
      // The commit itself, where the server keeps commit times
      // (track_commit_timestamp = on; off in the shipped test cluster).
      ", CASE WHEN current_setting('track_commit_timestamp') = 'on' THEN ",
      after("pg_xact_commit_timestamp(x)"), "::text ELSE '-' END",
      " FROM (SELECT *, xmin AS x, row_number() OVER (PARTITION BY region ORDER BY started_at) AS n"
      " FROM results WHERE check_id = ",
      SqlQuote(check), " AND NOT ok AND started_at >= ", t0,
      ") f WHERE n <= 3 ORDER BY region, started_at"));
  double worst_lag = 0;
  for (const auto& r : rows) {
    double ended = 0, stored = 0;
    if (absl::SimpleAtod(r[2], &ended) && absl::SimpleAtod(r[3], &stored)) {
      worst_lag = std::max(worst_lag, stored - ended);
    }
    std::cout << "[ detection path ] " << scenario << " " << r[0] << " failing run: started "
              << r[1] << " ended " << r[2] << " stored " << r[3] << " committed " << r[4]
              << std::endl;
  }
  const testing::Db::Rows opened = Query(absl::StrCat(
      "SELECT ", after("i.opened_at"), ", coalesce((SELECT ", after("min(o.created_at)"),
      " FROM outbox o WHERE o.incident_id = i.id AND o.event = 'OPENED')::text, '-')"
      " FROM incidents i WHERE i.id = ",
      SqlQuote(incident_id)));
  for (const auto& r : opened) {
    std::cout << "[ detection path ] " << scenario << " opened_at " << r[0] << " recorded " << r[1]
              << " seen " << absl::StrFormat("%.3f", Secs(detected - fault_on)) << std::endl;
  }
  // The timeline up to the first sight: what the detector decided (event
  // time) and when it was committed (where the server keeps commit times).
  const testing::Db::Rows events = Query(absl::StrCat(
      "SELECT kind, incident_kind, ", after("at"),
      ", CASE WHEN current_setting('track_commit_timestamp') = 'on' THEN ",
      after("pg_xact_commit_timestamp(xmin)"),
      "::text ELSE '-' END FROM incident_events WHERE incident_id = ", SqlQuote(incident_id),
      " AND at <= ", PgTime(detected), " ORDER BY id"));
  for (const auto& r : events) {
    std::cout << "[ detection path ] " << scenario << " event " << r[0] << " " << r[1] << " at "
              << r[2] << " committed " << r[3] << std::endl;
  }
  ::testing::Test::RecordProperty(absl::StrCat("ingest_lag.", scenario),
                                  absl::StrFormat("%.3f", worst_lag));
}

void Scenario::DumpOnFailure() {
  if (!::testing::Test::HasFailure()) {
    return;
  }
  scratch_->Keep();
  std::cerr << "logs kept in " << scratch_->path() << "\n";
  if (db_ != nullptr) {
    std::cerr << "--- incidents\n" << DescribeIncidents();
  }
  if (webhook_ != nullptr) {
    std::cerr << "--- webhook deliveries\n" << webhook_->Describe();
  }
  for (size_t i = 0; i < collectors_.size(); ++i) {
    std::cerr << "--- collector" << (i == 0 ? "" : absl::StrCat(" ", i + 1)) << "\n"
              << Tail(collectors_[i]->Log(), 6000) << "\n";
  }
  for (const auto& p : probers_) {
    std::cerr << "--- prober " << p->options().id << "\n" << Tail(p->Log(), 1500) << "\n";
  }
  if (faultd_ != nullptr) {
    std::cerr << "--- faultd\n" << Tail(faultd_->Log(), 1500) << "\n";
  }
}

}  // namespace sonde::scenarios
