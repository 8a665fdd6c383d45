// ReportQuery: the availability report and SLO answers of the Query API
// (Query.Availability, Query.Slo, GET /api/v1/availability and
// /api/v1/slos), over the report engine (collector/report). Turns a request
// into a window (rolling, or a calendar month in a time zone), reads the
// inputs on a pooled connection (one retry on a fresh connection when an
// idle one died) and assembles the reply with its accounting method.
//
// Called from gRPC and HTTP handler threads; thread-safe (the pool and the
// config holder are; nothing else is shared). Pool, clock and config holder
// are borrowed and outlive it.
#ifndef SONDE_COLLECTOR_API_REPORT_QUERY_H_
#define SONDE_COLLECTOR_API_REPORT_QUERY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/api/config_service.h"
#include "collector/report/reader.h"
#include "collector/report/report.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

inline constexpr absl::Duration kDefaultAvailabilityWindow = absl::Hours(1);
inline constexpr absl::Duration kMaxAvailabilityWindow = absl::Hours(24 * 400);

class ReportQuery {
 public:
  ReportQuery(StorePool* pool, const common::Clock* clock) : pool_(pool), clock_(clock) {}
  // Where the config (checks, maintenance, slos) comes from; null: none.
  void set_config(const ConfigHolder* config) { config_ = config; }

  // `window` (default 1h, at most 400 days) ending now, or `month` in
  // `time_zone` (up to now while it runs); INVALID_ARGUMENT otherwise.
  absl::StatusOr<v1::AvailabilityReply> Availability(const v1::AvailabilityRequest& request);
  // Every configured SLO (filtered), worst budget first.
  absl::StatusOr<v1::SloReply> Slo(const v1::SloRequest& request);
  // The report over an explicit scope (the status page's day bars).
  absl::StatusOr<v1::AvailabilityReply> Report(const report::ReportScope& scope,
                                               const report::WindowLabel& label,
                                               const v1::Config& config);

 private:
  std::shared_ptr<const v1::Config> Config() const;

  StorePool* const pool_;
  const common::Clock* const clock_;
  const ConfigHolder* config_ = nullptr;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_REPORT_QUERY_H_
