// SloGauges: the SLO family of the collector's /metrics — target and error
// budget left per SLO — as a cache that every scrape reads (AppendTo), so a
// scrape never waits on PostgreSQL. Whoever computes SLOs fills it: either
// Set() directly, or StartRefresh(source, period), which calls the source on
// its own thread every period (a failed call keeps the previous values and
// counts in sonde_slo_refresh_failures_total).
//
// The collector wires the SLO engine (ReportQuery::Slo, docs/availability.md)
// as the source; without SLOs in the config the families are described with
// no samples, so dashboards and alert rules can already name them.
// Thread-safety: Set and AppendTo from any thread; StartRefresh/Stop from
// the owner's thread.
#ifndef SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_
#define SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/background_loop.h"
#include "common/metrics.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// One SLO's state as /metrics shows it.
struct SloBudget {
  std::string name;                   // the SLO's name in the config (`slos:`)
  std::string check;                  // the check it covers, or ""
  std::string service;                // the service it covers, or ""
  double objective_ratio = 0;         // target, 0..1 (99.9 % -> 0.999)
  double budget_remaining_ratio = 0;  // 1 untouched, 0 spent, negative overspent
};

// The budgets of a Query.Slo answer (percent -> ratio).
std::vector<SloBudget> SloBudgetsFrom(const v1::SloReply& reply);

class SloGauges {
 public:
  using Source = std::function<absl::StatusOr<std::vector<SloBudget>>()>;

  SloGauges() = default;
  ~SloGauges();  // Stop()s
  SloGauges(const SloGauges&) = delete;
  SloGauges& operator=(const SloGauges&) = delete;

  // Replaces every SLO's sample (an SLO removed from the config disappears).
  void Set(std::vector<SloBudget> budgets);
  // Calls `source` now and then every `period` on a thread of its own.
  // Once; before Stop.
  void StartRefresh(Source source, absl::Duration period);
  // Ends the refresh thread (waits for a call in progress).
  void Stop();

  void AppendTo(common::MetricsText* out) const;

 private:
  void Refresh();

  Source source_;
  common::BackgroundLoop loop_;  // last: stopped before the members its pass reads
  std::atomic<uint64_t> refresh_failures_{0};
  mutable absl::Mutex mu_;
  std::vector<SloBudget> budgets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_METRICS_SLO_GAUGES_H_
