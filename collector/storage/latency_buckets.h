// The one list of latency bucket bounds every rollup histogram uses, and the
// pure arithmetic on such histograms (add one sample, merge, percentile).
//
// A histogram is a vector of counts: counts[i] is the number of samples
// with bound[i-1] < value <= bound[i] (bound[-1] = 0), and the last element,
// counts[kLatencyBucketCount - 1], counts the samples above the largest
// bound. The stored form (rollup_* columns `*_hist bigint[]`) drops trailing
// zero counts, so a shorter array means "the rest are zero". Because the
// bounds are fixed, histograms of any check, region, minute, hour or day
// merge by adding the arrays element by element (SQL: sonde_hist_sum), and
// percentiles computed from a merged histogram are exact up to the bucket
// width (each bound is at most 1.5x the previous one, so a percentile is
// off by less than half a bucket after interpolation).
//
// The bounds are part of the storage contract: changing them needs a
// migration that rewrites every stored histogram. Pure functions; any
// thread.
#ifndef SONDE_COLLECTOR_STORAGE_LATENCY_BUCKETS_H_
#define SONDE_COLLECTOR_STORAGE_LATENCY_BUCKETS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace sonde::collector {

// Upper bounds (inclusive) in microseconds: 1-1.5-2-3-5-7.5 per decade from
// 250 µs to 60 s.
inline constexpr std::array<int64_t, 32> kLatencyBoundsUs = {
    250,       500,       750,       1'000,     1'500,      2'000,      3'000,      5'000,
    7'500,     10'000,    15'000,    20'000,    30'000,     50'000,     75'000,     100'000,
    150'000,   200'000,   300'000,   500'000,   750'000,    1'000'000,  1'500'000,  2'000'000,
    3'000'000, 5'000'000, 7'500'000, 10'000'000, 15'000'000, 20'000'000, 30'000'000, 60'000'000};

// Counts per histogram: one per bound plus the overflow bucket.
inline constexpr int kLatencyBucketCount = static_cast<int>(kLatencyBoundsUs.size()) + 1;

// The phases every rollup keeps a histogram for, in column order
// (rollup_*.{dns,connect,tls,first_byte,total}_hist).
enum class Phase { kDns = 0, kConnect, kTls, kFirstByte, kTotal };
inline constexpr int kPhaseCount = 5;
// "dns", "connect", "tls", "first_byte", "total".
const char* PhaseName(Phase p);

// A histogram of one phase: kLatencyBucketCount counts (or fewer, see above).
using LatencyHistogram = std::vector<int64_t>;

// Index of the bucket `value_us` falls in.
int LatencyBucket(int64_t value_us);

// counts[LatencyBucket(value_us)] += 1, growing `counts` as needed.
void AddSample(int64_t value_us, LatencyHistogram* counts);

// into[i] += from[i] for every i (the shorter one padded with zeros).
void MergeHistogram(absl::Span<const int64_t> from, LatencyHistogram* into);

// Total number of samples.
int64_t HistogramCount(absl::Span<const int64_t> counts);

// The q-quantile (0 <= q <= 1, e.g. 0.95) in microseconds, interpolated
// linearly inside its bucket (the first bucket starts at 0). Samples in the
// overflow bucket report the largest bound (a lower bound of the truth).
// Returns -1 for an empty histogram. q outside [0, 1] is clamped.
double Percentile(absl::Span<const int64_t> counts, double q);

// Trailing zero counts removed: the stored form.
LatencyHistogram Trimmed(LatencyHistogram counts);

// PostgreSQL array text, "{0,3,1}" ("{}" when empty).
std::string HistogramLiteral(absl::Span<const int64_t> counts);
// Parses PostgreSQL array text of integers ("{0,3,1}", "{}"); false on
// anything else.
bool ParseHistogramLiteral(const std::string& text, LatencyHistogram* out);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_LATENCY_BUCKETS_H_
