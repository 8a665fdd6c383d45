// sonde-collector: receives probe results over gRPC, stores them in
// PostgreSQL, pushes each prober its checks and answers availability queries.
// This file is the command line and the process's signal handling; the
// collector itself is CollectorServer (collector/server.h).
//
// Threads: main (start-up, then waits for the stop signal and shuts down),
// one signal thread (sigwait: SIGHUP reloads the config, SIGTERM/SIGINT
// stop), gRPC's handler threads, and a watchdog during shutdown. Signals are
// blocked before any thread starts, so only the signal thread sees them.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/detect/options.h"
#include "collector/server.h"
#include "collector/storage/migrate_command.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/config/config.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/process_defaults.h"
#include "common/systemd/notify.h"
#include "common/version/version.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

constexpr char kProgram[] = "sonde-collector";
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// In-flight batches get kDrainTime to commit; past kShutdownLimit the
// process exits anyway (nothing acked is lost: acks follow commits).
constexpr absl::Duration kDrainTime = absl::Seconds(3);
constexpr absl::Duration kShutdownLimit = absl::Milliseconds(4500);

constexpr char kUsage[] =
    R"txt(usage: sonde-collector --postgres CONNINFO [--config sonde.yaml] [--listen HOST:PORT]
       sonde-collector migrate [--dry-run] --postgres CONNINFO

The Sonde collector. Probers in every region stream their probe results to it
(gRPC Ingest.Report); it stores each batch in PostgreSQL in one transaction
(deduplicated by prober and batch number) and acks it only after the commit.
It pushes each prober the checks of its region from the config file
(ConfigService.Watch) and answers availability queries from per-minute
rollups (Query.Availability, used by `sondectl report`).

With --config it also runs detection: every stored result feeds an in-memory
detector that opens, reclassifies and resolves incidents (docs/detection.md),
stored with their timeline in PostgreSQL. Notifications (webhook,
Alertmanager, e-mail; docs/notifications.md) go through an outbox table and
are repeated until someone acknowledges (`sondectl ack ID` or the HTTP API).

At start it applies the database migrations (safe with several collectors
starting at once). If PostgreSQL is unreachable it keeps retrying with
backoff and logs every attempt.

The config file is watched: an edit (or SIGHUP) reloads it at once; a bad
file is logged and the previous config stays in force. SIGTERM or SIGINT
stop it: in-flight batches get 3 s to commit, then it exits 0 (an acked batch
is always committed).

`sonde-collector migrate` applies the pending migrations and exits (with
--dry-run it only lists them): the upgrade step to run before restarting the
collectors. A collector refuses to start on a schema newer than it knows.

Under systemd (Type=notify) it reports READY=1 once migrated and listening,
WATCHDOG=1 at half of WatchdogSec and STOPPING=1 when it begins to stop.

Exit status: 0 clean stop, 1 operational failure (cannot listen, database
schema error), 2 usage error (bad flag, bad config file, bad connection string).

Example:
  sonde-collector --postgres 'host=127.0.0.1 port=5432 user=sonde dbname=sonde' \
      --config /etc/sonde/sonde.yaml --listen 0.0.0.0:7600)txt";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
  if (!absl::StrContains(message, "--help")) {
    std::fprintf(stderr, "(see %s --help)\n", kProgram);
  }
  return kExitUsage;
}

absl::Status ValidateListen(const std::string& listen) {
  // Port 0 (any free port) is allowed; the chosen port is logged.
  std::string text = listen;
  if (absl::EndsWith(text, ":0")) {
    text = text.substr(0, text.size() - 2) + ":1";
  }
  absl::StatusOr<common::HostPort> hp = common::ParseHostPort(text, -1);
  if (!hp.ok()) {
    return hp.status();
  }
  if (hp->port < 0) {
    return absl::InvalidArgumentError(absl::StrCat("\"", listen, "\": needs a port (HOST:PORT)"));
  }
  return absl::OkStatus();
}

// Owns the signal thread: SIGHUP runs `reload`, the first SIGTERM/SIGINT
// notifies stop_requested(), a second one exits at once. SIGUSR1 is
// internal: the destructor uses it to end the thread.
class SignalThread {
 public:
  SignalThread(const sigset_t& set, std::function<void()> reload)
      : set_(set), reload_(std::move(reload)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SignalThread() {
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  absl::Notification* stop_requested() { return &stop_requested_; }

 private:
  void Run() {
    while (!done_.load()) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) {
        continue;
      }
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading the config");
        reload_();
      } else if (sig == SIGTERM || sig == SIGINT) {
        if (stop_requested_.HasBeenNotified()) {
          spdlog::warn("second {}: exiting immediately", strsignal(sig));
          std::_Exit(kExitFailure);
        }
        spdlog::info("{}: stopping", strsignal(sig));
        stop_requested_.Notify();
      }
    }
  }

  const sigset_t set_;
  const std::function<void()> reload_;
  std::atomic<bool> done_{false};
  absl::Notification stop_requested_;
  std::thread thread_;
};

int Main(int argc, char** argv) {
  // Before any thread exists (gRPC starts its own): only the signal thread
  // may receive these.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CollectorOptions options;
  common::FlagSet flags(kProgram, kUsage);
  flags.String("listen", &options.listen,
               "Address for gRPC (ingest, config, query): HOST:PORT. Port 0 picks a "
               "free port\n(logged). Use 0.0.0.0:7600 to accept probers from other "
               "hosts.");
  flags.String("postgres", &options.postgres,
               "libpq connection string or URI of the PostgreSQL database, "
               "e.g.\n'host=127.0.0.1 port=5432 user=sonde dbname=sonde'. "
               "Required; the\nenvironment variable SONDE_POSTGRES is used "
               "when the flag is absent.");
  flags.String("config", &options.config_path,
               "The Sonde YAML config (regions, checks, notifiers). Validated "
               "at start (an\ninvalid file is an error, nothing starts) and "
               "reloaded on SIGHUP. Without\nit, probers get no checks from "
               "this collector.");
  AuthOptions auth_options;
  flags.String("tls-cert", &auth_options.tls_cert,
               "Server certificate (PEM) for gRPC over TLS; with --tls-key.");
  flags.String("tls-key", &auth_options.tls_key, "Private key of --tls-cert (PEM).");
  flags.String("tls-client-ca", &auth_options.tls_client_ca,
               "CA (PEM) that signs prober certificates: enables mTLS. A prober's\n"
               "certificate names it (CN = prober id, OU = region) and it may only send\n"
               "results for that region. deploy/certs/make-certs.sh makes them.");
  flags.String("tokens", &auth_options.tokens_file,
               "YAML file of bearer tokens: `probers: [{token, prober_id, region}]` (the\n"
               "weaker alternative to certificates) and `query: [{name, token, scopes}]`\n"
               "for sondectl, dashboards and /metrics (scopes read, ack, admin; a plain\n"
               "TOKEN string means read+ack). With --tls-* or --tokens, queries need a\n"
               "query token. Reloaded on SIGHUP and when edited; a bad file keeps the old.");
  flags.Bool("insecure", &auth_options.insecure,
             "Serve plaintext gRPC without any authentication. Without TLS or tokens\n"
             "every listener (--listen, --http-listen, --metrics-listen) must be a\n"
             "loopback address unless this flag is given.");
  flags.String("http-listen", &options.http_listen,
               "Serve the HTTP API on HOST:PORT: GET /api/v1/incidents[/ID],\n"
               "POST /api/v1/incidents/ID/ack (query token as Bearer when tokens are on:\n"
               "read scope to read, ack scope to acknowledge). Not loopback: needs --tokens\n"
               "or --insecure.");
  int64_t pg_max_connections = static_cast<int64_t>(options.pool.max_open);
  flags.Int("pg-max-connections", &pg_max_connections,
            "Most PostgreSQL connections ingest and queries hold at once (1..1000); a\n"
            "stream waits for a free one rather than opening another. Detection,\n"
            "notifications and the incident API use one more each.");
  pg::SessionLimits pg_limits;
  flags.Duration("pg-statement-timeout", &pg_limits.statement_timeout,
                 "PostgreSQL's statement_timeout on every collector connection (>= 1s). The\n"
                 "collector waits 5 s longer for an answer, then drops the connection and\n"
                 "answers UNAVAILABLE (HTTP 503): a PostgreSQL that stops answering blocks\n"
                 "nothing for longer.");
  flags.Duration("max-future-skew", &options.ingest.max_future_skew,
                 "Results dated more than this after the collector's clock are refused (one\n"
                 "by one; the rest of the batch is stored) and counted in\n"
                 "sonde_ingest_results_refused_total{reason=\"future\"}.");
  int64_t max_streams = options.ingest.max_streams_per_prober;
  flags.Int("max-streams-per-prober", &max_streams,
            "Ingest streams one prober identity (certificate, token, or claimed id when\n"
            "open) may hold at once (1..1000); another gets RESOURCE_EXHAUSTED.");
  std::string metrics_listen;
  flags.String("metrics-listen", &metrics_listen,
               "Serve Prometheus metrics at http://HOST:PORT/metrics (ingest, detection,\n"
               "notification counters and per check x region series; docs/metrics.md). With\n"
               "--tokens a read-scope token is required. Not loopback: needs --tokens or\n"
               "--insecure.");
  int64_t metrics_max_check_regions = static_cast<int64_t>(options.metrics_max_check_regions);
  flags.Int("metrics-max-check-regions", &metrics_max_check_regions,
            "Most check x region pairs with per-check series on /metrics (1..1000000);\n"
            "results of further pairs are counted in\n"
            "sonde_check_metrics_dropped_results_total{reason=\"limit\"}.");
  flags.Duration("max-connection-age", &options.max_connection_age,
                 "Close each gRPC connection after this long (+-10 %; its streams get 10 s\n"
                 "more), so probers that failed over to another collector replica spread\n"
                 "again once this one is back; they reconnect at once, nothing is lost.\n"
                 "0 = never (one collector). Default 10m.");
  flags.String("replica-id", &options.replica_id,
               "This collector replica's name among the replicas sharing the database\n"
               "(collector_members; sondectl status --collectors). Default: HOST:PORT.");
  flags.Bool("cluster", &options.cluster,
             "Cluster mode (docs/ha.md): this replica takes detection shards under leases\n"
             "in PostgreSQL with the other --cluster replicas (live, same config version)\n"
             "and detects only the services of its shards; incident and notification\n"
             "writes are fenced by the leases. Needs --config. Without it the collector\n"
             "detects every check (one collector).");
  bool dry_run = false;
  flags.Bool("dry-run", &dry_run, "With `migrate`: list the pending migrations, apply nothing.");
  common::DaemonFlags daemon;
  daemon.Register(&flags);
  absl::StatusOr<std::vector<std::string>> args = flags.Parse(argc, argv);
  if (!args.ok()) {
    return UsageError(std::string(args.status().message()));
  }
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return kExitOk;
  }
  if (daemon.version) {
    std::printf("%s\n", common::VersionLine(kProgram).c_str());
    return kExitOk;
  }
  const bool migrate = !args->empty() && (*args)[0] == "migrate";
  if (args->size() > (migrate ? 1u : 0u)) {
    return UsageError(absl::StrCat("unexpected argument \"", args->back(), "\""));
  }
  if (dry_run && !migrate) {
    return UsageError("--dry-run goes with `migrate`");
  }
  absl::StatusOr<common::LogFormat> format = common::ParseLogFormat(daemon.log_format);
  if (!format.ok()) {
    return UsageError(absl::StrCat("--log-format: ", format.status().message()));
  }
  if (absl::Status st = ValidateListen(options.listen); !st.ok()) {
    return UsageError(absl::StrCat("--listen: ", st.message()));
  }
  if (pg_max_connections < 1 || pg_max_connections > 1000) {
    return UsageError("--pg-max-connections: must be 1..1000");
  }
  options.pool.max_open = static_cast<size_t>(pg_max_connections);
  if (pg_limits.statement_timeout < absl::Seconds(1)) {
    return UsageError("--pg-statement-timeout: must be at least 1s");
  }
  pg::SetSessionLimits(pg_limits);
  if (options.ingest.max_future_skew < absl::ZeroDuration()) {
    return UsageError("--max-future-skew: must not be negative");
  }
  if (options.max_connection_age != absl::ZeroDuration() &&
      (options.max_connection_age < absl::Seconds(10) ||
       options.max_connection_age > absl::Hours(24 * 24))) {
    return UsageError("--max-connection-age: must be 0 or 10s..24 days");
  }
  if (options.cluster && options.config_path.empty()) {
    return UsageError("--cluster: needs --config (replicas detect on the one config version)");
  }
  if (max_streams < 1 || max_streams > 1000) {
    return UsageError("--max-streams-per-prober: must be 1..1000");
  }
  options.ingest.max_streams_per_prober = static_cast<int>(max_streams);
  if (metrics_max_check_regions < 1 || metrics_max_check_regions > 1'000'000) {
    return UsageError("--metrics-max-check-regions: must be 1..1000000");
  }
  options.metrics_max_check_regions = static_cast<size_t>(metrics_max_check_regions);
  if (options.postgres.empty()) {
    if (const char* env = std::getenv("SONDE_POSTGRES"); env != nullptr) {
      options.postgres = env;
    }
  }
  if (options.postgres.empty()) {
    return UsageError("--postgres is required (or set SONDE_POSTGRES)");
  }
  if (absl::Status st = Store::ValidateConnInfo(options.postgres); !st.ok()) {
    return UsageError(absl::StrCat("--postgres: ", st.message()));
  }
  if (migrate) {
    return RunMigrateCommand(options.postgres, dry_run);
  }
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Create(auth_options, options.listen);
  if (!auth.ok()) {
    return UsageError(std::string(auth.status().message()));
  }
  // Every listener follows the loopback-only rule, not only --listen.
  if (absl::Status st = (*auth)->CheckListener("--http-listen", options.http_listen); !st.ok()) {
    return UsageError(std::string(st.message()));
  }
  if (absl::Status st = (*auth)->CheckListener("--metrics-listen", metrics_listen); !st.ok()) {
    return UsageError(std::string(st.message()));
  }
  Authenticator* const authenticator = auth->get();
  v1::Config config;
  if (!options.config_path.empty()) {
    absl::StatusOr<v1::Config> loaded = common::LoadConfigFile(options.config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s: invalid config, not starting:\n%s\n", kProgram,
                   std::string(loaded.status().message()).c_str());
      return kExitUsage;
    }
    config = *std::move(loaded);
    if (absl::Status st = detect::WithConfig({}, config.detection()).Validate(); !st.ok()) {
      std::fprintf(stderr, "%s: invalid config, not starting:\n%s: detection: %s\n", kProgram,
                   options.config_path.c_str(), std::string(st.message()).c_str());
      return kExitUsage;
    }
  }

  common::InitLogging(kProgram, daemon.log_level, *format);
  spdlog::info("{}", common::VersionLine(kProgram));
  if (options.config_path.empty()) {
    spdlog::warn("no --config: probers that watch this collector get no checks");
  } else {
    spdlog::info("config {}: {} checks, {} regions", options.config_path, config.checks_size(),
                 config.regions_size());
  }
  spdlog::info("access: {}", (*auth)->Describe());
  CollectorServer server(options, std::move(config));
  server.set_authenticator(authenticator);
  SignalThread signal_thread(signals, [&server, authenticator] {
    server.ReloadConfig().IgnoreError();          // logged; the old config stays
    authenticator->ReloadTokens().IgnoreError();  // logged; the old tokens stay
  });

  if (absl::Status st = server.PrepareDatabase(signal_thread.stop_requested()); !st.ok()) {
    if (absl::IsCancelled(st)) {
      spdlog::info("{}", std::string(st.message()));
      return kExitOk;
    }
    spdlog::error("cannot prepare the database schema: {}", std::string(st.message()));
    return kExitFailure;
  }
  if (absl::Status st = server.Start(); !st.ok()) {
    spdlog::error("{}", std::string(st.message()));
    return kExitFailure;
  }
  server.WatchConfigFile(absl::Seconds(2));
  authenticator->WatchTokensFile(absl::Seconds(2));

  common::MetricsServer metrics;
  if (authenticator->has_tokens()) {
    metrics.set_gate([authenticator](const std::string& authorization) {
      return authenticator->Authorize(Authenticator::BearerToken(authorization), Scope::kRead)
          .status();
    });
  }
  if (!metrics_listen.empty()) {
    absl::Status st = metrics.Start(metrics_listen, [&server, authenticator] {
      const IngestCounters& c = server.ingest_counters();
      common::MetricsText m;
      m.Add("sonde_ingest_streams_opened_total", "counter", "Ingest streams opened.",
            c.streams_opened.load());
      m.Add("sonde_ingest_streams_refused_total", "counter",
            "Ingest streams refused for bad or missing credentials.", c.streams_refused.load());
      m.Add("sonde_ingest_streams_active", "gauge", "Ingest streams open now.",
            c.streams_active.load());
      m.Add("sonde_ingest_batches_stored_total", "counter", "Batches committed and acked.",
            c.batches_stored.load());
      m.Add("sonde_ingest_results_stored_total", "counter", "Results committed.",
            c.results_stored.load());
      m.Add("sonde_ingest_batches_duplicate_total", "counter",
            "Batches received again and acked without storing them twice.",
            c.batches_duplicate.load());
      m.Add("sonde_ingest_batches_invalid_total", "counter", "Batches refused as malformed.",
            c.batches_invalid.load());
      m.Add("sonde_ingest_results_normalized_total", "counter",
            "Results whose failure class or ok ingest corrected (unset class, or ok "
            "disagreeing with the class).",
            c.results_normalized.load());
      m.Add("sonde_ingest_store_errors_total", "counter",
            "Failed attempts to store a batch (a batch waiting for PostgreSQL counts each retry).",
            c.store_errors.load());
      m.Add("sonde_auth_token_reloads_total", "counter", "Tokens file reloads that took effect.",
            authenticator->token_reloads());
      m.Add("sonde_auth_token_reload_failures_total", "counter",
            "Tokens file reloads refused (the previous tokens stay in force).",
            authenticator->token_reload_failures());
      m.Add("sonde_ingest_streams_over_cap_total", "counter",
            "Ingest streams refused because their prober held --max-streams-per-prober.",
            c.streams_over_cap.load());
      m.AddSamples("sonde_ingest_results_refused_total", "counter",
            "Results dropped from their batch: dated after now + --max-future-skew "
            "(future) or outside 0001..9999 (time_range).",
            {{"reason=\"future\"", c.results_refused_future.load()},
             {"reason=\"time_range\"", c.results_refused_time_range.load()}});
      m.Add("sonde_ingest_results_truncated_total", "counter",
            "Results whose text ingest cut to its caps (detail 4 KiB, other fields 1 KiB).",
            c.results_truncated.load());
      const StorePool& pool = server.pool();
      m.Add("sonde_pg_pool_connections", "gauge",
            "PostgreSQL connections the ingest/query pool holds open.", pool.open_count());
      m.Add("sonde_pg_pool_waiting", "gauge", "Callers waiting for a pooled PostgreSQL connection.",
            pool.waiting_count());
      m.Add("sonde_pg_pool_max_connections", "gauge", "--pg-max-connections.",
            pool.limits().max_open);
      m.Add("sonde_ingest_waiting_for_database", "gauge",
            "1 while ingest streams are held unread because PostgreSQL cannot commit.",
            c.streams_waiting_for_database.load() > 0 ? 1 : 0);
      server.AppendMetrics(&m);
      return m.text();
    });
    if (!st.ok()) {
      spdlog::error("{}", std::string(st.message()));
      return kExitFailure;
    }
    spdlog::info("metrics on http://{}/metrics", metrics_listen);
  }
  common::NotifyReady(absl::StrCat("serving gRPC on port ", server.port()));
  // The main thread is otherwise idle: it tells the watchdog we are alive
  // (a wedged process stops answering the signal thread too).
  while (!signal_thread.stop_requested()->WaitForNotificationWithTimeout(
      std::min(common::WatchdogInterval(), absl::Seconds(60)))) {
    common::NotifyWatchdog();
  }
  common::NotifyStopping();
  const absl::Time stop_start = absl::Now();
  absl::Notification stopped;
  std::thread watchdog([&stopped] {
    if (!stopped.WaitForNotificationWithTimeout(kShutdownLimit)) {
      spdlog::error(
          "shutdown is taking longer than {}; exiting now (probers resend "
          "what was not acked)",
          absl::FormatDuration(kShutdownLimit));
      std::_Exit(kExitFailure);
    }
  });
  server.Shutdown(kDrainTime);
  stopped.Notify();
  watchdog.join();
  const IngestCounters& c = server.ingest_counters();
  spdlog::info(
      "stopped in {} ms: {} streams served, {} batches stored ({} results), "
      "{} duplicates, {} invalid, {} store errors",
      absl::ToInt64Milliseconds(absl::Now() - stop_start), c.streams_opened.load(),
      c.batches_stored.load(), c.results_stored.load(), c.batches_duplicate.load(),
      c.batches_invalid.load(), c.store_errors.load());
  return kExitOk;
}

}  // namespace
}  // namespace sonde::collector

int main(int argc, char** argv) {
  sonde::common::ApplyProcessDefaults();
  return sonde::collector::Main(argc, argv);
}
