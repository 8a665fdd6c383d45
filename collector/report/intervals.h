// Interval sets: sorted, disjoint, half-open [from, to) time ranges and the
// set operations the availability engine needs (union, intersection,
// difference, length). Pure values and functions; any thread.
#ifndef SONDE_COLLECTOR_REPORT_INTERVALS_H_
#define SONDE_COLLECTOR_REPORT_INTERVALS_H_

#include <vector>

#include "absl/time/time.h"

namespace sonde::report {

struct Interval {
  absl::Time from;
  absl::Time to;  // exclusive; from < to for a non-empty interval
};

// Sorted by `from`, disjoint, non-empty, not touching.
using IntervalSet = std::vector<Interval>;

// Any intervals (unsorted, overlapping, empty) as a set.
IntervalSet Normalize(std::vector<Interval> intervals);
IntervalSet Union(const IntervalSet& a, const IntervalSet& b);
IntervalSet Intersect(const IntervalSet& a, const IntervalSet& b);
IntervalSet Subtract(const IntervalSet& a, const IntervalSet& b);
IntervalSet Clip(const IntervalSet& a, Interval window);
absl::Duration Length(const IntervalSet& a);
// `i` widened to whole seconds (from rounded down, to rounded up): report
// rows count whole seconds, so their per-day parts add up exactly.
Interval WholeSeconds(Interval i);

}  // namespace sonde::report

#endif  // SONDE_COLLECTOR_REPORT_INTERVALS_H_
