// Rollups at 1 minute, 1 hour and 1 day (UTC), so reports never scan
// `results`: `rollup_{minute,hour,day}` (probes, failures, prober errors,
// last result and a latency histogram per phase, latency_buckets.h) and
// `rollup_{minute,hour,day}_class` (failed results per class) per check x
// region x bucket. Failures are counted from the normalised result (`ok`,
// which ingest derives from the class); PROBER_ERROR counts as neither
// probe nor failure and adds no latency. A phase adds a latency sample when
// its duration is > 0 (a phase that did not happen is 0).
//
// A RollupDelta is what some results add, kept at the minute level (check x
// region x minute); the hour and day rows are folded from its minute cells
// when it is written. Deltas merge, so the rollup folder (rollup_folder.h)
// writes the deltas of many committed batches in one transaction; a Store
// without a folder writes each batch's delta in the batch's transaction.
//
// `rollup_hour` and `rollup_day` also count the distinct minutes of their
// bucket that have a `rollup_minute` row (`minutes_with_results`, migration
// 7): a minute counts when the transaction that creates its minute row
// commits, never again for its later results (several batches, late ones).
// The report's no-data scan reads minutes only where an hour is not
// complete (collector/report/silences.h).
//
// A result is counted in all three levels exactly once, late or on time:
// its delta is written in the transaction that marks its batch rolled up
// (ingested_batches.rolled, migration 10; rollup_folder.h), or in the
// batch's own. Rows are written in key order (check, region, bucket), levels
// and tables always in the same order, so concurrent writers lock rollup
// rows in the same order and cannot deadlock. Not thread-safe; QueueRollups
// runs on the caller's connection inside its transaction.
#ifndef SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
#define SONDE_COLLECTOR_STORAGE_ROLLUPS_H_

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/storage/latency_buckets.h"
#include "collector/storage/pg/pg.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// One result as the rollups count it (a normalised result, or a stored row);
// the strings are views into the caller's, read during RollupDelta::Add.
struct RollupSample {
  absl::string_view check_id;
  absl::string_view service;
  absl::Time start;
  bool prober_error = false;        // neither probe nor failure, no latency
  bool ok = true;                   // counted a failure when false
  absl::string_view failure_class;  // the stored class name; read when !ok or prober_error
  std::array<int64_t, kPhaseCount> phases_us = {};  // dns, connect, tls, first byte, total
};

class RollupDelta {
 public:
  struct Key {
    std::string check_id;
    std::string region;
    int64_t start = 0;  // bucket start, Unix seconds (UTC)
    bool operator==(const Key& o) const {
      return start == o.start && check_id == o.check_id && region == o.region;
    }
    bool operator<(const Key& o) const {
      return std::tie(check_id, region, start) < std::tie(o.check_id, o.region, o.start);
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.check_id, k.region, k.start);
    }
  };
  // Looks a Key up by views, so that counting a result into an existing
  // cell copies no string (a hash and an equality over either form).
  struct KeyView {
    absl::string_view check_id;
    absl::string_view region;
    int64_t start = 0;
  };
  struct KeyHash {
    using is_transparent = void;
    template <typename K>
    size_t operator()(const K& k) const {
      return absl::HashOf(absl::string_view(k.check_id), absl::string_view(k.region), k.start);
    }
  };
  struct KeyEq {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return a.start == b.start && absl::string_view(a.check_id) == absl::string_view(b.check_id) &&
             absl::string_view(a.region) == absl::string_view(b.region);
    }
  };

  struct Cell {
    std::string service;  // of the latest result
    int64_t probes = 0;
    int64_t failures = 0;
    int64_t prober_errors = 0;
    absl::Time last = absl::InfinitePast();
    // The latency samples, sparse: one entry per (phase, bucket) with
    // samples, `(phase * kLatencyBucketCount + bucket) << kSlotShift | count`,
    // in no order. A check's phases fall in a few buckets each, so a cell
    // is a few hundred bytes (five dense 33-bucket histograms were 1.3 KB,
    // and counting a result touched five cache lines of them).
    static constexpr int kSlotShift = 56;  // counts below 2^56
    absl::InlinedVector<uint64_t, 16> latency;
    std::vector<std::pair<std::string, int64_t>> classes;  // failure class -> results
    void Merge(const Cell& other);
    void AddClass(absl::string_view name, int64_t n);
    void AddLatency(int phase, int bucket, int64_t n);
    // Adds `n` samples to the entry of `slot` (phase * kLatencyBucketCount
    // + bucket), or appends one.
    void AddToSlot(uint64_t slot, uint64_t n);
    // Samples per bucket of `phase`.
    std::array<int64_t, kLatencyBucketCount> Histogram(int phase) const;
  };
  using Cells = absl::flat_hash_map<Key, Cell, KeyHash, KeyEq>;

  // Adds a normalised result of `region`.
  void Add(const std::string& region, const v1::ProbeResult& r);
  void Add(const std::string& region, const RollupSample& s);
  void Merge(const RollupDelta& other);

  // Room for `cells` cells without rehashing (a delta that follows one of
  // that size).
  void Reserve(size_t cells) { cells_.reserve(cells); }

  bool empty() const { return cells_.empty(); }
  int64_t results() const { return results_; }
  const Cells& cells() const { return cells_; }

 private:
  Cells cells_;
  int64_t results_ = 0;
};

// Queues on `pipeline` the upserts of the rollup rows of `delta`,
// statements prepared once per connection in `prepared` (the first call on
// a connection prepares them, outside the pipeline). The minute level's
// first statement runs at once (its answer names the minutes it created,
// which the hour and day rows count); the rest is queued, and its outcome
// is the pipeline's.
absl::Status QueueRollups(PGconn* conn, pg::PreparedStatements* prepared, const RollupDelta& delta,
                          pg::Pipeline* pipeline);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
