// Dispatcher: the collector's notification thread. It drains the `outbox`
// table (collector/storage migration 3) through the senders, with retries
// and backoff, and schedules REPEAT, ESCALATED and HEARTBEAT rows itself from
// the database, so that a restart (or another collector replica) picks up
// where this one stopped. Only the holder of the scheduler's lease (shard
// -1 of shard_leases, docs/ha.md) schedules, in a transaction fenced by that
// lease; every replica delivers, claiming rows FOR UPDATE SKIP LOCKED. A
// delivery interrupted before its commit is sent again under the same
// X-Sonde-Delivery id (the outbox row's id). Every row and timeline line it adds goes through
// the OutboxWriter (outbox.h). See senders/notification.h for the flow and
// docs/notifications.md for the rules.
//
// Ownership and threads: a Dispatcher owns one libpq connection (opened on
// first use, reopened after PostgreSQL went away; an outage is logged once,
// never fatal) and, between Start() and Stop(), one thread that calls
// RunOnce(clock->Now()) every `options.interval`. RunOnce may also be called
// directly (tests); calls are serialized. SetConfig, stats and AppendMetrics
// are thread-safe. `clock` is borrowed and must outlive the Dispatcher. The
// time a pass works with is always the `now` it is given: it goes into SQL as
// a parameter, never as the database's now().
//
// Until the first SetConfig the Dispatcher does nothing: it must not judge
// rows against an empty notifier list.
#ifndef SONDE_COLLECTOR_NOTIFY_DISPATCHER_H_
#define SONDE_COLLECTOR_NOTIFY_DISPATCHER_H_

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/cluster/lease_keeper.h"
#include "collector/storage/pg/pg.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

struct DispatcherOptions {
  absl::Duration interval = absl::Milliseconds(500);  // between passes (Start)
  absl::Duration send_timeout = absl::Seconds(10);    // per delivery attempt
  int batch_size = 20;                                // rows delivered per pass
  // Retry delay after the n-th failed attempt: backoff_initial * 2^(n-1),
  // capped at backoff_max, then scaled by a uniform factor in [1-jitter,
  // 1+jitter].
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Minutes(5);
  double jitter = 0.2;
};

// Counters since construction, for /metrics: written by the dispatcher
// thread, read from any thread.
struct DispatcherStats {
  std::atomic<uint64_t> delivered{0};         // rows a receiver accepted
  std::atomic<uint64_t> failed_attempts{0};   // attempts that failed (row retried later)
  std::atomic<uint64_t> skipped{0};           // REPEAT/ESCALATED rows made moot by ack/resolve
  std::atomic<uint64_t> abandoned{0};         // rows whose notifier is no longer configured
  std::atomic<uint64_t> scheduled{0};         // REPEAT, ESCALATED and HEARTBEAT rows written
  std::atomic<uint64_t> scheduler_fenced{0};  // scheduling passes refused by the lease fence
  std::atomic<int64_t> pending{0};            // rows awaiting delivery after the last pass
};

class Dispatcher {
 public:
  Dispatcher(std::string conninfo, common::Clock* clock, DispatcherOptions options = {});
  ~Dispatcher();  // Stop()s.
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Replaces the notifier/maintenance configuration used by later passes.
  void SetConfig(const v1::Config& config);
  // The same, sharing the caller's copy (a large config is not copied).
  void SetConfig(std::shared_ptr<const v1::Config> config);

  // The owner name of the scheduler's lease: the replica id. Before
  // Start; the default is unique per Dispatcher (host, process, instance).
  void set_lease_owner(const std::string& owner);

  // Runs passes on a thread of its own until Stop(). Idempotent.
  void Start();
  // Stops the thread, waiting for the pass in progress (at most about one
  // send timeout per claimed row), and releases the scheduler's lease (the
  // next replica schedules at once). Idempotent.
  void Stop();

  // One pass at time `now`: schedule, deliver up to batch_size due rows,
  // refresh the pending gauge. UNAVAILABLE while PostgreSQL cannot be
  // reached (the next pass reconnects); a failed delivery is not an error.
  absl::Status RunOnce(absl::Time now);

  const DispatcherStats& stats() const { return stats_; }
  // sonde_notify_* families: delivered/failed/skipped/abandoned counters and
  // the pending gauge.
  void AppendMetrics(common::MetricsText* out) const;

  // The retry delay after `attempts` failed attempts (>= 1); `unit` in
  // [-1, 1] picks the jitter. Public for tests.
  static absl::Duration Backoff(int attempts, double unit, const DispatcherOptions& options);

 private:
  using PgConnPtr = collector::pg::PgConnPtr;
  using PgResultPtr = collector::pg::PgResultPtr;

  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  // Drops the connection after UNAVAILABLE (logged once per outage) so the
  // next pass reconnects; returns `result` unchanged.
  absl::Status Watch(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  template <typename T>
  absl::StatusOr<T> Watch(absl::StatusOr<T> result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_) {
    if (!result.ok()) {
      (void)Watch(result.status());
    }
    return result;
  }
  absl::StatusOr<PgResultPtr> Exec(const std::string& sql, const std::vector<std::string>& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  absl::Status Schedule(const v1::Config& config, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  absl::Status ScheduleInTransaction(const v1::Config& config, absl::Time now,
                                     const collector::cluster::LeaseFence& fence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  // Delivers the oldest due row, if any, of a notifier not in `*failed`;
  // sets *found. A notifier whose attempt failed joins `*failed`, so a
  // receiver that hangs costs one send timeout per pass, not one per row,
  // and the other notifiers' rows go out in the same pass.
  absl::Status DeliverOne(const v1::Config& config, absl::Time now, bool* found,
                          std::set<std::string>* failed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  void Loop();

  const std::string conninfo_;
  common::Clock* const clock_;
  const DispatcherOptions options_;

  absl::Mutex config_mu_;
  std::shared_ptr<const v1::Config> config_ ABSL_GUARDED_BY(config_mu_);

  absl::Mutex run_mu_;  // one pass at a time; guards the connection
  PgConnPtr conn_ ABSL_GUARDED_BY(run_mu_);
  bool in_outage_ ABSL_GUARDED_BY(run_mu_) = false;
  collector::cluster::LeaseKeeper scheduler_lease_ ABSL_GUARDED_BY(run_mu_);
  std::string last_logged_error_ ABSL_GUARDED_BY(run_mu_);

  absl::Mutex thread_mu_;
  bool stop_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_;  // touched by Start/Stop only

  DispatcherStats stats_;
};

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_DISPATCHER_H_
