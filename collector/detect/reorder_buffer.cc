#include "collector/detect/reorder_buffer.h"

#include <algorithm>

namespace sonde::detect {
namespace {

// std::*_heap build max-heaps; invert the order for a min-heap. A functor,
// not a function pointer, so it inlines.
struct HeapLess {
  bool operator()(const Sample& a, const Sample& b) const { return SampleBefore(b, a); }
};

}  // namespace

ReorderBuffer::ReorderBuffer() : ring_(1024) {}

void ReorderBuffer::Grow() {
  std::vector<Sample> bigger(ring_.size() * 2);
  for (size_t i = 0; i < size_; ++i) {
    bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
  }
  ring_.swap(bigger);
  head_ = 0;
}

void ReorderBuffer::Push(const Sample& s) {
  if (size_ == 0 || !SampleBefore(s, RingBack())) {
    if (size_ == ring_.size()) {
      Grow();
    }
    ring_[(head_ + size_) & (ring_.size() - 1)] = s;
    ++size_;
    return;
  }
  heap_.push_back(s);
  std::push_heap(heap_.begin(), heap_.end(), HeapLess());
}

int64_t ReorderBuffer::NextTime() const {
  if (heap_.empty()) {
    return RingFront().time_us;
  }
  if (size_ == 0) {
    return heap_.front().time_us;
  }
  return std::min(RingFront().time_us, heap_.front().time_us);
}

Sample ReorderBuffer::Pop() {
  if (!heap_.empty() && (size_ == 0 || SampleBefore(heap_.front(), RingFront()))) {
    std::pop_heap(heap_.begin(), heap_.end(), HeapLess());
    Sample s = heap_.back();
    heap_.pop_back();
    return s;
  }
  Sample s = ring_[head_];
  head_ = (head_ + 1) & (ring_.size() - 1);
  --size_;
  return s;
}

void ReorderBuffer::Rewrite(const std::function<bool(Sample*)>& keep) {
  std::vector<Sample> all;
  all.reserve(size());
  while (!empty()) {
    Sample s = Pop();
    if (keep(&s)) {
      all.push_back(s);
    }
  }
  std::sort(all.begin(), all.end(), SampleBefore);
  for (const Sample& s : all) {
    Push(s);
  }
}

}  // namespace sonde::detect
