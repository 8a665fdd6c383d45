#include "collector/detect/latency.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace sonde::detect {

int LatencyHistogram::Bucket(uint32_t us) {
  if (us < 256) {
    return 0;
  }
  const int octave = 31 - __builtin_clz(us);
  if (octave >= 26) {
    return kBuckets - 1;
  }
  const int sub = static_cast<int>((us >> (octave - 2)) & 3u);
  return 1 + (octave - 8) * 4 + sub;
}

double LatencyHistogram::LowerBound(int bucket) {
  if (bucket <= 0) {
    return 0;
  }
  if (bucket >= kBuckets - 1) {
    return static_cast<double>(1u << 26);
  }
  const int octave = 8 + (bucket - 1) / 4;
  const int sub = (bucket - 1) % 4;
  return std::ldexp(1.0 + sub / 4.0, octave);
}

double LatencyHistogram::UpperBound(int bucket) {
  // Buckets are contiguous: each ends where the next begins; the overflow
  // bucket ends at 2^27 us.
  if (bucket >= kBuckets - 1) {
    return static_cast<double>(1u << 27);
  }
  return LowerBound(std::max(bucket, 0) + 1);
}

double LatencyHistogram::Percentile(const uint32_t* hist, uint64_t count, double q) {
  if (count == 0) {
    return 0;
  }
  const double rank = q * static_cast<double>(count);
  double seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    if (hist[b] == 0) {
      continue;
    }
    if (seen + hist[b] >= rank) {
      const double frac = (rank - seen) / hist[b];
      return LowerBound(b) + frac * (UpperBound(b) - LowerBound(b));
    }
    seen += hist[b];
  }
  return UpperBound(kBuckets - 1);
}

void LatencyTracker::Init(const LatencyParams& params) {
  minutes_.assign(params.window_minutes, Minute{});
  blocks_.assign(params.baseline_blocks, Block{});
  fast_minutes_ = std::clamp(params.fast_minutes, 1, params.window_minutes - 1);
  fast_share_ = params.fast_share;
  fast_min_samples_ = std::max<uint32_t>(1, params.min_samples);
}

void LatencyTracker::AddToMinute(uint32_t total_us, uint32_t dns_us, uint32_t connect_us,
                                 uint32_t tls_us, uint32_t first_byte_us) {
  const int b = LatencyHistogram::Bucket(total_us);
  uint16_t& c = cur_.hist[b];
  if (c == 0xffff) {
    return;  // > 65535 results a minute: drop the excess
  }
  ++c;
  cur_.used[b >> 6] |= uint64_t{1} << (b & 63);
  ++cur_.count;
  cur_.phase[kPhaseDns] += dns_us;
  cur_.phase[kPhaseConnect] += connect_us;
  cur_.phase[kPhaseTls] += tls_us;
  cur_.phase[kPhaseFirstByte] += first_byte_us;
}

namespace {

constexpr auto kAdd = [](auto& sum, auto term) { sum += term; };
constexpr auto kSubtract = [](auto& sum, auto term) { sum -= term; };

// Applies `op` (kAdd or kSubtract) to `b`'s bucket counts, count and phase
// sums with the terms of `part`: a block (every bucket) or a minute (only the
// buckets it used, nothing when it is empty).
template <typename Block, typename Part, typename Op>
void Combine(Block* b, const Part& part, Op op) {
  if constexpr (std::is_same_v<Part, Block>) {
    for (size_t i = 0; i < b->hist.size(); ++i) {
      op(b->hist[i], part.hist[i]);
    }
  } else {
    if (part.count == 0) {
      return;
    }
    for (int w = 0; w < 2; ++w) {
      for (uint64_t bits = part.used[w]; bits != 0; bits &= bits - 1) {
        const int i = w * 64 + __builtin_ctzll(bits);
        op(b->hist[i], part.hist[i]);
      }
    }
  }
  op(b->count, part.count);
  for (size_t i = 0; i < b->phase.size(); ++i) {
    op(b->phase[i], part.phase[i]);
  }
}

}  // namespace

uint32_t LatencyTracker::SlowerThan(const Minute& m, uint32_t threshold_us) {
  // Only the buckets wholly above the threshold: its own bucket's results
  // count as fast (never more slow results than the exact comparison).
  const int above = LatencyHistogram::Bucket(threshold_us) + 1;
  uint32_t n = 0;
  for (int i = above; i < LatencyHistogram::kBuckets; ++i) {
    n += m.hist[i];
  }
  return n;
}

void LatencyTracker::AddTo(Block* b, const Minute& m) { Combine(b, m, kAdd); }
void LatencyTracker::SubtractFrom(Block* b, const Minute& m) { Combine(b, m, kSubtract); }
void LatencyTracker::AddTo(Block* b, const Block& m) { Combine(b, m, kAdd); }
void LatencyTracker::SubtractFrom(Block* b, const Block& m) { Combine(b, m, kSubtract); }

bool LatencyTracker::CloseMinute(const LatencyParams& params) {
  const bool was = degraded();
  const bool judged = fast_threshold_us_ != kNoThreshold;
  const int w = static_cast<int>(minutes_.size());
  if (closed_minutes_ >= fast_minutes_) {
    // The oldest minute of the fast window leaves it: into the fast
    // baseline, unless it left while degraded.
    // (A bit per slot: no touch of that minute's cache lines.)
    if (was) {
      tainted_ |= uint32_t{1} << ((closed_minutes_ - fast_minutes_) % w);
    }
  }
  const int slot_index = static_cast<int>(closed_minutes_ % w);
  const uint32_t slot_bit = uint32_t{1} << slot_index;
  Minute& slot = minutes_[slot_index];
  if (closed_minutes_ >= w) {
    // The minute leaving the window joins the baseline, unless degraded.
    SubtractFrom(&window_, slot);
    if (!degraded_ && (tainted_ & slot_bit) == 0) {
      AddTo(&open_, slot);
      AddTo(&baseline_, slot);
    }
    if (++open_minutes_ == w) {
      const int nb = static_cast<int>(blocks_.size());
      Block& old = blocks_[closed_blocks_ % nb];
      if (closed_blocks_ >= nb) {
        SubtractFrom(&baseline_, old);
      }
      old = open_;
      open_ = Block{};
      open_minutes_ = 0;
      ++closed_blocks_;
    }
  }
  slot = cur_;
  tainted_ &= ~slot_bit;
  unjudged_ = judged ? unjudged_ & ~slot_bit : unjudged_ | slot_bit;
  AddTo(&window_, cur_);
  const uint32_t last_count = cur_.count;
  cur_ = Minute{};
  ++closed_minutes_;

  // The fast window's threshold for the next minute: only when the window
  // can hold min_samples (a check every 30 s never does).
  fast_threshold_us_ = kNoThreshold;
  fast_degraded_ = false;
  if (static_cast<uint64_t>(last_count) * (fast_minutes_ + 1) >= fast_min_samples_) {
    const Block base = FastBaseline();
    if (base.count >= params.min_baseline_samples) {
      // Like with like: "share of the window above x" is the window's
      // (1 - share)-quantile above x, compared with the baseline's (the
      // median by default: a few spikes before a change do not move it).
      fast_baseline_p_ =
          LatencyHistogram::Percentile(base.hist.data(), base.count, 1 - fast_share_);
      const double threshold =
          std::max(params.factor * fast_baseline_p_, fast_baseline_p_ + params.margin_us);
      fast_threshold_us_ = static_cast<uint32_t>(std::min<double>(threshold, kNoThreshold - 1));
    }
  }
  // Its closed part. A minute that ran before any threshold existed (the
  // first minutes of a check) is judged now, from its histogram, against
  // the first one: a change in it is seen at this boundary, not a minute on.
  fast_count_ = 0;
  fast_slow_ = 0;
  for (int k = 1; k <= fast_minutes_ && k <= closed_minutes_; ++k) {
    const int i = static_cast<int>((closed_minutes_ - k) % w);
    Minute& m = minutes_[i];
    if (fast_threshold_us_ != kNoThreshold && (unjudged_ >> i & 1) != 0) {
      m.slow = SlowerThan(m, fast_threshold_us_);
      unjudged_ &= ~(uint32_t{1} << i);
    }
    fast_count_ += m.count;
    fast_slow_ += m.slow;
  }
  if (fast_threshold_us_ != kNoThreshold) {
    fast_degraded_ = FastVerdict();
  }

  if (window_.count < params.min_samples) {
    degraded_ = false;
    window_p_ = 0;
    return was != degraded();
  }
  window_p_ = LatencyHistogram::Percentile(window_.hist.data(), window_.count, params.percentile);
  if (window_p_ <= params.margin_us || baseline_.count < params.min_baseline_samples) {
    // The threshold is at least baseline + margin: nothing to compare.
    degraded_ = false;
    return was != degraded();
  }
  baseline_p_ =
      LatencyHistogram::Percentile(baseline_.hist.data(), baseline_.count, params.percentile);
  const double threshold = std::max(params.factor * baseline_p_, baseline_p_ + params.margin_us);
  degraded_ = window_p_ > threshold;
  return was != degraded();
}

LatencyTracker::Block LatencyTracker::FastBaseline() const {
  // Summed when needed (at most once a minute, only for checks frequent
  // enough for the fast window): no per-minute upkeep for the others.
  Block base = baseline_;
  const int w = static_cast<int>(minutes_.size());
  for (int k = fast_minutes_ + 1; k <= w && k <= closed_minutes_; ++k) {
    const int i = static_cast<int>((closed_minutes_ - k) % w);
    if ((tainted_ & (uint32_t{1} << i)) == 0) {
      AddTo(&base, minutes_[i]);
    }
  }
  return base;
}

double LatencyTracker::ReportedPercentileUs(double q) const {
  if (degraded_ || !fast_degraded_) {
    return window_p_;
  }
  Block fast;
  AddTo(&fast, cur_);
  const int w = static_cast<int>(minutes_.size());
  for (int k = 1; k <= fast_minutes_ && k <= closed_minutes_; ++k) {
    AddTo(&fast, minutes_[(closed_minutes_ - k) % w]);
  }
  return LatencyHistogram::Percentile(fast.hist.data(), fast.count, q);
}

std::array<double, kPhaseCount> LatencyTracker::PhaseShift() const {
  Block now = window_;
  Block before = baseline_;
  if (!degraded_ && fast_degraded_) {
    now = Block{};
    AddTo(&now, cur_);
    const int w = static_cast<int>(minutes_.size());
    for (int k = 1; k <= fast_minutes_ && k <= closed_minutes_; ++k) {
      AddTo(&now, minutes_[(closed_minutes_ - k) % w]);
    }
    before = FastBaseline();
  }
  std::array<double, kPhaseCount> out{};
  if (now.count == 0 || before.count == 0) {
    return out;
  }
  for (int i = 0; i < kPhaseCount; ++i) {
    out[i] = static_cast<double>(now.phase[i]) / now.count -
             static_cast<double>(before.phase[i]) / before.count;
  }
  return out;
}

}  // namespace sonde::detect
