// The scenario harness: one Sonde installation on loopback per test --
// sonde-faultd as every target (HTTP, HTTPS, TCP, DNS), a private
// PostgreSQL, sonde-collector with a YAML config (detection and
// notification on), three sonde-probers as regions fra/ams/ber bound to
// 127.0.0.2/.3/.4 -- plus an in-test webhook receiver that records every
// notification and can be told to refuse them. The scenario tests
// (stories_test.cc, noise_test.cc) switch faults on through faultd's control
// endpoint and assert on what Sonde stored (tables `results`, `incidents`,
// `incident_events`, `outbox`) and what reached the receiver.
//
// Every port is picked free and every file lives in one ScratchDir, so two
// scenarios can run at once (ctest -j2). Ownership: a Scenario owns its
// processes (killed in its destructor) and its receiver. Not thread-safe:
// one test thread drives a Scenario; only WebhookReceiver is safe to read
// while its server thread records.
#ifndef SONDE_TESTS_SCENARIOS_SCENARIO_HARNESS_H_
#define SONDE_TESTS_SCENARIOS_SCENARIO_HARNESS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"

namespace httplib {
class Server;
}

namespace sonde::scenarios {

// One host plays three regions: each prober binds its probes (and its DNS
// queries) to its own loopback address, and faultd rules match on it.
struct Site {
  const char* region;
  const char* source_address;
};
inline constexpr Site kSites[] = {{"fra", "127.0.0.2"}, {"ams", "127.0.0.3"}, {"ber", "127.0.0.4"}};

// sonde-faultd with http, https, tcp, dns and control listeners on
// 127.0.0.1:0, its CA written for the probes' ca_file.
class FaultTarget {
 public:
  struct Options {
    std::string rules_json;               // rules at start ("" = none)
    std::vector<std::string> cert_names;  // extra SAN names of the certificates
  };
  explicit FaultTarget(std::string dir);
  FaultTarget(const FaultTarget&) = delete;
  FaultTarget& operator=(const FaultTarget&) = delete;

  absl::Status Start(const Options& options);
  // Port of a listener ("http", "https", "tcp", "dns", "control"); 0 if off.
  int port(const std::string& listener) const;
  // "127.0.0.1:PORT" of the DNS listener, for a check's `resolvers`.
  std::string resolver() const;
  const std::string& ca_file() const { return ca_file_; }
  // Replaces every rule (PUT /rules). Returns the moment the request was
  // sent: when the new world starts, for time-to-detect.
  absl::StatusOr<absl::Time> PutRules(const std::string& rules_json);
  // GET /stats.
  absl::StatusOr<std::string> Stats();
  std::string Log() const;

 private:
  std::string dir_;
  std::string ca_file_;
  std::map<std::string, int> ports_;
  std::unique_ptr<testing::Process> process_;
};

// One notification as the receiver saw it.
struct Delivery {
  absl::Time received_at;
  std::string path;           // "/hook", "/escalate", ...
  int answered = 0;           // the status the receiver answered
  std::string event;          // X-Sonde-Event header
  std::string delivery_id;    // X-Sonde-Delivery header
  int peer_port = 0;          // the sender's TCP port on 127.0.0.1 (who sent it)
  bool signature_ok = false;  // X-Sonde-Signature t=<unix>,v1=HMAC(secret, "<t>.<body>")
  std::string body;
  bool json_ok = false;  // body parsed as the version-1 document
  // From the body:
  int version = 0;
  std::string body_event;  // "event"
  std::string notifier;
  absl::Time created_at = absl::InfinitePast();
  std::string incident_id;  // incident.id ("" for HEARTBEAT)
  std::string incident_kind;
  std::string incident_service;
  std::string incident_status;
  std::vector<std::string> incident_regions;
};

// An HTTP server on 127.0.0.1 (free port) that records every POST and
// answers `answer_status` (200 by default). Start() runs it on its own
// thread; every accessor may be called from the test thread meanwhile.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::string secret);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  // http://127.0.0.1:PORT<path>
  std::string Url(const std::string& path) const;
  // What to answer from now on: 200 accepts, e.g. 500 refuses.
  void SetAnswerStatus(int status);
  // Holds the answer to the next delivery matching `match` (recorded on
  // arrival) until ReleaseHeld(): its sender waits, its delivery in flight.
  void HoldNext(std::function<bool(const Delivery&)> match);
  // The held delivery, once it arrived (within `timeout`).
  std::optional<Delivery> WaitForHeld(std::chrono::milliseconds timeout) const;
  // Answers the held delivery (Stop() does too).
  void ReleaseHeld();

  std::vector<Delivery> deliveries() const;
  // Deliveries the receiver accepted (answered 2xx), optionally filtered.
  std::vector<Delivery> Accepted(const std::function<bool(const Delivery&)>& match = nullptr) const;
  // Waits for the first delivery (accepted or not, as `accepted_only` says)
  // matching `match`, arrived at or after `since`.
  std::optional<Delivery> WaitFor(const std::function<bool(const Delivery&)>& match,
                                  std::chrono::milliseconds timeout, bool accepted_only = true,
                                  absl::Time since = absl::InfinitePast()) const;
  // One line per delivery, for failure messages.
  std::string Describe() const;

 private:
  std::string secret_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  int answer_status_ ABSL_GUARDED_BY(mu_) = 200;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  std::function<bool(const Delivery&)> hold_match_ ABSL_GUARDED_BY(mu_);
  std::optional<Delivery> held_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// A row of `incidents`.
struct IncidentRow {
  std::string id, kind, severity, service;
  std::vector<std::string> checks, regions, hosts;
  std::string protocol, failure_class;
  double failing_share = 0;
  std::string latency_phase;
  double latency_p95_ms = 0, latency_baseline_p95_ms = 0;
  int affected_targets = 0, recovered_targets = 0;
  std::string evidence;
  absl::Time opened_at, resolved_at = absl::InfinitePast(), acknowledged_at = absl::InfinitePast();
  bool in_maintenance = false;
  bool open() const { return resolved_at == absl::InfinitePast(); }
  std::string ToString() const;
};

// A row of `incident_events`.
struct EventRow {
  int64_t id = 0;
  std::string incident_id;
  absl::Time at;
  std::string kind, incident_kind;
  std::vector<std::string> regions;
  int affected_targets = 0, recovered_targets = 0;
  double failing_share = 0;
  std::string detail;
  std::string ToString() const;
};

// A Sonde config in YAML. Checks and notifiers are YAML flow mappings as
// the config file would hold them. There is deliberately no `detection:`
// block: the stories run with the shipped detection defaults (issue 11);
// only check intervals and timeouts (Defaults, per check) differ.
class ScenarioConfig {
 public:
  ScenarioConfig();
  ScenarioConfig& Defaults(const std::string& interval, const std::string& timeout);
  // "{name: x, service: s, http: {url: 'http://...'}}"
  ScenarioConfig& Check(const std::string& flow_mapping);
  // "{name: oncall, webhook: {url: ..., secret: s}, repeat_every: 10s}"
  ScenarioConfig& Notifier(const std::string& flow_mapping);
  // A top-level block as the file would hold it ("status_page:\n  ..."),
  // never `detection:`.
  ScenarioConfig& Block(const std::string& yaml);
  std::string Yaml() const;

 private:
  std::string interval_ = "2s", timeout_ = "1s";
  std::vector<std::string> checks_, notifiers_, blocks_;
};

class Scenario {
 public:
  // `name` names the scratch directory and the TTD line.
  explicit Scenario(std::string name);
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  // PostgreSQL, faultd and the webhook receiver (secret kWebhookSecret).
  absl::Status StartTargets(const FaultTarget::Options& faultd);
  // Writes the config and starts the collector (--config, --http-listen
  // when it has that flag) and one prober per site on the central config.
  // Waits until every prober's results arrive. With `replicas` > 1 that
  // many collectors share the one PostgreSQL (docs/ha.md), every prober is
  // given all of them in the same order (--collector a,b,c), and only the
  // first has the HTTP API. `detection` kSharded starts every replica with
  // --cluster (sharded detection under leases, docs/ha.md) and
  // --replica-id replica-<n> (n = index in collectors() + 1, the `owner` of
  // its rows in shard_leases).
  enum class Detection { kEveryReplica, kSharded };
  absl::Status StartSonde(const ScenarioConfig& config, int replicas = 1,
                          Detection detection = Detection::kEveryReplica);

  static constexpr char kWebhookSecret[] = "scenario-secret";

  const std::string& name() const { return name_; }
  testing::ScratchDir& scratch() { return *scratch_; }
  testing::Db& db() { return *db_; }
  // The PostgreSQL connection string (for a second session of the test's own).
  std::string conninfo() const;
  FaultTarget& faultd() { return *faultd_; }
  WebhookReceiver& webhook() { return *webhook_; }
  testing::Collector& collector() { return *collectors_.front(); }
  // Every replica, the first one first (StartSonde's `replicas`).
  std::vector<std::unique_ptr<testing::Collector>>& collectors() { return collectors_; }
  // The written config file (after StartSonde).
  std::string config_path() const { return scratch_->Path("sonde.yaml"); }
  std::vector<std::unique_ptr<testing::Prober>>& probers() { return probers_; }
  std::vector<std::string> prober_ids() const;
  // The collector's --http-listen address, "" when it has no such flag.
  const std::string& http_api() const { return http_api_; }

  // --- incidents ------------------------------------------------------------
  std::vector<IncidentRow> Incidents(const std::string& where = "true");
  std::vector<EventRow> Events(const std::string& incident_id);
  // Polls `incidents` every 100 ms until a row matches; `*seen_at` (if
  // given) is when the row was first seen.
  std::optional<IncidentRow> WaitForIncident(const std::function<bool(const IncidentRow&)>& match,
                                             std::chrono::milliseconds timeout,
                                             absl::Time* seen_at = nullptr);
  // Polls `incident_events` of an incident until an event matches.
  std::optional<EventRow> WaitForEvent(const std::string& incident_id,
                                       const std::function<bool(const EventRow&)>& match,
                                       std::chrono::milliseconds timeout);
  // Every incident and its events, for failure messages.
  std::string DescribeIncidents();

  // --- results ------------------------------------------------------------
  // Rows of `sql`; a failed query fails the calling test.
  testing::Db::Rows Query(const std::string& sql);
  int64_t Int(const std::string& sql);
  // Waits until every prober stored a result that started after `t`.
  bool WaitForResultsAfter(absl::Time t, std::chrono::milliseconds timeout);

  // --- tools ----------------------------------------------------------------
  // Runs sondectl with `args` + --collector + the plaintext flag.
  int Sondectl(std::vector<std::string> args, std::string* output);

  // Prints "[ <what> ] <scenario> <seconds>" (what = "time to detect" or
  // e.g. "time to notify") and records it as a test property; returns the
  // seconds from `fault_on` to `detected`.
  double ReportTime(const std::string& what, const std::string& scenario, absl::Time fault_on,
                    absl::Time detected);

  // Where the time to detect went, from stored rows (no log text): per
  // region, the failing results of `check` that started after `fault_on`
  // (probe end = started_at + total_us, stored = results.received_at, the
  // ingest transaction's start), then the incident's opened_at (the
  // detector's event time), its OPENED outbox row's created_at (the
  // recording transaction's start) and `detected` (the test's first sight).
  // Prints one "[ detection path ] ..." line per stage, seconds after
  // `fault_on`, and records the stored-minus-ended lag as a property.
  void ReportDetectionPath(const std::string& scenario, const std::string& check,
                           const std::string& incident_id, absl::Time fault_on,
                           absl::Time detected);

  // On failure: keeps the scratch dir and prints the logs' tails.
  void DumpOnFailure();

 private:
  std::string name_;
  std::unique_ptr<testing::ScratchDir> scratch_;
  std::unique_ptr<testing::Postgres> pg_;
  std::unique_ptr<testing::Db> db_;
  std::unique_ptr<FaultTarget> faultd_;
  std::unique_ptr<WebhookReceiver> webhook_;
  std::vector<std::unique_ptr<testing::Collector>> collectors_;
  std::vector<std::unique_ptr<testing::Prober>> probers_;
  std::string http_api_;
  absl::Time started_;
};

// faultd rules and config entries the scenarios share.
// Every name below `domain` answers 127.0.0.1 with a 1 s TTL (a resolver
// change shows at the next run).
std::string Zone(const std::string& domain);
// The rules as a JSON list; names no rule knows are NXDOMAIN, as on the
// internet (faultd's default would be REFUSED).
std::string Rules(const std::vector<std::string>& rules);
// An HTTP check resolving through `resolver`; `extra` is appended to the
// http mapping (", requests_per_run: 3").
std::string HttpCheck(const std::string& name, const std::string& service, const std::string& url,
                      const std::string& resolver, const std::string& extra = "");
// A webhook notifier to the scenario's receiver at `path`.
std::string Webhook(Scenario& s, const std::string& name, const std::string& path,
                    const std::string& extra = "");

// Helpers for test code.
std::string PgTime(absl::Time t);  // '...'::timestamptz
std::string SqlQuote(const std::string& s);
bool Contains(const std::vector<std::string>& v, const std::string& s);
std::string Join(const std::vector<std::string>& v);
// Seconds since the epoch as a double, for messages.
double Secs(absl::Duration d);
// Sleeps until `t` (no-op if past).
void SleepUntil(absl::Time t);

}  // namespace sonde::scenarios

#endif  // SONDE_TESTS_SCENARIOS_SCENARIO_HARNESS_H_
