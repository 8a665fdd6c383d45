// The reads behind the status page (collector/api/status_page.h): per
// service and UTC day the probes and failures of the per-minute rollups
// (the day bars), and per service and region the last minutes' probes and
// failures (the "some probes fail" state). Read-only, on the caller's
// connection; any thread holding it.
//
// The day bars read rollup_minute, the simplest correct source on main;
// once daily rollups and the availability engine land, ServiceDays is the
// one function to switch.
#ifndef SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_
#define SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_

#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sonde::collector {

struct ServiceDay {
  std::string service;
  absl::CivilDay day;  // UTC
  int64_t probes = 0;  // PROBER_ERROR excluded, as in every rollup
  int64_t failures = 0;
};

struct ServiceRegionHealth {
  std::string service;
  std::string region;
  int64_t probes = 0;
  int64_t failures = 0;
};

// Rollup minutes in [from, to) summed per service and UTC day, sorted.
absl::StatusOr<std::vector<ServiceDay>> QueryServiceDays(PGconn* conn, absl::Time from,
                                                         absl::Time to);
// Rollup minutes from `since` on, summed per service and region, sorted.
absl::StatusOr<std::vector<ServiceRegionHealth>> QueryRecentHealth(PGconn* conn, absl::Time since);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_
