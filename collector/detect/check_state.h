// CheckState and Finding: one configured check as the detector keeps it
// (its target, interval, SLO budget, its series per region, the windows'
// verdicts cached at minute boundaries) and what the rules found on it at
// its last evaluation.
//
// A Finding is generic: a kind, the regions, the failure class and share,
// an evidence text and rule-specific numbers (`values`). A new kind of
// incident reports through these fields; it never needs a new one.
// Owned by Detector::Impl (one CheckState per check, rebuilt by SetConfig);
// not thread-safe.
#ifndef SONDE_COLLECTOR_DETECT_CHECK_STATE_H_
#define SONDE_COLLECTOR_DETECT_CHECK_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "collector/detect/kinds.h"
#include "collector/detect/series.h"
#include "collector/detect/target.h"
#include "sonde/v1/check.pb.h"

namespace sonde::detect {

struct Finding {
  IncidentKind kind;
  Severity severity = Severity::kPage;
  uint64_t regions = 0;  // where it was seen
  int dominant_class = 0;
  uint32_t class_count = 0;
  // Failing probes and probes behind `share`; 0/0 for outages.
  uint32_t share_fails = 0;
  uint32_t share_probes = 0;
  double share = 0;  // failing share 0..1 (FLAPPING: percent state change)
  std::string evidence;
  std::vector<double> values;  // the rule's own numbers, in its own order

  bool operator==(const Finding& o) const {
    return kind == o.kind && severity == o.severity && regions == o.regions &&
           dominant_class == o.dominant_class && class_count == o.class_count &&
           share_fails == o.share_fails && share_probes == o.share_probes && share == o.share &&
           evidence == o.evidence && values == o.values;
  }
  bool operator!=(const Finding& o) const { return !(*this == o); }
};

// The finding of an availability kind (at most one), nullptr if none.
inline const Finding* AvailabilityFinding(const std::vector<Finding>& findings) {
  for (const Finding& f : findings) {
    if (InfoOf(f.kind).availability) {
      return &f;
    }
  }
  return nullptr;
}

struct CheckState {
  std::string name;
  uint32_t service = 0;
  uint32_t host = 0;
  CheckTarget target;
  std::string resolvers_text;
  int64_t interval_us = 0;
  uint32_t requests_per_run = 1;
  double budget = 0.001;        // 1 - SLO
  std::vector<int32_t> series;  // per region index; -1: not configured there
  bool multi_region = false;
  // Cached at minute boundaries.
  uint64_t slow_regions = 0;
  bool burn_page = false;
  bool burn_ticket = false;
  double burn_value = 0;
  int burn_rule = -1;
  // What the rules found at the last evaluation, in registry order; at most
  // one of an availability kind.
  std::vector<Finding> findings;
  int64_t kind_since = kNever;  // when the availability kind last changed
  bool kind_held = false;       // reported under its open incident's kind for now
  bool dirty = false;
  v1::Check config;  // as configured: rules read their options here (cold)
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_CHECK_STATE_H_
