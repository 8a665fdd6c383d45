#include "collector/report/intervals.h"

#include <algorithm>

namespace sonde::report {

IntervalSet Normalize(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end(),
            [](const Interval& a, const Interval& b) { return a.from < b.from; });
  IntervalSet out;
  for (const Interval& i : intervals) {
    if (!(i.from < i.to)) {
      continue;
    }
    if (!out.empty() && i.from <= out.back().to) {
      out.back().to = std::max(out.back().to, i.to);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

IntervalSet Union(const IntervalSet& a, const IntervalSet& b) {
  std::vector<Interval> all = a;
  all.insert(all.end(), b.begin(), b.end());
  return Normalize(std::move(all));
}

IntervalSet Intersect(const IntervalSet& a, const IntervalSet& b) {
  IntervalSet out;
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const absl::Time from = std::max(a[i].from, b[j].from);
    const absl::Time to = std::min(a[i].to, b[j].to);
    if (from < to) {
      out.push_back({from, to});
    }
    if (a[i].to < b[j].to) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

IntervalSet Subtract(const IntervalSet& a, const IntervalSet& b) {
  IntervalSet out;
  size_t j = 0;
  for (const Interval& x : a) {
    absl::Time from = x.from;
    while (j < b.size() && b[j].to <= from) {
      ++j;
    }
    size_t k = j;
    while (k < b.size() && b[k].from < x.to) {
      if (from < b[k].from) {
        out.push_back({from, b[k].from});
      }
      from = std::max(from, b[k].to);
      ++k;
    }
    if (from < x.to) {
      out.push_back({from, x.to});
    }
  }
  return out;
}

IntervalSet Clip(const IntervalSet& a, Interval window) { return Intersect(a, {window}); }

absl::Duration Length(const IntervalSet& a) {
  absl::Duration d;
  for (const Interval& i : a) {
    d += i.to - i.from;
  }
  return d;
}

Interval WholeSeconds(Interval i) {
  const absl::Time from = absl::FromUnixSeconds(absl::ToUnixSeconds(i.from));
  absl::Time to = absl::FromUnixSeconds(absl::ToUnixSeconds(i.to));
  if (to < i.to) {
    to += absl::Seconds(1);
  }
  return {from, to};
}

}  // namespace sonde::report
