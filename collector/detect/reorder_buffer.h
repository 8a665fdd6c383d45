// Sample and ReorderBuffer: results waiting to be applied in event-time order.
//
// A Sample is the detector's compact, allocation-free copy of a ProbeResult
// (48 bytes; the failure detail lives in a side pool, see Detector). The
// ReorderBuffer hands samples out in (time, series, start, request_index)
// order, whatever order they were pushed in, so the detector's output does
// not depend on how ingest batches arrive. Samples pushed in order go to a
// FIFO ring (O(1)); the few that arrive out of order go to a min-heap. Both
// grow to the high-water mark and are reused. Not thread-safe.
#ifndef SONDE_COLLECTOR_DETECT_REORDER_BUFFER_H_
#define SONDE_COLLECTOR_DETECT_REORDER_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace sonde::detect {

inline constexpr uint32_t kNoDetail = 0xffffffffu;

struct Sample {
  int64_t time_us = 0;   // event time: start + total (when the result was known)
  int64_t start_us = 0;  // run start; shared by the requests of one run
  uint32_t series = 0;
  uint32_t detail_slot = kNoDetail;
  uint32_t dns_us = 0;
  uint32_t connect_us = 0;
  uint32_t tls_us = 0;
  uint32_t first_byte_us = 0;
  uint32_t total_us = 0;
  uint16_t request_index = 0;
  uint8_t failure_class = 0;  // v1::FailureClass::Code (all values < 256)
  // The result carried a certificate: the one Observe() parsed last for
  // the series (Series::observed_certificate).
  bool certificate = false;
};

// Strict weak order used everywhere samples are ordered.
inline bool SampleBefore(const Sample& a, const Sample& b) {
  if (a.time_us != b.time_us) {
    return a.time_us < b.time_us;
  }
  if (a.series != b.series) {
    return a.series < b.series;
  }
  if (a.start_us != b.start_us) {
    return a.start_us < b.start_us;
  }
  return a.request_index < b.request_index;
}

class ReorderBuffer {
 public:
  ReorderBuffer();

  void Push(const Sample& s);
  bool empty() const { return size_ == 0 && heap_.empty(); }
  size_t size() const { return size_ + heap_.size(); }
  // Event time of the first sample; requires !empty().
  int64_t NextTime() const;
  // Removes and returns the first sample; requires !empty().
  Sample Pop();
  // The sample `ahead` positions behind the front of the in-order ring, or
  // nullptr: lets the caller prefetch what it will touch.
  const Sample* PeekAhead(size_t ahead) const {
    return ahead < size_ ? &ring_[(head_ + ahead) & (ring_.size() - 1)] : nullptr;
  }
  // Rewrites every queued sample; `keep` returns false to drop one. Used on
  // reconfiguration (series renumbered). O(n log n).
  void Rewrite(const std::function<bool(Sample*)>& keep);

 private:
  const Sample& RingFront() const { return ring_[head_]; }
  const Sample& RingBack() const { return ring_[(head_ + size_ - 1) & (ring_.size() - 1)]; }
  void Grow();

  std::vector<Sample> ring_;  // capacity is a power of two
  size_t head_ = 0;
  size_t size_ = 0;
  std::vector<Sample> heap_;  // min-heap by SampleBefore
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_REORDER_BUFFER_H_
