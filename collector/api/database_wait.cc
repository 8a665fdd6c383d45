#include "collector/api/database_wait.h"

#include "spdlog/spdlog.h"

namespace sonde::collector {

DatabaseWait::Hold::Hold(DatabaseWait* wait, absl::string_view why) : wait_(wait) {
  wait_->Enter(why);
}

DatabaseWait::Hold::~Hold() { wait_->Leave(committed_); }

bool DatabaseWait::Hold::Pause() {
  absl::MutexLock l(&wait_->mu_);
  wait_->mu_.AwaitWithTimeout(absl::Condition(&wait_->stopping_), kRetry);
  return !wait_->stopping_;
}

void DatabaseWait::Stop() {
  absl::MutexLock l(&mu_);
  stopping_ = true;
}

bool DatabaseWait::stopping() const {
  absl::MutexLock l(&mu_);
  return stopping_;
}

void DatabaseWait::Enter(absl::string_view why) {
  absl::MutexLock l(&mu_);
  if (held_++ == 0) {
    since_ = absl::Now();
    spdlog::warn(
        "ingest: cannot commit, waiting for the database ({}); streams stay open and unread, "
        "retrying every {}",
        std::string(why), absl::FormatDuration(kRetry));
  }
  gauge_->store(held_);
}

void DatabaseWait::Leave(bool committed) {
  absl::MutexLock l(&mu_);
  if (--held_ == 0) {
    const std::string waited =
        absl::FormatDuration(absl::Trunc(absl::Now() - since_, absl::Milliseconds(1)));
    if (committed) {
      spdlog::info("ingest: the database commits again after {}; acking resumes", waited);
    } else {
      spdlog::info("ingest: no stream waits for the database any more (after {}): {}", waited,
                   stopping_ ? "the collector is shutting down" : "the probers went away");
    }
  }
  gauge_->store(held_);
}

}  // namespace sonde::collector
