#include "collector/detect/windows.h"

#include <algorithm>
#include <cmath>

namespace sonde::detect {
namespace {

uint16_t Sat16(uint32_t v) { return static_cast<uint16_t>(std::min<uint32_t>(v, 0xffff)); }

void Subtract(Counts* sum, uint32_t probes, uint32_t fails) {
  sum->probes -= std::min(sum->probes, probes);
  sum->fails -= std::min(sum->fails, fails);
}

}  // namespace

double NoiseTail(uint32_t probes, uint32_t fails, double p) {
  if (fails == 0 || p >= 1) {
    return 1;
  }
  if (fails > probes || p <= 0) {
    return 0;
  }
  const double n = probes;
  const double k = fails;
  // The first term, P(X = k), in logs (no overflow for any count); then
  // each next one from the last: P(X = i + 1) = P(X = i) (n - i) / (i + 1)
  // p / (1 - p). Past the mode the terms shrink geometrically.
  double term = std::exp(std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1) +
                         k * std::log(p) + (n - k) * std::log1p(-p));
  const double odds = p / (1 - p);
  double sum = 0;
  for (uint32_t i = fails; i <= probes; ++i) {
    sum += term;
    if (term <= sum * 1e-12 && i > n * p) {
      break;
    }
    term *= (n - i) / (i + 1.0) * odds;
  }
  return std::min(1.0, sum);
}

void FastWindow::Advance(int64_t bucket) {
  if (head_ < 0) {
    head_ = bucket;
    return;
  }
  if (bucket <= head_) {
    return;
  }
  if (bucket - head_ >= kFastBuckets) {
    probes_.fill(0);
    fails_.fill(0);
    sum_ = Counts{};
  } else {
    for (int64_t b = head_ + 1; b <= bucket; ++b) {
      int i = static_cast<int>(b % kFastBuckets);
      Subtract(&sum_, probes_[i], fails_[i]);
      probes_[i] = 0;
      fails_[i] = 0;
    }
  }
  head_ = bucket;
}

void FastWindow::Add(int64_t bucket, uint32_t probes, uint32_t fails) {
  Advance(bucket);
  if (bucket <= head_ - kFastBuckets) {
    return;
  }
  int i = static_cast<int>(bucket % kFastBuckets);
  uint16_t p = Sat16(probes_[i] + probes);
  uint16_t f = Sat16(fails_[i] + fails);
  sum_.probes += p - probes_[i];
  sum_.fails += f - fails_[i];
  probes_[i] = p;
  fails_[i] = f;
}

Counts FastWindow::Sum(int64_t now_bucket) {
  Advance(now_bucket);
  return sum_;
}

int64_t FastWindow::FirstFailure(int64_t now_bucket) {
  Advance(now_bucket);
  for (int64_t b = std::max<int64_t>(0, head_ - kFastBuckets + 1); b <= head_; ++b) {
    if (fails_[b % kFastBuckets] > 0) {
      return b;
    }
  }
  return -1;
}

Counts FastWindow::SumFrom(int64_t from_bucket, int64_t now_bucket) {
  Advance(now_bucket);
  Counts out;
  for (int64_t b = std::max<int64_t>({0, from_bucket, head_ - kFastBuckets + 1}); b <= head_; ++b) {
    const int i = static_cast<int>(b % kFastBuckets);
    out.probes += probes_[i];
    out.fails += fails_[i];
  }
  return out;
}

void MinuteWindow::CloseMinute(const RunCounts& minute) {
  Slot& slot = ring_[closed_ % minutes_];
  if (closed_ >= minutes_) {
    sum_.probes -= std::min<uint32_t>(sum_.probes, slot.probes);
    sum_.fails -= std::min<uint32_t>(sum_.fails, slot.fails);
    sum_.runs -= std::min<uint32_t>(sum_.runs, slot.runs);
    sum_.failed_runs -= std::min<uint32_t>(sum_.failed_runs, slot.failed_runs);
  }
  slot = Slot{Sat16(minute.probes), Sat16(minute.fails), Sat16(minute.runs),
              Sat16(minute.failed_runs)};
  sum_.probes += slot.probes;
  sum_.fails += slot.fails;
  sum_.runs += slot.runs;
  sum_.failed_runs += slot.failed_runs;
  ++closed_;
}

RunCounts MinuteWindow::WithCurrent(const RunCounts& current) const {
  RunCounts r = sum_;
  r.probes += current.probes;
  r.fails += current.fails;
  r.runs += current.runs;
  r.failed_runs += current.failed_runs;
  return r;
}

RunCounts MinuteWindow::Recent(int minutes) const {
  RunCounts r;
  const int64_t n = std::min<int64_t>({minutes, minutes_, closed_});
  for (int64_t k = 1; k <= n; ++k) {
    const Slot& s = ring_[(closed_ - k) % minutes_];
    r.probes += s.probes;
    r.fails += s.fails;
    r.runs += s.runs;
    r.failed_runs += s.failed_runs;
  }
  return r;
}

Counts MinuteWindow::AfterFirstFailingMinute(const RunCounts& current) const {
  Counts c;
  bool started = false;
  const int64_t n = std::min<int64_t>(minutes_, closed_);
  for (int64_t k = n; k >= 1; --k) {  // oldest first
    const Slot& s = ring_[(closed_ - k) % minutes_];
    if (started) {
      c.probes += s.probes;
      c.fails += s.fails;
    }
    started = started || s.fails > 0;
  }
  if (started) {
    c.probes += current.probes;
    c.fails += current.fails;
  }
  return c;
}

int BurnLayout::Add(int64_t window_seconds) {
  for (int i = 0; i < count; ++i) {
    if (seconds[i] == window_seconds) {
      return i;
    }
  }
  int id = count++;
  seconds[id] = window_seconds;
  if (window_seconds <= int64_t{kBurnMinuteSlots} * 60 && window_seconds % 60 == 0) {
    in_hours[id] = false;
    length[id] = static_cast<int>(window_seconds / 60);
  } else {
    in_hours[id] = true;
    length[id] = static_cast<int>(window_seconds / 3600);
  }
  return id;
}

void BurnCounter::CloseMinute(const BurnLayout& layout, const Counts& minute) {
  const int64_t m = closed_minutes_;
  MinuteSlot& slot = minutes_[m % kBurnMinuteSlots];
  // Adds the slot just closed (number `at` of its ring) to every window kept
  // in that ring and subtracts the slot that leaves each window.
  auto slide = [&](bool hours, const Counts& closed, int64_t at, const auto& ring) {
    for (int id = 0; id < layout.count; ++id) {
      if (layout.in_hours[id] != hours) {
        continue;
      }
      const int len = layout.length[id];
      sums_[id] += closed;
      if (at >= len) {
        const auto& old = ring[(at - len) % static_cast<int64_t>(ring.size())];
        Subtract(&sums_[id], old.probes, old.fails);
      }
    }
  };
  // Running sums first: for a 6 h window the slot being overwritten is the
  // minute that leaves it.
  slide(/*hours=*/false, minute, m, minutes_);
  slot = MinuteSlot{Sat16(minute.probes), Sat16(minute.fails)};
  hour_acc_ += minute;
  ++closed_minutes_;
  if (++minutes_in_hour_ < 60) {
    return;
  }
  const int64_t h = closed_hours_;
  slide(/*hours=*/true, hour_acc_, h, hours_);
  hours_[h % kBurnHourSlots] = hour_acc_;
  hour_acc_ = Counts{};
  minutes_in_hour_ = 0;
  ++closed_hours_;
}

Counts BurnCounter::Window(const BurnLayout& layout, int id) const {
  Counts c = sums_[id];
  if (layout.in_hours[id]) {
    c += hour_acc_;
  }
  return c;
}

}  // namespace sonde::detect
