// ConfigClient: follows ConfigService.Watch on the collector and hands every
// complete, verified config version to a callback, reconnecting with backoff
// when the stream breaks. It speaks config contract 2
// (common/config/config_transfer.h): it says which version it runs, gets a
// full version or a delta as bounded parts, and hands on a version only
// when every part arrived and its digest and resulting version match; a
// broken transfer is dropped (the prober keeps running what it had) and the
// stream reopened, which makes the collector send the version anew. A
// collector speaking contract 1 sends whole versions in one message, which
// are taken as they are. The backoff spares a collector that answers but refuses;
// one that was unreachable is asked again as soon as the channel is READY
// once more (the channel is shared with the Uplink, whose resends connect
// it), so a config changed during an outage arrives seconds after the
// collector is back, not one backoff later. With several collector
// replicas (CollectorTargets, shared with the Uplink) each Watch goes to the
// current target; while waiting to retry, a failed connect to the current
// target moves it on, and the retry goes at once to a target that became
// current meanwhile and is READY.
//
// Runs on its own thread; the callback runs on that thread (post to the
// event loop from it). Start/Stop from one thread (main); the channel is
// shared, not owned exclusively.
#ifndef SONDE_PROBER_UPLINK_CONFIG_CLIENT_H_
#define SONDE_PROBER_UPLINK_CONFIG_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config/config_transfer.h"
#include "grpcpp/grpcpp.h"
#include "prober/uplink/collector_targets.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::prober {

class ConfigClient {
 public:
  using OnConfig = std::function<void(v1::ProberConfig)>;
  // A delta, applied: what to change in the scheduler, and the whole
  // resulting version serialised for the prober's config.pb.
  struct Delta {
    std::string version;
    v1::ProbePolicy policy;            // the resulting version's, whole
    std::vector<v1::Check> changed;    // added or changed
    std::vector<std::string> removed;  // names; applied before `changed`
    std::string whole;                 // v1::ProberConfig, serialised
  };
  using OnDelta = std::function<void(Delta)>;
  // `bearer_token` ("" for none) is sent as "authorization: Bearer ...".
  ConfigClient(std::shared_ptr<CollectorTargets> targets, v1::ProberHello hello,
               std::string bearer_token, OnConfig on_config);
  // One collector.
  ConfigClient(std::shared_ptr<grpc::Channel> channel, v1::ProberHello hello,
               std::string bearer_token, OnConfig on_config)
      : ConfigClient(CollectorTargets::Single(std::move(channel)), std::move(hello),
                     std::move(bearer_token), std::move(on_config)) {}
  ~ConfigClient();

  // Reconnect backoff: `initial`, x1.6 per failure up to `max` (defaults 1 s
  // and 60 s). Call before Start().
  void set_backoff(absl::Duration initial, absl::Duration max) {
    backoff_initial_ = initial;
    backoff_max_ = max;
  }

  // When set, an applied delta goes to `on_delta` instead of handing the
  // whole version to `on_config` (which a 100,000-check version makes cost
  // seconds). Call before Start().
  void set_on_delta(OnDelta on_delta) { on_delta_ = std::move(on_delta); }

  // The version the prober runs before the collector answers (its stored
  // config.pb). Call before Start().
  void set_running(const v1::ProberConfig& config);

  struct Stats {
    uint64_t full_applied = 0;    // complete versions handed on
    uint64_t delta_applied = 0;   // deltas handed on
    uint64_t refused = 0;         // transfers dropped as broken
    uint64_t bytes_received = 0;  // config messages, as on the wire
    std::string version;          // the version handed on last (or set_running's)
  };
  Stats stats() const;

  void Start();
  void Stop();

 private:
  void Run();
  // Waits up to `backoff` or until Stop(); returns early (true) when the
  // current target's channel, not READY meanwhile, is READY again, or
  // another target became current and is READY.
  bool WaitToRetry(absl::Duration backoff) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<CollectorTargets> targets_;
  std::vector<std::unique_ptr<v1::ConfigService::Stub>> stubs_;  // one per target
  size_t watch_target_ = 0;  // the Run thread's: the target of the last Watch
  v1::ProberHello hello_;
  std::string bearer_token_;
  OnConfig on_config_;
  OnDelta on_delta_;  // may be empty
  absl::Duration backoff_initial_ = absl::Seconds(1);
  absl::Duration backoff_max_ = absl::Seconds(60);
  // Feeds one message; false (after logging) when the transfer is broken.
  bool Take(v1::ProberConfig message, common::TransferAssembler* assembler);
  // Tells the collector (ConfigService.Report) which version runs and, with
  // an error, which one was refused and why. Best effort: logged on failure.
  void Report(const std::string& refused_version, const std::string& error);

  std::thread thread_;
  common::CheckSet running_;  // the Run thread's (set_running before Start)
  mutable absl::Mutex stats_mu_;
  Stats stats_ ABSL_GUARDED_BY(stats_mu_);
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_CONFIG_CLIENT_H_
