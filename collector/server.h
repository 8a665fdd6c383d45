// CollectorServer: one collector process's parts wired together: the
// StorePool, the ConfigHolder, the gRPC services and the grpc::Server, with
// the start-up and shutdown sequences main() runs.
//
// Owns everything it creates. Call order, from one thread (main): Prepare...
// -> Start -> Shutdown; ReloadConfig may be called from any thread at any
// time (the signal thread does, on SIGHUP). The gRPC handler threads belong
// to grpc::Server and are gone when Shutdown returns.
#ifndef SONDE_COLLECTOR_SERVER_H_
#define SONDE_COLLECTOR_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "collector/api/config_service.h"
#include "collector/api/http_api.h"
#include "collector/api/ingest_service.h"
#include "collector/api/query_service.h"
#include "collector/api/shard_status_board.h"
#include "collector/auth/auth.h"
#include "collector/cluster/members.h"
#include "collector/cluster/shard_ownership.h"
#include "collector/incidents/detection.h"
#include "collector/metrics/check_metrics.h"
#include "collector/metrics/slo_gauges.h"
#include "collector/notify/dispatcher.h"
#include "collector/storage/retention.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/file_watch.h"
#include "grpcpp/grpcpp.h"

namespace sonde::collector {

struct CollectorOptions {
  std::string listen = "127.0.0.1:7600";  // HOST:PORT; port 0 picks one
  std::string postgres;                   // libpq connection string
  std::string config_path;                // "" when no config file is used
  std::string http_listen;                // "" = no HTTP API
  PoolLimits pool;                        // --pg-max-connections
  IngestLimits ingest;                    // --max-future-skew, --max-streams-per-prober
  size_t metrics_max_check_regions = kDefaultMaxCheckRegions;  // --metrics-max-check-regions
  // --max-connection-age: gRPC closes a connection this old (after
  // kConnectionAgeGrace for its streams), so probers that failed over to
  // another replica spread again when this one returns (docs/ha.md).
  // Zero: never.
  absl::Duration max_connection_age = absl::Minutes(10);
  // --replica-id: this replica's name in collector_members; "" = HOST:PORT
  // (host name, bound port).
  std::string replica_id;
  // --cluster: detect only the shards this replica owns under their leases
  // (docs/ha.md); needs --config. Without it the collector detects every
  // check, as a single collector does.
  bool cluster = false;
};

class CollectorServer {
 public:
  // `config` is the already validated content of options.config_path.
  CollectorServer(CollectorOptions options, v1::Config config);
  ~CollectorServer();
  CollectorServer(const CollectorServer&) = delete;
  CollectorServer& operator=(const CollectorServer&) = delete;

  // Connects to PostgreSQL and applies the migrations, retrying with backoff
  // (1 s doubling to 30 s, one log line per attempt) while it is unreachable.
  // Returns OK when the schema is ready, CANCELLED when `stop` was notified
  // first, or the first error that retrying cannot fix.
  absl::Status PrepareDatabase(absl::Notification* stop);

  // Credentials and access rules for every call (null: open, plaintext).
  // Not owned; must outlive the server. Call before Start().
  void set_authenticator(const Authenticator* auth) { auth_ = auth; }

  // Starts detection (with a config: restores open incidents) and the
  // notification dispatcher, binds and starts serving gRPC and the HTTP
  // API. UNAVAILABLE when an address cannot be bound.
  absl::Status Start();
  // The bound port (after Start).
  int port() const { return port_; }

  // Re-reads options.config_path; a bad file is logged, counted
  // (sonde_config_reload_failures_total) and the current config stays.
  // Returns the load status. Thread-safe.
  absl::Status ReloadConfig();
  // Watches options.config_path (common::FileWatcher: inotify on its
  // directory, and its size, mtime, inode every `period`) and reloads when
  // it changed, as SIGHUP does: an edited file is loaded at once (a
  // 100,000-check file is in force within a second). Stopped by Shutdown.
  void WatchConfigFile(absl::Duration period);

  // Ends Watch streams, lets each ingest stream finish the batch it is
  // storing (acked batches are committed), and cancels what is left after
  // `drain`. Blocks until every handler has returned.
  void Shutdown(absl::Duration drain);

  const ConfigHolder& config() const { return holder_; }
  const IngestCounters& ingest_counters() const { return ingest_.counters(); }
  const StorePool& pool() const { return pool_; }
  // Config reload, detection and notification counters, open incidents,
  // the per check x region series and the SLO gauges for /metrics.
  void AppendMetrics(common::MetricsText* out) const;
  int http_port() const { return http_ != nullptr ? http_->port() : 0; }

 private:
  // This replica's row in collector_members, renewed every 2 s from now.
  void StartHeartbeat(const std::string& listen_host, const v1::Config& config);
  // ReloadConfig after its precondition: load, validate, hand to the users.
  absl::Status LoadAndApplyConfig();

  const CollectorOptions options_;
  ConfigHolder holder_;
  StorePool pool_;
  IngestService ingest_;
  ConfigService config_service_;
  QueryService query_;
  StatusPage status_page_;  // served by http_ (/status)
  DetectionRunner detection_;
  notify::Dispatcher dispatcher_;
  Retention retention_;               // its own thread and connection (storage/retention.h)
  cluster::MemberHeartbeat members_;  // its own thread and connection (docs/ha.md)
  // --cluster: the shard leases (own thread and connection); null otherwise.
  std::unique_ptr<cluster::ShardOwnership> shards_;
  // --cluster: Query.Status across shards (own thread and connection).
  std::unique_ptr<ShardStatusBoard> shard_status_;
  std::unique_ptr<HttpApi> http_;
  CheckMetrics check_metrics_;
  SloGauges slo_gauges_;
  std::unique_ptr<common::FileWatcher> config_watch_;
  // One reload at a time (SIGHUP and the watch), so the last file read is
  // the one in force.
  absl::Mutex reload_mu_;
  const Authenticator* auth_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<int64_t> reloads_{0};  // ReloadConfig outcomes, for /metrics
  std::atomic<int64_t> reload_failures_{0};
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_SERVER_H_
