#include "collector/storage/store_pool.h"

#include <utility>

#include "common/status_macros.h"

namespace sonde::collector {

void StorePool::Returner::operator()(Store* store) const {
  if (pool != nullptr) {
    pool->Release(store);
  } else {
    delete store;
  }
}

StorePool::StorePool(std::string conninfo, StoreOptions options, size_t max_idle)
    : conninfo_(std::move(conninfo)), options_(options), max_idle_(max_idle) {}

StorePool::~StorePool() = default;

absl::StatusOr<StorePool::Lease> StorePool::Acquire() {
  {
    absl::MutexLock l(&mu_);
    // After a PostgreSQL restart every idle connection is dead; lending one
    // would fail a batch (and push its prober into backoff) for nothing.
    while (!idle_.empty()) {
      std::unique_ptr<Store> store = std::move(idle_.back());
      idle_.pop_back();
      if (store->CheckIdleConnection()) {
        return Lease(store.release(), Returner{this});
      }
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Connect(conninfo_, options_));
  return Lease(store.release(), Returner{this});
}

void StorePool::Release(Store* raw) {
  std::unique_ptr<Store> store(raw);
  if (store->healthy() && store->idle()) {
    absl::MutexLock l(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(store));
    }
  }
  // A Store not kept closes here, outside the lock.
}

size_t StorePool::idle_count() const {
  absl::MutexLock l(&mu_);
  return idle_.size();
}

}  // namespace sonde::collector
