// Stats: faultd's counters, per listener, per rule and for traffic no rule
// matched. Counter names are plain strings ("connections", "requests",
// "status_503", "rcode_NXDOMAIN", ...; README.md lists them). Rule counters
// belong to one rule-set generation: counts recorded against an older
// generation (a connection that outlived PUT /rules) are kept in the
// listener totals only. Also holds the fail_share sequence per rule.
//
// Thread-safe: the loop thread records, any thread snapshots or resets.
#ifndef SONDE_TESTS_FAULTD_STATS_H_
#define SONDE_TESTS_FAULTD_STATS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "tests/faultd/rules.h"

namespace sonde::faultd {

using Counters = std::map<std::string, uint64_t, std::less<>>;

struct StatsSnapshot {
  uint64_t generation = 0;
  std::map<std::string, Counters, std::less<>> listeners;  // by listener name
  std::map<std::string, Counters, std::less<>> unmatched;  // by listener name
  std::vector<Counters> rules;                             // by rule index

  // 0 when absent.
  uint64_t Listener(ListenerKind kind, absl::string_view counter) const;
  uint64_t Unmatched(ListenerKind kind, absl::string_view counter) const;
  uint64_t Rule(int index, absl::string_view counter) const;
};

class Stats {
 public:
  // Starts counting for a new rule set: rule counters and fail_share
  // sequences restart; listener totals are kept.
  void BeginGeneration(uint64_t generation, size_t rule_count);
  // Zeroes every counter and fail_share sequence (POST /reset-stats).
  void Reset();

  // Adds `n` to `counter` of the listener and of the rule (index -1: the
  // listener's "unmatched" counters).
  void Add(ListenerKind listener, uint64_t generation, int rule_index, absl::string_view counter,
           uint64_t n = 1);
  // Adds to the listener's counter only (events no rule is involved in).
  void AddListener(ListenerKind listener, absl::string_view counter, uint64_t n = 1);
  // fail_share: true when this request (the rule's next) is one of the
  // ⌊share·n⌉ of n that must fail. Deterministic; no randomness. With a
  // `seed` (fail_seed) the n-th request fails independently with
  // probability `share`, from a hash of (seed, n): random-looking, yet the
  // same sequence after every restart of the rule set.
  bool NextRequestFails(uint64_t generation, int rule_index, double share,
                        std::optional<uint64_t> seed = std::nullopt);

  StatsSnapshot Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  Counters listeners_[kListenerKindCount] ABSL_GUARDED_BY(mu_);
  Counters unmatched_[kListenerKindCount] ABSL_GUARDED_BY(mu_);
  std::vector<Counters> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> fail_sequence_ ABSL_GUARDED_BY(mu_);
};

// The stats JSON of GET /stats; `rules` labels the rule entries and must be
// the set the snapshot was taken for. `ports` maps listener name -> port.
std::string StatsToJson(const StatsSnapshot& snapshot, const RuleSet& rules,
                        const std::map<std::string, int>& ports);

// A JSON string literal (quotes included) for `s`.
std::string JsonQuote(absl::string_view s);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_STATS_H_
