#include "collector/storage/latency_buckets.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace sonde::collector {

const char* PhaseName(Phase p) {
  static constexpr const char* kNames[kPhaseCount] = {"dns", "connect", "tls", "first_byte",
                                                      "total"};
  const int i = static_cast<int>(p);
  return i >= 0 && i < kPhaseCount ? kNames[i] : "total";
}

int LatencyBucket(int64_t value_us) {
  auto it = std::lower_bound(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), value_us);
  return static_cast<int>(it - kLatencyBoundsUs.begin());
}

void AddSample(int64_t value_us, LatencyHistogram* counts) {
  const size_t i = static_cast<size_t>(LatencyBucket(value_us));
  if (counts->size() <= i) {
    counts->resize(i + 1, 0);
  }
  ++(*counts)[i];
}

void MergeHistogram(absl::Span<const int64_t> from, LatencyHistogram* into) {
  if (into->size() < from.size()) {
    into->resize(from.size(), 0);
  }
  for (size_t i = 0; i < from.size(); ++i) {
    (*into)[i] += from[i];
  }
}

int64_t HistogramCount(absl::Span<const int64_t> counts) {
  int64_t n = 0;
  for (int64_t c : counts) {
    n += c;
  }
  return n;
}

double Percentile(absl::Span<const int64_t> counts, double q) {
  const int64_t total = HistogramCount(counts);
  if (total <= 0) {
    return -1;
  }
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the wanted sample (1-based, fractional), then the bucket
  // holding it and the position inside that bucket.
  const double rank = std::max(1.0, q * static_cast<double>(total));
  double below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] <= 0) {
      continue;
    }
    const double here = static_cast<double>(counts[i]);
    if (below + here < rank && i + 1 < counts.size()) {
      below += here;
      continue;
    }
    if (i >= kLatencyBoundsUs.size()) {
      return static_cast<double>(kLatencyBoundsUs.back());
    }
    const double lo = i == 0 ? 0.0 : static_cast<double>(kLatencyBoundsUs[i - 1]);
    const double hi = static_cast<double>(kLatencyBoundsUs[i]);
    const double within = std::clamp((rank - below) / here, 0.0, 1.0);
    return lo + (hi - lo) * within;
  }
  return static_cast<double>(kLatencyBoundsUs.back());
}

LatencyHistogram Trimmed(LatencyHistogram counts) {
  while (!counts.empty() && counts.back() == 0) {
    counts.pop_back();
  }
  return counts;
}

std::string HistogramLiteral(absl::Span<const int64_t> counts) {
  std::string out = "{";
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    absl::StrAppend(&out, counts[i]);
  }
  out.push_back('}');
  return out;
}

bool ParseHistogramLiteral(const std::string& text, LatencyHistogram* out) {
  out->clear();
  absl::string_view v = text;
  if (v.size() < 2 || v.front() != '{' || v.back() != '}') {
    return false;
  }
  v = v.substr(1, v.size() - 2);
  if (v.empty()) {
    return true;
  }
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(part, &n)) {
      return false;
    }
    out->push_back(n);
  }
  return true;
}

}  // namespace sonde::collector
