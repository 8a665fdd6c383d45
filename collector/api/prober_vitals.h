// ProberVitals: the latest ProberStatus each prober's result batches carried
// (version, scheduler lateness, spool depth) and when the collector last
// received a batch from it, for Query.Probers (sondectl status --probers).
//
// Written by IngestService (one gRPC handler thread per Report stream), read
// by the query threads; thread-safe (one mutex). Bounded: one entry per
// prober id, kept for the collector's lifetime (probers are few, and the
// ids come from authenticated, length-checked batches); the version string
// is cleaned and capped on the way in.
#ifndef SONDE_COLLECTOR_API_PROBER_VITALS_H_
#define SONDE_COLLECTOR_API_PROBER_VITALS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// Longest version string kept; longer ones are cut.
inline constexpr size_t kMaxProberVersionBytes = 64;

class ProberVitals {
 public:
  // A batch from `batch.prober_id()` arrived at `now` (stored or a
  // duplicate: either way the prober is alive). Keeps its status if it has
  // one; a batch without (an older prober) only moves last-seen.
  void Seen(const v1::ResultBatch& batch, absl::Time now);

  // Sets status and last_seen on the entries of `probers` it knows, and
  // appends the probers it knows that are not there (they send results but
  // have no config stream); keeps the order by region, then prober id.
  void MergeInto(std::vector<v1::ProberConfigStatus>* probers) const;

 private:
  struct Entry {
    std::string region;
    v1::ProberStatus status;
    absl::Time last_seen;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> probers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_PROBER_VITALS_H_
