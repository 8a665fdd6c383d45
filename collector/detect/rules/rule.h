// Rule: one family of incident kinds (outages, partial failure, latency,
// flapping, ...) as the detector evaluates it, in the spirit of Prometheus's
// rules/rule.go: the detector owns the state and the schedule, a rule only
// looks and reports.
//
//   Kinds()      the kinds the rule reports: wire name, usual severity,
//                grouping (kinds.h builds its one table from these)
//   Evaluate()   what the rule sees on one check now: zero or more Findings
//   Summarize()  one service's findings of one kind (one per check) as the
//                incident that should be open: evidence text and the
//                kind's own fields
//
// Rules run only when a check is re-evaluated (a run completed, a window
// closed, a region's health changed), never per result; the per-result path
// keeps what they read up to date in Series. Rules are stateless and const
// (every state lives in the detector), listed once in rules/registry.cc.
// Called on the detector's thread (the caller of Detector::Tick).
#ifndef SONDE_COLLECTOR_DETECT_RULES_RULE_H_
#define SONDE_COLLECTOR_DETECT_RULES_RULE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "collector/detect/check_state.h"
#include "collector/detect/incident_book.h"
#include "collector/detect/kinds.h"
#include "collector/detect/options.h"
#include "collector/detect/series.h"

namespace sonde::detect {

// What a rule sees of one check at one evaluation instant. Region sets are
// bit masks over the detector's region indices. Implemented by the detector.
class CheckView {
 public:
  CheckView(const CheckState& check, const DetectorOptions& options, int64_t now, uint64_t voting,
            uint64_t outage)
      : check_(check), options_(options), now_(now), voting_(voting), outage_(outage) {}
  virtual ~CheckView() = default;

  const CheckState& check() const { return check_; }
  const DetectorOptions& options() const { return options_; }
  int64_t now() const { return now_; }
  // Regions whose series reports and whose prober is healthy.
  uint64_t voting() const { return voting_; }
  // Voting regions where the check is DOWN and confirmed.
  uint64_t outage() const { return outage_; }
  size_t region_count() const { return check_.series.size(); }
  // The series of region `r`, nullptr where the check does not run. Rules
  // may advance its windows to now (idempotent), nothing else.
  virtual Series* series(size_t r) const = 0;

  // "ams, fra".
  virtual std::string RegionList(uint64_t mask) const = 0;
  // The most frequent failure class (and its count) of the regions in
  // `mask` over class_window (or, with nothing recent, the last failures
  // seen), and the share of those failures that are DNS_*. `episode`: only
  // failures of each series' current failing episode (outages: a new fault
  // is never classified by an older one's failures).
  virtual void ClassStats(uint64_t mask, bool episode, int* dominant, uint32_t* dominant_count,
                          double* dns_share) const = 0;
  // The series in `mask` whose newest failure detail is of `failure_class`
  // and newest among those; nullptr if none (evidence never quotes a
  // failure of another class).
  virtual const Series* EvidenceSeries(uint64_t mask, int failure_class) const = 0;
  // Other protocols of the same host that answer in every region of
  // `mask` ("http, ssh"); "" when none.
  virtual std::string AnsweringProtocols(uint64_t mask) const = 0;
  // Bucket of the fast partial-failure window that holds now().
  virtual int64_t fast_bucket() const = 0;

 private:
  const CheckState& check_;
  const DetectorOptions& options_;
  int64_t now_;
  uint64_t voting_;
  uint64_t outage_;
};

// One service's findings of one kind (after grouping), one per check, in
// check-name order, with what the detector accumulated over them.
struct FindingGroup {
  std::vector<const Finding*> findings;
  std::vector<IncidentKind> kinds;  // per finding: the kind it is reported under
  int n_checks = 0;
  // Sum over findings of class_count by dominant_class (at least 1 each).
  std::array<uint32_t, 128> classes{};
  uint64_t fails = 0;   // sum of share_fails
  uint64_t probes = 0;  // sum of share_probes
  double max_share = 0;
};

class Rule {
 public:
  virtual ~Rule() = default;
  // The kinds this rule reports. A new kind is declared with
  // IncidentKind::kUnassigned and found back with IncidentKindNamed().
  virtual std::vector<KindInfo> Kinds() const = 0;
  // Appends what the rule finds on `check` now (nothing most of the time).
  virtual void Evaluate(const CheckView& check, std::vector<Finding>* out) const = 0;
  // Completes `incident` (kind, checks, regions, hosts, targets, protocol
  // and severity already set) from `group`: evidence and the kind's fields.
  // `options` are the detector's.
  virtual void Summarize(const FindingGroup& group, const DetectorOptions& options,
                         DesiredIncident* incident) const = 0;
};

// " (+2 more checks)" for a group of three checks; "" for one.
std::string MoreChecks(const FindingGroup& group);

// For failure kinds: the dominant class, the failing share and the first
// checks' distinct evidence texts ("a | b (+3 more checks)").
void SummarizeFailures(const FindingGroup& group, DesiredIncident* incident);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_RULES_RULE_H_
