#include "collector/server.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "common/file_watch.h"
#include "common/net.h"
#include "common/proto_time.h"
#include "common/version/version.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);
constexpr int kMaxMessageBytes = 64 << 20;  // 5000 results with long details
// Bounds of the gRPC server (docs/operations.md, "Bounds"). Streams per
// HTTP/2 connection: a prober needs two (Watch, Report) and a few calls.
constexpr int kMaxStreamsPerConnection = 100;
// Handler threads: every open stream holds one (synchronous API); calls
// beyond this are answered RESOURCE_EXHAUSTED. 1,024 serve 500 probers.
constexpr int kMaxHandlerThreads = 1024;
// Memory gRPC may use for its buffers (received messages included).
constexpr size_t kGrpcMemoryBytes = size_t{1} << 30;
// The server pings an idle client every minute and drops one that does not
// answer within 20 s, so a vanished prober's stream frees its slot.
// How often the SLO gauges of /metrics are recomputed (one report per SLO
// window; docs/metrics.md).
constexpr absl::Duration kSloMetricsRefresh = absl::Seconds(60);
// After --max-connection-age, the streams of the connection get this long
// to end before gRPC cuts them: an ingest stream never ends on its own, so
// this is how long a prober keeps its replica after the age (its unacked
// batches are resent on the next stream; dedup absorbs them).
constexpr int kConnectionAgeGraceMs = 10'000;
constexpr int kKeepaliveTimeMs = 60'000;
constexpr int kKeepaliveTimeoutMs = 20'000;

std::string Millis(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

}  // namespace

CollectorServer::CollectorServer(CollectorOptions options, v1::Config config)
    : options_(std::move(options)),
      holder_(std::move(config)),
      pool_(options_.postgres, StoreOptions{}, options_.pool),
      ingest_(&pool_, options_.ingest),
      config_service_(&holder_),
      query_(&pool_, common::RealClock()),
      status_page_(&query_, &pool_, &holder_, common::RealClock()),
      detection_(options_.postgres, common::RealClock()),
      dispatcher_(options_.postgres, common::RealClock()),
      retention_(options_.postgres),
      members_(options_.postgres),
      check_metrics_(options_.metrics_max_check_regions) {
  if (!options_.config_path.empty()) {
    check_metrics_.SetConfig(*holder_.Get());
  }
  if (options_.cluster && !options_.config_path.empty()) {
    shards_ = std::make_unique<cluster::ShardOwnership>(options_.postgres, &members_);
    detection_.EnableSharding(shards_.get());
    ingest_.set_spread(true);  // detection no longer depends on where streams go
    shard_status_ =
        std::make_unique<ShardStatusBoard>(options_.postgres, &detection_, common::RealClock());
    query_.set_shard_status(shard_status_.get());
  }
  ingest_.set_on_committed([this](const v1::ResultBatch& batch) {
    detection_.Observe(batch);
    check_metrics_.Observe(batch);
  });
  // A version a prober has not applied within kConfigApplyDeadline is a
  // PROBER_FAULT ticket for the monitoring owners.
  detection_.set_config_fault_source([this](absl::Time now) {
    std::vector<detect::ConfigFault> out;
    for (const v1::ProberConfigStatus& s :
         config_service_.deliveries().Overdue(now, kConfigApplyDeadline)) {
      out.push_back({s.region(), s.prober_id(), s.region_version(), s.applied_version(),
                     common::ToTime(s.pending_since()), s.last_error()});
    }
    return out;
  });
}

CollectorServer::~CollectorServer() {
  if (server_ != nullptr) {
    Shutdown(absl::ZeroDuration());
  }
}

absl::Status CollectorServer::PrepareDatabase(absl::Notification* stop) {
  const std::string where = Store::DescribeConnInfo(options_.postgres);
  absl::Duration backoff = kFirstBackoff;
  for (int attempt = 1;; ++attempt) {
    absl::Status st;
    {
      absl::StatusOr<StorePool::Lease> store = pool_.Acquire();
      st = store.ok() ? (*store)->Migrate() : store.status();
    }
    if (st.ok()) {
      spdlog::info("PostgreSQL ({}): schema at version {}", where, Store::LatestSchemaVersion());
      return absl::OkStatus();
    }
    if (!absl::IsUnavailable(st)) {
      return st;
    }
    spdlog::warn("PostgreSQL not ready (attempt {}): {}; retrying in {}", attempt,
                 std::string(st.message()), absl::FormatDuration(backoff));
    if (stop->WaitForNotificationWithTimeout(backoff)) {
      return absl::CancelledError("stopped before the database was ready");
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status CollectorServer::Start() {
  std::shared_ptr<const v1::Config> config = holder_.Get();
  if (!options_.config_path.empty()) {
    if (absl::Status st = detection_.Start(*config); !st.ok()) {
      return st;
    }
  }
  dispatcher_.SetConfig(*config);
  retention_.SetSettings(common::EffectiveStorage(config->storage()));
  retention_.Start();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      options_.listen,
      auth_ != nullptr ? auth_->ServerCredentials() : grpc::InsecureServerCredentials(), &port_);
  ingest_.set_authenticator(auth_);
  config_service_.set_authenticator(auth_);
  query_.set_authenticator(auth_);
  query_.set_config_deliveries(&config_service_.deliveries());
  query_.set_prober_vitals(&ingest_.vitals());
  query_.set_config(&holder_);
  query_.set_detection(&detection_);
  if (shard_status_ != nullptr) {
    shard_status_->Start();
  }
  query_.set_members(&members_);
  // The SLO gauges of /metrics, recomputed off the scrape path.
  slo_gauges_.StartRefresh(
      [this]() -> absl::StatusOr<std::vector<SloBudget>> {
        absl::StatusOr<v1::SloReply> reply = query_.reports().Slo(v1::SloRequest());
        if (!reply.ok()) {
          return reply.status();
        }
        return SloBudgetsFrom(*reply);
      },
      kSloMetricsRefresh);
  builder.RegisterService(&ingest_);
  builder.RegisterService(&config_service_);
  builder.RegisterService(&query_);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("sonde-collector");
  quota.SetMaxThreads(kMaxHandlerThreads);
  quota.Resize(kGrpcMemoryBytes);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  // gRPC sets SO_REUSEPORT by default: a second collector on the same port
  // would start "fine" and take half the probers. Fail the bind instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Probers send keepalive pings every 30 s, also between batches.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  if (options_.max_connection_age > absl::ZeroDuration()) {
    // gRPC adds +-10 % jitter, so probers do not all reconnect at once.
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, kConnectionAgeGraceMs);
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen,
                     " (address in use, or not an address of this host?)"));
  }
  const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  spdlog::info("listening on {}:{} (gRPC: Ingest, ConfigService, Query)", host, port_);
  StartHeartbeat(host, *config);
  dispatcher_.Start();  // after StartHeartbeat: its scheduler lease is held as this replica
  if (!options_.http_listen.empty()) {
    http_ = std::make_unique<HttpApi>(&query_, auth_);
    http_->set_status_page(&status_page_);
    if (absl::Status st = http_->Start(options_.http_listen); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

void CollectorServer::StartHeartbeat(const std::string& listen_host, const v1::Config& config) {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  std::string host = listen_host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const bool wildcard = host == "0.0.0.0" || host == "::";
  cluster::MemberIdentity me;
  me.address = common::FormatHostPort(wildcard ? name : host, port_);
  me.replica_id =
      options_.replica_id.empty() ? common::FormatHostPort(name, port_) : options_.replica_id;
  me.software = common::kVersion;
  me.cluster_mode = shards_ != nullptr;
  members_.SetIdentity(me);
  dispatcher_.set_lease_owner(me.replica_id);
  if (!options_.config_path.empty()) {
    members_.SetConfigVersion(cluster::ConfigVersionOf(config), /*reloaded=*/false);
  }
  members_.Start();
  if (shards_ != nullptr) {
    shards_->Start();  // after detection started: it builds a gained shard's detector
  }
}

absl::Status CollectorServer::ReloadConfig() {
  if (options_.config_path.empty()) {
    spdlog::warn("reload: no --config was given, nothing to reload");
    return absl::FailedPreconditionError("no config file to reload");
  }
  absl::MutexLock l(&reload_mu_);
  absl::Status st = LoadAndApplyConfig();
  (st.ok() ? reloads_ : reload_failures_).fetch_add(1, std::memory_order_relaxed);
  return st;
}

absl::Status CollectorServer::LoadAndApplyConfig() {
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Config> config = common::LoadConfigFile(options_.config_path);
  const absl::Time loaded = absl::Now();
  if (!config.ok()) {
    spdlog::error(
        "reload of {} FAILED, still running on the previous config ({} "
        "checks):\n{}",
        options_.config_path, holder_.Get()->checks_size(), std::string(config.status().message()));
    return config.status();
  }
  if (absl::Status st = detect::WithConfig({}, config->detection()).Validate(); !st.ok()) {
    spdlog::error("reload of {} FAILED, still running on the previous config: detection: {}",
                  options_.config_path, std::string(st.message()));
    return st;
  }
  const int checks = config->checks_size();
  const int regions = config->regions_size();
  retention_.SetSettings(common::EffectiveStorage(config->storage()));
  check_metrics_.SetConfig(*config);
  // One copy, shared. Probers first: their deltas are built from the holder
  // while detection re-indexes its checks (a second for 100,000); a result
  // for a new check that arrives in between is counted as unknown to
  // detection, as one from a check being removed always was.
  auto shared = std::make_shared<const v1::Config>(*std::move(config));
  holder_.Set(shared);
  members_.SetConfigVersion(cluster::ConfigVersionOf(*shared), /*reloaded=*/true);
  detection_.SetConfig(shared);
  dispatcher_.SetConfig(std::move(shared));
  const absl::Time applied = absl::Now();
  spdlog::info("reloaded {}: {} checks, {} regions (read and validated in {}, applied in {})",
               options_.config_path, checks, regions, Millis(loaded - start),
               Millis(applied - loaded));
  // glibc keeps the pages a load freed (the text, the walk, the previous
  // config); without this the collector's RSS stays at its reload peak.
  malloc_trim(0);
  return absl::OkStatus();
}

void CollectorServer::WatchConfigFile(absl::Duration period) {
  if (options_.config_path.empty() || config_watch_ != nullptr) {
    return;
  }
  config_watch_ = std::make_unique<common::FileWatcher>(options_.config_path, period, [this] {
    spdlog::info("config file {} changed: reloading", options_.config_path);
    ReloadConfig().IgnoreError();  // logged; a bad file keeps the old config
  });
}

void CollectorServer::Shutdown(absl::Duration drain) {
  config_watch_.reset();
  holder_.Shutdown();       // Watch streams end now
  ingest_.StartDraining();  // ingest streams end after their current batch
  if (http_ != nullptr) {
    http_->Stop();
  }
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(drain));
    server_->Wait();
    server_.reset();
  }
  members_.Stop();
  if (shard_status_ != nullptr) {
    shard_status_->Stop();
  }
  detection_.Stop();  // stores incident events still waiting
  if (shards_ != nullptr) {
    shards_->Stop();  // after detection stored under the leases: hands them over
  }
  dispatcher_.Stop();
  retention_.Stop();
  slo_gauges_.Stop();
}

void CollectorServer::AppendMetrics(common::MetricsText* m) const {
  m->Add("sonde_config_reloads_total", "counter", "Config reloads that took effect.",
         reloads_.load(std::memory_order_relaxed));
  m->Add("sonde_config_reload_failures_total", "counter",
         "Config reloads refused (the previous config stays in force).",
         reload_failures_.load(std::memory_order_relaxed));
  std::shared_ptr<const v1::Config> config = holder_.Get();
  m->Add("sonde_config_checks", "gauge", "Checks in the config in force.",
         config != nullptr ? config->checks_size() : 0);
  config_service_.deliveries().AppendMetrics(m);
  detect::DetectorStats d = detection_.detector_stats();
  m->Add("sonde_detector_results_applied_total", "counter", "Results the detector evaluated.",
         d.results_applied);
  m->Add("sonde_detector_late_results_total", "counter",
         "Results that arrived after the reorder window.", d.late_results);
  m->Add("sonde_detector_unknown_check_total", "counter",
         "Results for checks not in the config (ignored by detection).", d.unknown_check);
  const DetectionCounters& c = detection_.counters();
  m->Add("sonde_incident_events_recorded_total", "counter", "Incident events stored.",
         c.events_recorded.load());
  m->Add("sonde_incident_events_waiting", "gauge",
         "Incident events decided but not yet stored (PostgreSQL down).", c.events_waiting.load());
  std::vector<std::pair<std::string, double>> open;
  for (const auto& [kind, n] : detection_.OpenIncidentsByKind()) {
    open.emplace_back(common::Label("kind", kind), n);
  }
  m->AddSamples("sonde_incidents_open", "gauge", "Incidents open now, by kind.", open);
  dispatcher_.AppendMetrics(m);
  retention_.AppendMetrics(m);
  members_.AppendMetrics(m);
  if (shards_ != nullptr) {
    shards_->AppendMetrics(m);
  }
  if (shard_status_ != nullptr) {
    shard_status_->AppendMetrics(m);
  }
  check_metrics_.AppendTo(absl::Now(), m);
  slo_gauges_.AppendTo(m);
  if (http_ != nullptr) {
    const common::HttpServerStats& h = http_->stats();
    m->Add("sonde_http_api_connections_refused_total", "counter",
           "HTTP API connections answered 503 at once: every thread busy, the queue full.",
           h.connections_refused.load());
    m->Add("sonde_http_api_requests_too_large_total", "counter",
           "HTTP API requests refused for a body over 64 KiB (413) or headers over 16 KiB (431).",
           h.requests_too_large.load());
    m->Add("sonde_http_api_connections_timed_out_total", "counter",
           "HTTP API connections closed because a request or response missed its deadline.",
           h.connections_timed_out.load());
  }
}

}  // namespace sonde::collector
