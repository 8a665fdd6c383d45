// The collector's side of `ConfigService.Watch`: each prober gets the checks
// of its region now and again whenever the collector's config changes. A
// prober speaking config contract 2 (ProberHello.config_protocol) gets
// bounded parts, shared per region (region_versions.h), and deltas against
// the version it runs; an older one gets the whole version in one message.
//
// ConfigHolder owns the current config (thread-safe: Set from the reload
// thread, Get/WaitForChange from gRPC handler threads). ConfigService borrows
// the holder, which must outlive it. Watch runs on a gRPC handler thread per
// prober and blocks in WaitForChange with a short timeout, so a cancelled
// stream or ConfigHolder::Shutdown() ends it promptly (server shutdown is
// never held up by an idle watcher).
#ifndef SONDE_COLLECTOR_API_CONFIG_SERVICE_H_
#define SONDE_COLLECTOR_API_CONFIG_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/api/config_deliveries.h"
#include "collector/api/region_versions.h"
#include "collector/auth/auth.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::collector {

class ConfigHolder {
 public:
  struct Snapshot {
    std::shared_ptr<const v1::Config> config;  // never null
    uint64_t generation = 0;                   // bumped by every Set
    bool shutting_down = false;
  };

  explicit ConfigHolder(v1::Config config = {});
  ConfigHolder(const ConfigHolder&) = delete;
  ConfigHolder& operator=(const ConfigHolder&) = delete;

  // Replaces the config and wakes every waiter.
  void Set(v1::Config config);
  void Set(std::shared_ptr<const v1::Config> config);  // never null
  std::shared_ptr<const v1::Config> Get() const;
  Snapshot Current() const;
  // Returns once the generation differs from `seen`, after Shutdown(), or
  // when `timeout` has passed, whichever comes first.
  Snapshot WaitForChange(uint64_t seen, absl::Duration timeout) const;
  // Wakes every waiter for good; Watch streams then end with UNAVAILABLE.
  void Shutdown();

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const v1::Config> config_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

// The version of a set of checks and the probe policy (common::VersionOf):
// 16 hex digits, the same for the same checks in any order and in every
// collector replica; an empty policy adds nothing.
std::string ConfigVersion(const std::vector<v1::Check>& checks,
                          const v1::ProbePolicy& policy = v1::ProbePolicy());

// What a prober in `region` runs: ChecksForRegion, the probe policy and
// their version.
v1::ProberConfig ProberConfigFor(const v1::Config& config, const std::string& region);

// FAILED_PRECONDITION naming the known regions when `config` lists regions
// and `region` is not one of them.
absl::Status CheckRegionKnown(const v1::Config& config, const std::string& region);

class ConfigService final : public v1::ConfigService::Service {
 public:
  // `poll` bounds how long a Watch may take to notice a cancelled stream.
  explicit ConfigService(const ConfigHolder* holder, absl::Duration poll = absl::Seconds(1));
  void set_authenticator(const Authenticator* auth) { auth_ = auth; }

  grpc::Status Watch(grpc::ServerContext* context, const v1::ProberHello* hello,
                     grpc::ServerWriter<v1::ProberConfig>* writer) override;
  // The prober says which version it applied, or why it refused one.
  grpc::Status Report(grpc::ServerContext* context, const v1::ConfigReport* report,
                      v1::ConfigReportReply* reply) override;

  const ConfigDeliveries& deliveries() const { return deliveries_; }

 private:
  // The stream's credentials name this prober in this region (always, when
  // no authenticator is set).
  grpc::Status Authorize(const grpc::ServerContext& context, const std::string& prober_id,
                         const std::string& region) const;

  // Contract 2: writes the transfer from *have to the region's version in
  // `snap` (nothing when the prober has it) and moves *have there.
  absl::Status SendParts(const ConfigHolder::Snapshot& snap, const v1::ProberHello& hello,
                         const std::string& who, std::string* have, grpc::ServerContext* context,
                         grpc::ServerWriter<v1::ProberConfig>* writer);
  // Contract 1: the whole version as one message, when it changed.
  absl::Status SendWhole(const v1::Config& config, const v1::ProberHello& hello,
                         const std::string& who, std::string* have,
                         grpc::ServerWriter<v1::ProberConfig>* writer);

  RegionVersions versions_;
  ConfigDeliveries deliveries_;
  const Authenticator* auth_ = nullptr;
  const ConfigHolder* const holder_;
  const absl::Duration poll_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_CONFIG_SERVICE_H_
