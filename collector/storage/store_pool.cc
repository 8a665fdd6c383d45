#include "collector/storage/store_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sonde::collector {

void StorePool::Returner::operator()(Store* store) const {
  if (pool != nullptr) {
    pool->Release(store);
  } else {
    delete store;
  }
}

namespace {

PoolLimits AtLeastOne(PoolLimits limits) {
  limits.max_open = std::max<size_t>(limits.max_open, 1);
  return limits;
}

}  // namespace

StorePool::StorePool(std::string conninfo, StoreOptions options, PoolLimits limits)
    : conninfo_(std::move(conninfo)), options_(options), limits_(AtLeastOne(limits)) {}

StorePool::~StorePool() = default;

absl::StatusOr<StorePool::Lease> StorePool::Acquire() {
  std::vector<std::unique_ptr<Store>> dead;  // closed outside the lock
  {
    absl::MutexLock l(&mu_);
    ++waiting_;
    const bool free =
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](StorePool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                                   return !p->idle_.empty() || p->open_ < p->limits_.max_open;
                                 },
                                 this),
                             limits_.max_wait);
    --waiting_;
    if (!free) {
      return absl::UnavailableError(
          absl::StrCat("all ", limits_.max_open, " PostgreSQL connections stayed busy for ",
                       absl::FormatDuration(limits_.max_wait), " (--pg-max-connections)"));
    }
    // After a PostgreSQL restart every idle connection is dead; lending one
    // would fail a batch (and push its prober into backoff) for nothing.
    while (!idle_.empty()) {
      std::unique_ptr<Store> store = std::move(idle_.back());
      idle_.pop_back();
      if (store->CheckIdleConnection()) {
        return Lease(store.release(), Returner{this});
      }
      dead.push_back(std::move(store));
      --open_;
    }
    ++open_;  // a slot for the connection made below
  }
  dead.clear();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Connect(conninfo_, options_);
  if (!store.ok()) {
    absl::MutexLock l(&mu_);
    --open_;
    return store.status();
  }
  return Lease(store->release(), Returner{this});
}

void StorePool::Release(Store* raw) {
  std::unique_ptr<Store> store(raw);
  const bool keep = store->healthy() && store->idle();
  if (!keep) {
    store.reset();  // closes outside the lock
  }
  absl::MutexLock l(&mu_);
  if (keep) {
    idle_.push_back(std::move(store));
  } else {
    --open_;
  }
}

size_t StorePool::idle_count() const {
  absl::MutexLock l(&mu_);
  return idle_.size();
}

size_t StorePool::open_count() const {
  absl::MutexLock l(&mu_);
  return open_;
}

size_t StorePool::waiting_count() const {
  absl::MutexLock l(&mu_);
  return waiting_;
}

}  // namespace sonde::collector
