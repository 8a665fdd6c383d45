// ConfigDeliveries: what the collector knows about each prober's config --
// the version it says it runs, what was last sent to it, the last delivery
// failure and how many there were -- for the log, /metrics
// (sonde_config_applied_version_info, sonde_config_delivery_failures_total)
// and Query.Probers (sondectl status --probers).
//
// Written by ConfigService (Watch and Report handler threads), read by the
// metrics and query threads; thread-safe (one mutex). Entries are kept per
// prober id for the collector's lifetime (probers are few).
#ifndef SONDE_COLLECTOR_API_CONFIG_DELIVERIES_H_
#define SONDE_COLLECTOR_API_CONFIG_DELIVERIES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// A prober that has not applied its region's version this long after it was
// first sent to it is reported (a PROBER_FAULT ticket; docs/detection.md).
inline constexpr absl::Duration kConfigApplyDeadline = absl::Minutes(1);

class ConfigDeliveries {
 public:
  // A Watch stream opened; `applied` is the version its hello names.
  void Connected(const std::string& prober, const std::string& region, const std::string& applied,
                 absl::Time now);
  void Disconnected(const std::string& prober);
  // The region's version is `version`; a transfer of `kind` ("full",
  // "delta", "legacy") and `bytes` starts (or, legacy, was written). Until
  // the prober reports it applied, the version counts as pending from now.
  void Sent(const std::string& prober, const std::string& version, const char* kind, uint64_t bytes,
            absl::Time now);
  // The prober has the region's version already (nothing to send).
  void Current(const std::string& prober, const std::string& version);
  // A delivery failed: the stream broke mid-transfer, or the prober refused.
  void Failed(const std::string& prober, const std::string& error, absl::Time now);
  // ConfigService.Report: the prober runs `applied`; a non-empty `error`
  // says why it refused `refused`.
  void Reported(const v1::ConfigReport& report, absl::Time now);

  // Every prober, by region then id.
  std::vector<v1::ProberConfigStatus> Snapshot() const;
  // Probers whose region version has been pending longer than `limit`.
  std::vector<v1::ProberConfigStatus> Overdue(absl::Time now, absl::Duration limit) const;
  void AppendMetrics(common::MetricsText* out) const;

 private:
  struct Entry {
    v1::ProberConfigStatus status;
    int streams = 0;  // Watch streams open (a reconnect may overlap the old one)
    absl::Time pending_since = absl::InfiniteFuture();
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> probers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_CONFIG_DELIVERIES_H_
