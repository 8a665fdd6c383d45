#include "prober/sched/run_starts.h"

#include <algorithm>

namespace sonde::prober {

RunStarts::RunId RunStarts::Begin(absl::Time start) {
  if (size_ == ring_.size()) {
    Grow();
  }
  const RunId id = first_ + size_;
  ++size_;
  ++going_;
  At(id) = Slot{start, false};
  // The clock stepped back: runs before this one may have started "later".
  // Lower them (walking back while they are later) so the front stays the
  // earliest.
  for (RunId i = id; i > first_;) {
    --i;
    Slot& s = At(i);
    if (s.start <= start) {
      break;
    }
    s.start = start;
  }
  return id;
}

void RunStarts::End(RunId id) {
  if (id < first_ || id >= first_ + size_) {
    return;
  }
  Slot& s = At(id);
  if (s.ended) {
    return;
  }
  s.ended = true;
  --going_;
  while (size_ > 0 && ring_[head_].ended) {
    head_ = (head_ + 1) % ring_.size();
    ++first_;
    --size_;
  }
}

absl::Time RunStarts::Earliest() const {
  return size_ == 0 ? absl::InfiniteFuture() : ring_[head_].start;
}

void RunStarts::Grow() {
  std::vector<Slot> next(std::max<size_t>(64, ring_.size() * 2));
  for (size_t i = 0; i < size_; ++i) {
    next[i] = ring_[(head_ + i) % ring_.size()];
  }
  ring_ = std::move(next);
  head_ = 0;
}

}  // namespace sonde::prober
