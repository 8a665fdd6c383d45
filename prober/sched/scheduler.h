// Scheduler: runs each configured check every interval, spread evenly over
// the interval by a stable per-check offset (a hash of the check name), so
// checks do not fire in bursts and a restart keeps the same slots.
//
// A check never overlaps itself (a run still going when the next is due is
// skipped and counted), a slow check never delays another (every run is
// asynchronous on the loop), and every run has a deadline the scheduler
// enforces by aborting the probe. A global in-flight cap defers runs rather
// than dropping them. Loop thread only; the start of the earliest run
// still going is also published through set_running_since_sink (on the loop
// thread) for the uplink's ResultBatch.complete_before.
//
// Per run nothing is allocated on the loop: slots and deadlines due in one
// start-grid step share one loop timer (a btree of steps), and the starts of
// the runs going are a ring (RunStarts).
#ifndef SONDE_PROBER_SCHED_SCHEDULER_H_
#define SONDE_PROBER_SCHED_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "prober/probes/probe.h"
#include "prober/probes/result_stamp.h"
#include "prober/sched/run_starts.h"
#include "sonde/v1/check.pb.h"

namespace sonde::prober {

// The offset of a check inside its interval, in [0, interval).
absl::Duration CheckOffset(absl::string_view name, absl::Duration interval);
// The first slot of the check strictly after `after`: slots are
// Unix epoch + offset + k * interval, the same on every prober.
absl::Time NextSlot(absl::string_view name, absl::Duration interval, absl::Time after);

// A ResultSink for whoever keeps whole messages (tests, benchmarks): `keep`
// gets each result with the stamp set in it.
template <typename Keep>
std::function<void(const ResultStamp&, v1::ProbeResult&)> Stamped(Keep keep) {
  return [keep = std::move(keep)](const ResultStamp& stamp, v1::ProbeResult& r) mutable {
    ApplyStamp(stamp, &r);
    keep(r);
  };
}

class Scheduler {
 public:
  // Gets each result of a run with its check's and prober's fields beside
  // it, not in it (result_stamp.h); a sink that keeps the message copies it
  // (the probe reuses the message once the sink returned).
  using ResultSink = std::function<void(const ResultStamp&, v1::ProbeResult&)>;
  using ProbeFactory = std::function<std::unique_ptr<Probe>(const v1::Check&)>;

  struct Options {
    std::string prober_id;
    std::string region;
    size_t max_in_flight = 20000;
    // The probe classifies its own timeout; the scheduler aborts it this much
    // later if it did not.
    absl::Duration abort_grace = absl::Milliseconds(50);
    // Runs start on a grid of this step (a slot's timer is rounded up to
    // it), so a busy prober wakes up once per step for all the checks due in
    // it instead of once per check: on a prober running 1000 probes/s this
    // saves about a third of its CPU. It costs up to one step of lateness,
    // which LatenessP99() includes. Zero: every run starts at its exact slot.
    absl::Duration start_grid = absl::Milliseconds(10);
  };

  struct Stats {
    uint64_t runs = 0;  // probes started
    // Slots that found the check's previous run still going (or queued):
    // skipped, never run late and doubled.
    uint64_t skipped_overlap = 0;
    // Runs that waited in the queue because max_in_flight were running.
    uint64_t deferred = 0;
    // Probes that overran their timeout by abort_grace and were aborted.
    uint64_t aborted = 0;
    size_t in_flight = 0;  // probes running now
    size_t checks = 0;     // checks scheduled
  };

  Scheduler(common::EventLoop* loop, common::Clock* clock, ProbeFactory factory, ResultSink sink,
            Options options);
  ~Scheduler();

  // Replaces the configured checks. A check whose definition did not change
  // keeps its probe and schedule; removed checks are aborted silently.
  // Afterwards the memory freed on the way (the old checks, and whatever the
  // caller freed while parsing the config) is handed back to the OS.
  void SetChecks(std::vector<v1::Check> checks);
  // Applies a delta: `removed` (by name) are aborted silently, `changed`
  // (added or changed) replace their namesakes as in SetChecks. Costs what
  // changed, not what is configured.
  void UpdateChecks(std::vector<v1::Check> changed, const std::vector<std::string>& removed);

  // Runs every configured check once, now, and calls `all_done` after the
  // last one reported. For --once; do not mix with SetChecks' schedule.
  void RunOnce(std::function<void()> all_done);

  // Called on the loop thread whenever a run's start or end changes the
  // earliest start of the runs going (InfiniteFuture when none): before a
  // run's start time is read, and after an ended run's results went to the
  // ResultSink. So a reader that takes the sink's results and this value
  // together (under one lock, as Uplink does) knows that every result still
  // to come starts at or after min(value, its clock's now): its run is going
  // or not started yet. (A result's event time, start + total, is never
  // before its run's start.) The uplink stamps it on its batches as
  // ResultBatch.complete_before.
  using RunningSinceSink = std::function<void(absl::Time)>;
  void set_running_since_sink(RunningSinceSink sink) { running_since_sink_ = std::move(sink); }

  const Stats& stats() const { return stats_; }
  // Lateness of recent runs (actual start minus planned slot), 99th percentile.
  absl::Duration LatenessP99() const;

 private:
  struct Entry {
    v1::Check check;  // declared before `probe`, which refers to it
    std::unique_ptr<Probe> probe;
    // From `check`, computed once (the hash of the name and the proto
    // durations are not recomputed per run).
    absl::Duration interval;
    absl::Duration offset;              // CheckOffset(name, interval)
    std::chrono::microseconds timeout;  // on the loop's clock
    const char* kind = "";              // ProbeResult.kind (the check type's, static)
    bool running = false;
    bool queued = false;
    bool retired = false;         // dropped, kept until no deadline item names it
    uint32_t deadline_items = 0;  // items naming it in its DeadlineQueue
    absl::Time next_slot;
    absl::Time planned;                    // the slot the current/queued run belongs to
    absl::Time started;                    // when the current run started
    RunStarts::RunId run_id = 0;           // in running_starts_ while running
    bool slot_due = false;                 // waiting in ticks_ at slot_start
    absl::Time slot_start;                 // next_slot rounded up to the start grid
    bool deadline_due = false;             // running; its abort is due at abort_at
    common::EventLoop::MonoTime abort_at;  // (its item's in its DeadlineQueue)
  };

  // The runs that start at one grid step share one loop timer.
  struct Tick {
    common::EventLoop::TimerId timer = 0;
    absl::InlinedVector<Entry*, 1> entries;
  };
  // The aborts of the runs of one timeout. Runs reach their deadlines in the
  // order they started, so a queue in that order needs one loop timer, for
  // its front. A run that ends leaves its item behind (deadline_due goes
  // false) and the item is dropped when it reaches the front: per run one
  // push, no tree and no timer. The timer is armed while the queue holds
  // items (except while OnDeadlines runs it).
  struct DeadlineItem {
    common::EventLoop::MonoTime at;
    Entry* entry;
  };
  struct DeadlineQueue {
    std::chrono::microseconds timeout;
    std::deque<DeadlineItem> items;
    common::EventLoop::TimerId timer = 0;
  };

  void ScheduleNext(Entry* e);
  // The same with the clock already read.
  void ScheduleNext(Entry* e, absl::Time now);
  // Takes `e` out of its tick (cancelling the tick's timer when it was the
  // last); a no-op when no slot is due.
  void CancelSlot(Entry* e);
  void OnTick(absl::Time start);
  // The run's abort, at its deadline plus abort_grace rounded up to the grid.
  void ArmDeadline(Entry* e, common::EventLoop::MonoTime deadline);
  void CancelDeadline(Entry* e) { e->deadline_due = false; }
  // Aborts the runs at the front of `q` that are due, drops the items of
  // runs that ended, and arms the timer for the next.
  void OnDeadlines(DeadlineQueue* q);
  // Drops an item naming `e` (an entry retired with no items left goes).
  void ReleaseItem(Entry* e);
  // Destroys a dropped entry, or keeps it until no deadline item names it.
  void Retire(std::unique_ptr<Entry> e);
  void OnSlot(Entry* e, absl::Time now);
  void Start(Entry* e, std::function<void()> after);
  void OnDone(Entry* e, Probe::Results results);
  void StartQueued();
  void Drop(Entry* e);
  // Tells the running-since sink the earliest start still running, when it
  // changed since the last call.
  void PublishRunningSince();
  // A new entry for `c` (null, logged, when no probe type takes it).
  std::unique_ptr<Entry> MakeEntry(v1::Check c);
  // Whether `c` is the same check as `e`'s (SetChecks and UpdateChecks keep
  // such an entry: its probe and schedule).
  static bool Unchanged(const Entry& e, const v1::Check& c);

  common::EventLoop* loop_;
  common::Clock* clock_;
  ProbeFactory factory_;
  ResultSink sink_;
  Options options_;
  // By name; the key views the entry's own check.name() (no second copy of
  // every name, and a btree's elements instead of a tree node per check).
  using Entries = absl::btree_map<absl::string_view, std::unique_ptr<Entry>>;
  Entries entries_;
  // Slots due, by start time: at 1,000 probes/s on a 10 ms grid one loop
  // timer (heap entry, hash slot, callback) per step instead of one per run.
  absl::btree_map<absl::Time, Tick> ticks_;
  // Aborts due, one queue per timeout (a config has a few).
  std::vector<std::unique_ptr<DeadlineQueue>> deadlines_;
  // Dropped entries that deadline items still name (Retire).
  absl::flat_hash_map<Entry*, std::unique_ptr<Entry>> retired_;
  absl::InlinedVector<Entry*, 16> tick_scratch_;   // OnTick's, kept for its capacity
  std::deque<Entry*> queue_;                       // runs waiting for an in-flight slot
  std::map<Entry*, std::function<void()>> after_;  // RunOnce completions
  Stats stats_;
  RunStarts running_starts_;  // start of every running run
  RunningSinceSink running_since_sink_;
  absl::Time published_since_ = absl::InfiniteFuture();  // its last value
  std::vector<int64_t> lateness_us_;                     // ring buffer
  size_t lateness_next_ = 0;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_SCHED_SCHEDULER_H_
