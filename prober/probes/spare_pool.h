// SparePool<T>: run states (a probe's or the Connector's) kept for the next
// run of any probe on this thread, so that a steady prober starts its runs
// without allocating them, while memory stays bounded by the runs in flight
// and not by the configured checks: one state kept per check held a few
// hundred bytes for every check between its runs (600 for DNS).
//
// A state is given back when its run is over, even while a callback of that
// run (a resolver's late answer, a posted call) still holds a reference; it
// is handed out again only once nothing else holds it. At most kMax are kept.
//
// One pool per type and thread (thread_local): loop thread only, like the
// probes that use it.
#ifndef SONDE_PROBER_PROBES_SPARE_POOL_H_
#define SONDE_PROBER_PROBES_SPARE_POOL_H_

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace sonde::prober {

template <typename T>
class SparePool {
 public:
  static constexpr size_t kMax = 64;

  // A state nothing else holds: a kept one when the last few given back are
  // free (the newest first: warm in the cache), else a new one. A kept one
  // is as its last run left it; the caller resets what it uses.
  static std::shared_ptr<T> Take() {
    std::vector<std::shared_ptr<T>>& free = Free();
    const size_t look = free.size() < 4 ? free.size() : 4;
    for (size_t i = 0; i < look; ++i) {
      const size_t at = free.size() - 1 - i;
      if (free[at].use_count() == 1) {
        std::shared_ptr<T> s = std::move(free[at]);
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(at));
        return s;
      }
    }
    return std::make_shared<T>();
  }

  // Keeps `state` for a later Take (dropped when kMax are kept).
  static void Give(std::shared_ptr<T> state) {
    std::vector<std::shared_ptr<T>>& free = Free();
    if (state != nullptr && free.size() < kMax) {
      free.push_back(std::move(state));
    }
  }

  static size_t kept() { return Free().size(); }

 private:
  static std::vector<std::shared_ptr<T>>& Free() {
    thread_local std::vector<std::shared_ptr<T>> free;
    return free;
  }
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_SPARE_POOL_H_
