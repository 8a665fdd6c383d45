// Daily partitions of `results`: created on first use for days inside the
// window of StoreOptions (others go to the DEFAULT partition, so an insert
// never fails on range). A Partitions object remembers the days it already
// made sure of; one per connection (Store), not thread-safe. Concurrent
// collectors are serialized by an advisory lock.
#ifndef SONDE_COLLECTOR_STORAGE_PARTITIONS_H_
#define SONDE_COLLECTOR_STORAGE_PARTITIONS_H_

#include <libpq-fe.h>

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"

namespace sonde::collector {

// "results_p20261121".
std::string PartitionName(int64_t day);

class Partitions {
 public:
  Partitions(int past_days, int future_days) : past_days_(past_days), future_days_(future_days) {}

  // Creates the partitions of `days` (days since 1970-01-01 UTC) that lie in
  // [today - past_days, today + future_days] and do not exist yet, each in a
  // transaction of its own (call it outside a transaction).
  absl::Status Ensure(PGconn* conn, const std::set<int64_t>& days);

  int future_days() const { return future_days_; }

 private:
  const int past_days_;
  const int future_days_;
  std::set<int64_t> known_;  // days known to exist
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_PARTITIONS_H_
