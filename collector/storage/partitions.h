// The range partitions of every partitioned table: `results` and the
// minute rollups by UTC day, the hourly rollups by UTC month, the daily
// rollups by UTC year (migrations 1 and 4), the result feed by the UTC day
// it was written (migration 8). Each table also has a DEFAULT
// partition (`<table>_default`), so an insert never fails on range.
//
// Creation: a Partitions object creates, on first use, the partitions that
// hold the days a batch touches when those days lie inside the window of
// StoreOptions (others go to the DEFAULT partition); it remembers what it
// already made sure of. One per connection (Store), not thread-safe.
// Concurrent collectors are serialized by an advisory lock. Dropping old
// partitions is retention's job (retention.h), which uses the naming and
// bounds declared here.
#ifndef SONDE_COLLECTOR_STORAGE_PARTITIONS_H_
#define SONDE_COLLECTOR_STORAGE_PARTITIONS_H_

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sonde::collector {

// How wide one partition of a table is (UTC).
enum class PartitionSpan { kDay, kMonth, kYear };

struct PartitionedTable {
  const char* table;   // "rollup_hour"
  const char* column;  // the range key, "hour"
  PartitionSpan span;
  // The partitions' fillfactor (100 = PostgreSQL's default, nothing set).
  // Rollup rows are updated by every batch that touches their bucket: room
  // left on each page keeps those updates HOT (the new row version on the
  // same page, no new index entries), several times cheaper than an update
  // that moves the row.
  int fillfactor = 100;
};

// Every partitioned table, parents before nothing in particular: results,
// rollup_minute, rollup_minute_class, rollup_hour, rollup_hour_class,
// rollup_day, rollup_day_class, result_feed.
const std::vector<PartitionedTable>& PartitionedTables();

// The start of the partition of `span` holding `t`, and of the next one.
absl::Time PartitionStart(PartitionSpan span, absl::Time t);
absl::Time NextPartitionStart(PartitionSpan span, absl::Time start);

// "results_p20261121", "rollup_hour_p202611", "rollup_day_p2026".
std::string PartitionName(const PartitionedTable& table, absl::Time start);
// "results_p20261121" -> the start of its range; nullopt for any other name
// (the DEFAULT partition, or a table someone else attached).
std::optional<absl::Time> ParsePartitionName(const PartitionedTable& table, absl::string_view name);

// "results_p20261121" (the results table's partition of `day`, days since
// 1970-01-01 UTC).
std::string PartitionName(int64_t day);

class Partitions {
 public:
  Partitions(int past_days, int future_days) : past_days_(past_days), future_days_(future_days) {}

  // For every day in `days` (days since 1970-01-01 UTC) inside
  // [today - past_days, today + future_days], creates the partitions of
  // every table that hold that day and do not exist yet, each in a
  // transaction of its own (call it outside a transaction).
  absl::Status Ensure(PGconn* conn, const std::set<int64_t>& days);

  // Gives every existing partition (DEFAULT ones included) of a table with
  // a fillfactor below 100 that fillfactor, if it has none yet; partitions
  // made before there was one keep their rows and leave room from now on.
  // Only catalog work: ALTER TABLE … SET takes SHARE UPDATE EXCLUSIVE, which
  // ingest's writes do not wait for. Call it outside a transaction.
  static absl::Status SetFillFactors(PGconn* conn);

  int future_days() const { return future_days_; }

 private:
  const int past_days_;
  const int future_days_;
  std::set<std::pair<const char*, int64_t>> known_;  // (table, start) known to exist
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_PARTITIONS_H_
