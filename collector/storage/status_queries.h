// The read behind the status page's "some probes fail" state
// (collector/api/status_page.h): per service and region the last minutes'
// probes and failures. (The day bars come from the report engine.)
// Read-only, on the caller's connection; any thread holding it.
#ifndef SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_
#define SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_

#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sonde::collector {

struct ServiceRegionHealth {
  std::string service;
  std::string region;
  int64_t probes = 0;
  int64_t failures = 0;
};

// Rollup minutes from `since` on, summed per service and region, sorted.
absl::StatusOr<std::vector<ServiceRegionHealth>> QueryRecentHealth(PGconn* conn, absl::Time since);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_STATUS_QUERIES_H_
