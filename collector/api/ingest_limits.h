// What ingest admits of a prober's batch beyond its shape (ValidateBatch in
// ingest_service.h), in one place: the per-result refusals (a result dated
// more than the allowed skew after the collector's clock, or outside the
// Timestamp range, is dropped from the batch and counted; the rest of the
// batch is stored and acked), the caps on text a result may carry, the gap
// rules, and the per-prober stream cap. docs/operations.md ("Bounds") lists
// the numbers and the flags.
//
// Pure functions on the stream's gRPC thread, except StreamCap, which every
// ingest stream shares (thread-safe).
#ifndef SONDE_COLLECTOR_API_INGEST_LIMITS_H_
#define SONDE_COLLECTOR_API_INGEST_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

struct IngestLimits {
  // Results dated later than now + this are refused (--max-future-skew).
  absl::Duration max_future_skew = absl::Minutes(5);
  // Ingest streams one prober identity may hold open (--max-streams-per-prober).
  int max_streams_per_prober = 4;
};

// Gaps one batch may report. A prober reports one gap per spool overflow
// since its previous batch (0 or 1 in practice); 1,000 leave ample room and
// keep one batch's transaction to a bounded number of inserts.
inline constexpr int kMaxGapsPerBatch = 1000;
// A result's detail is cut to this many bytes at ingest (at a UTF-8
// boundary, ending with "…"); every other text field to kMaxResultTextBytes;
// a repeated field (SANs, DNS answers, resolvers) to kMaxResultListItems.
inline constexpr size_t kMaxDetailBytes = 4096;
inline constexpr size_t kMaxResultTextBytes = 1024;
inline constexpr int kMaxResultListItems = 64;

// Gap rules: at most kMaxGapsPerBatch; each with first_batch_seq <=
// last_batch_seq, both and `results` below 2^63, and valid `from` <= `to`
// Timestamps. INVALID_ARGUMENT naming the first bad gap.
absl::Status ValidateGaps(const v1::ResultBatch& batch);

struct Refusals {
  int future = 0;      // dated after now + max_future_skew
  int time_range = 0;  // start_time not a valid Timestamp
  int total() const { return future + time_range; }
};
// Removes the results ingest refuses from `batch` (order kept) and says
// how many for each reason.
Refusals RefuseResults(v1::ResultBatch* batch, absl::Time now, absl::Duration max_future_skew);

// Cuts oversized text and lists of every result in place; returns how many
// results were cut.
int CapResultText(v1::ResultBatch* batch);

// Counts the ingest streams open per prober identity and refuses one over
// the cap. Thread-safe.
class StreamCap {
 public:
  explicit StreamCap(int max_per_identity) : max_(max_per_identity) {}
  StreamCap(const StreamCap&) = delete;
  StreamCap& operator=(const StreamCap&) = delete;

  // Holds one of `identity`'s slots until destroyed (empty: holds none).
  class Slot {
   public:
    Slot() = default;
    Slot(StreamCap* cap, std::string identity) : cap_(cap), identity_(std::move(identity)) {}
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();
    bool held() const { return cap_ != nullptr; }

   private:
    StreamCap* cap_ = nullptr;
    std::string identity_;
  };

  // A slot for `identity`, or an empty Slot when it holds max already.
  Slot Take(const std::string& identity);
  int max() const { return max_; }

 private:
  void Give(const std::string& identity);

  const int max_;
  absl::Mutex mu_;
  std::map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_INGEST_LIMITS_H_
