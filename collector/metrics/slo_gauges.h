// SloGauges: the SLO family of the collector's /metrics — error budget left
// per SLO — as a cache that whoever computes SLOs refreshes (Set) and every
// scrape reads (AppendTo), so a scrape never waits on PostgreSQL.
//
// The SLO engine (issue 12, docs/availability.md) fills it; until it does,
// the family is described with no samples, so dashboards and alert rules
// can already name it. Thread-safety: Set and AppendTo from any thread.
#ifndef SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_
#define SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/metrics.h"

namespace sonde::collector {

// One SLO's state as /metrics shows it.
struct SloBudget {
  std::string name;                   // the SLO's name in the config (`slos:`)
  std::string check;                  // the check it covers, or ""
  std::string service;                // the service it covers, or ""
  double objective_ratio = 0;         // target, 0..1 (99.9 % -> 0.999)
  double budget_remaining_ratio = 0;  // 1 untouched, 0 spent, negative overspent
};

class SloGauges {
 public:
  // Replaces every SLO's sample (an SLO removed from the config disappears).
  void Set(std::vector<SloBudget> budgets);
  void AppendTo(common::MetricsText* out) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<SloBudget> budgets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_
