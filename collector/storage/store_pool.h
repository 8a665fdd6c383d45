// StorePool: hands out Stores (one PostgreSQL connection each) to ingest
// batches and queries, at most `max_open` at a time (--pg-max-connections):
// a caller that finds them all lent waits for one to come back (up to
// `max_wait`) instead of opening another, so no number of streams can
// exhaust the server's max_connections. Idle connections are kept for
// reuse; those the server closed meanwhile are dropped. Thread-safe; must
// outlive every Store it lent.
#ifndef SONDE_COLLECTOR_STORAGE_STORE_POOL_H_
#define SONDE_COLLECTOR_STORAGE_STORE_POOL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/storage/store.h"

namespace sonde::collector {

struct PoolLimits {
  size_t max_open = 16;                         // connections open at once
  absl::Duration max_wait = absl::Seconds(30);  // for a free one
};

class StorePool {
 public:
  struct Returner {
    StorePool* pool = nullptr;
    void operator()(Store* store) const;
  };
  // A Store lent by the pool; destroying it gives it back (or closes it when
  // broken or mid-transaction).
  using Lease = std::unique_ptr<Store, Returner>;

  explicit StorePool(std::string conninfo, StoreOptions options = {}, PoolLimits limits = {});
  ~StorePool();
  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  // An idle Store whose connection is still up, or a new connection while
  // fewer than max_open are open; else waits for one to come back.
  // UNAVAILABLE when none came back within max_wait; otherwise errors as
  // Store::Connect.
  absl::StatusOr<Lease> Acquire();

  const std::string& conninfo() const { return conninfo_; }
  const PoolLimits& limits() const { return limits_; }
  size_t idle_count() const;
  // Connections open now (lent and idle), and callers waiting for one.
  size_t open_count() const;
  size_t waiting_count() const;

 private:
  void Release(Store* store);

  const std::string conninfo_;
  const StoreOptions options_;
  const PoolLimits limits_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Store>> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;  // lent + idle + being connected
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_STORE_POOL_H_
