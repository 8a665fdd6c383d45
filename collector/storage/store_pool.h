// StorePool: hands out Stores (one PostgreSQL connection each) so that each
// ingest stream and each query runs on its own connection, keeping a few
// idle ones for reuse and dropping those the server closed meanwhile.
// Thread-safe; must outlive every Store it lent.
#ifndef SONDE_COLLECTOR_STORAGE_STORE_POOL_H_
#define SONDE_COLLECTOR_STORAGE_STORE_POOL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/storage/store.h"

namespace sonde::collector {

class StorePool {
 public:
  struct Returner {
    StorePool* pool = nullptr;
    void operator()(Store* store) const;
  };
  // A Store lent by the pool; destroying it gives it back (or closes it when
  // broken or mid-transaction).
  using Lease = std::unique_ptr<Store, Returner>;

  explicit StorePool(std::string conninfo, StoreOptions options = {}, size_t max_idle = 8);
  ~StorePool();
  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  // An idle Store whose connection is still up, or a new connection.
  // Errors as Store::Connect.
  absl::StatusOr<Lease> Acquire();

  const std::string& conninfo() const { return conninfo_; }
  size_t idle_count() const;

 private:
  void Release(Store* store);

  const std::string conninfo_;
  const StoreOptions options_;
  const size_t max_idle_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Store>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_STORE_POOL_H_
