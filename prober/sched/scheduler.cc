#include "prober/sched/scheduler.h"

#include <malloc.h>

#include <algorithm>

#include "common/checks/registry.h"
#include "common/config/config_transfer.h"
#include "common/logging.h"
#include "common/proto_time.h"
#include "common/result_class.h"

namespace sonde::prober {

using common::EventLoop;
namespace {
constexpr size_t kLatenessSamples = 8192;

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Final avalanche so that names differing in the last byte spread too.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::chrono::microseconds ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// The first multiple of `grid` (counted from the Unix epoch) at or after t.
// In whole nanoseconds: absl::Duration's % is a 128-bit division.
absl::Time AlignUp(absl::Time t, absl::Duration grid) {
  const int64_t step = absl::ToInt64Nanoseconds(grid);
  if (step <= 0) {
    return t;
  }
  int64_t rem = absl::ToUnixNanos(t) % step;
  if (rem < 0) {
    rem += step;
  }
  return rem == 0 ? t : t + absl::Nanoseconds(step - rem);
}

// The same on the loop's monotonic clock.
EventLoop::MonoTime AlignUp(EventLoop::MonoTime t, absl::Duration grid) {
  const int64_t step = absl::ToInt64Nanoseconds(grid);
  if (step <= 0) {
    return t;
  }
  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t rem = ns % step;
  if (rem < 0) {
    rem += step;
  }
  return rem == 0 ? t
                  : t + std::chrono::duration_cast<EventLoop::MonoTime::duration>(
                            std::chrono::nanoseconds(step - rem));
}

// Takes `e` out of the tick at `key` in `ticks` (cancelling the tick's
// timer when it was the last).
template <typename Key, typename Ticks, typename E>
void RemoveFromTick(EventLoop* loop, Ticks* ticks, const Key& key, E* e) {
  auto it = ticks->find(key);
  if (it == ticks->end()) {
    return;
  }
  auto& v = it->second.entries;
  v.erase(std::remove(v.begin(), v.end(), e), v.end());
  if (v.empty()) {
    loop->Cancel(it->second.timer);
    ticks->erase(it);
  }
}
}  // namespace

absl::Duration CheckOffset(absl::string_view name, absl::Duration interval) {
  int64_t us = std::max<int64_t>(absl::ToInt64Microseconds(interval), 1);
  return absl::Microseconds(static_cast<int64_t>(Fnv1a(name) % static_cast<uint64_t>(us)));
}

namespace {
// NextSlot with the check's offset already known.
absl::Time NextSlotAt(absl::Duration offset, absl::Duration interval, absl::Time after) {
  absl::Time base = absl::UnixEpoch() + offset;
  absl::Duration rem;
  int64_t k = absl::IDivDuration(after - base, interval, &rem);
  absl::Time slot = base + k * interval;
  while (slot <= after) {
    slot += interval;
  }
  return slot;
}
}  // namespace

absl::Time NextSlot(absl::string_view name, absl::Duration interval, absl::Time after) {
  return NextSlotAt(CheckOffset(name, interval), interval, after);
}

Scheduler::Scheduler(EventLoop* loop, common::Clock* clock, ProbeFactory factory, ResultSink sink,
                     Options options)
    : loop_(loop),
      clock_(clock),
      factory_(std::move(factory)),
      sink_(std::move(sink)),
      options_(std::move(options)) {}

Scheduler::~Scheduler() {
  running_since_sink_ = nullptr;  // its receiver may be going away too
  for (auto& [name, e] : entries_) {
    Drop(e.get());
  }
  for (const std::unique_ptr<DeadlineQueue>& q : deadlines_) {
    loop_->Cancel(q->timer);
  }
}

void Scheduler::Retire(std::unique_ptr<Entry> e) {
  if (e->deadline_items == 0) {
    return;  // destroyed here
  }
  // Its probe is gone (Drop); the entry itself stays until the items
  // naming it reach the front of their queue.
  e->retired = true;
  Entry* key = e.get();
  retired_.emplace(key, std::move(e));
}

void Scheduler::Drop(Entry* e) {
  CancelSlot(e);
  CancelDeadline(e);
  if (e->running) {
    stats_.in_flight--;
    running_starts_.End(e->run_id);
    e->running = false;
    PublishRunningSince();
  }
  queue_.erase(std::remove(queue_.begin(), queue_.end(), e), queue_.end());
  e->probe.reset();  // a probe being destroyed never calls back
}

bool Scheduler::Unchanged(const Entry& e, const v1::Check& c) {
  // Deterministic bytes, not MessageDifferencer's reflection: a new
  // version of 100,000 checks mostly repeats the old one. Made when
  // compared, not kept per entry: a config change is rare, memory per
  // check is not.
  return common::CheckBytes(e.check) == common::CheckBytes(c);
}

std::unique_ptr<Scheduler::Entry> Scheduler::MakeEntry(v1::Check c) {
  auto e = std::make_unique<Entry>();
  e->check = std::move(c);
  e->probe = factory_(e->check);
  if (e->probe == nullptr) {
    spdlog::error("check {}: no probe for this kind; skipped", e->check.name());
    return nullptr;
  }
  e->interval = common::ToDuration(e->check.interval());
  e->offset = CheckOffset(e->check.name(), e->interval);
  e->timeout = ToChrono(common::ToDuration(e->check.timeout()));
  if (const checks::CheckType* type = checks::FindCheckType(e->check); type != nullptr) {
    e->kind = type->kind;
  }
  return e;
}

void Scheduler::UpdateChecks(std::vector<v1::Check> changed,
                             const std::vector<std::string>& removed) {
  for (const std::string& name : removed) {
    if (auto it = entries_.find(name); it != entries_.end()) {
      Drop(it->second.get());
      Retire(std::move(it->second));
      entries_.erase(it);
    }
  }
  for (v1::Check& c : changed) {
    auto it = entries_.find(c.name());
    if (it != entries_.end() && Unchanged(*it->second, c)) {
      continue;
    }
    if (it != entries_.end()) {
      Drop(it->second.get());
      Retire(std::move(it->second));
      entries_.erase(it);
    }
    std::unique_ptr<Entry> e = MakeEntry(std::move(c));
    if (e == nullptr) {
      continue;
    }
    Entry* entry = e.get();
    entries_.emplace(entry->check.name(), std::move(e));
    ScheduleNext(entry);
  }
  stats_.checks = entries_.size();
}

void Scheduler::SetChecks(std::vector<v1::Check> checks) {
  Entries next;
  for (v1::Check& c : checks) {
    auto it = entries_.find(c.name());
    if (it != entries_.end() && Unchanged(*it->second, c)) {
      Entry* kept = it->second.get();
      next.emplace(kept->check.name(), std::move(it->second));
      entries_.erase(it);
      continue;
    }
    std::unique_ptr<Entry> e = MakeEntry(std::move(c));
    if (e == nullptr) {
      continue;
    }
    Entry* entry = e.get();
    next.emplace(entry->check.name(), std::move(e));
  }
  for (auto& [name, e] : entries_) {
    Drop(e.get());  // removed or changed
  }
  for (auto& [name, e] : entries_) {
    Retire(std::move(e));
  }
  entries_ = std::move(next);
  for (auto& [name, e] : entries_) {
    if (!e->slot_due && !e->running) {
      ScheduleNext(e.get());
    }
  }
  stats_.checks = entries_.size();
  checks.clear();
  checks.shrink_to_fit();
  // glibc keeps freed heap pages; a config parse (YAML, or a large gRPC
  // message) leaves many, interleaved with the new checks. Without this, a
  // prober's RSS stays at its config-load peak.
  malloc_trim(0);
}

void Scheduler::ScheduleNext(Entry* e) { ScheduleNext(e, clock_->Now()); }

void Scheduler::ScheduleNext(Entry* e, absl::Time now) {
  // Never the slot that just ran again, even if the wall clock stepped back.
  const absl::Time after = std::max(now, e->next_slot);
  // The common case: the slot that just came is the latest one, so the
  // next is one interval on (no division).
  e->next_slot = e->next_slot != absl::Time() && after - e->next_slot < e->interval
                     ? e->next_slot + e->interval
                     : NextSlotAt(e->offset, e->interval, after);
  const absl::Time start = AlignUp(e->next_slot, options_.start_grid);
  Tick& tick = ticks_[start];
  if (tick.timer == 0) {
    // Two words fit std::function's inline storage: no allocation per tick.
    tick.timer = loop_->RunAfter(ToChrono(start - now), [this, start] { OnTick(start); });
  }
  tick.entries.push_back(e);
  e->slot_due = true;
  e->slot_start = start;
}

void Scheduler::CancelSlot(Entry* e) {
  if (!e->slot_due) {
    return;
  }
  e->slot_due = false;
  RemoveFromTick(loop_, &ticks_, e->slot_start, e);
}

void Scheduler::ArmDeadline(Entry* e, EventLoop::MonoTime deadline) {
  const EventLoop::MonoTime at =
      AlignUp(deadline + ToChrono(options_.abort_grace), options_.start_grid);
  DeadlineQueue* q = nullptr;
  for (const std::unique_ptr<DeadlineQueue>& d : deadlines_) {
    if (d->timeout == e->timeout) {
      q = d.get();
      break;
    }
  }
  if (q == nullptr) {
    deadlines_.push_back(std::make_unique<DeadlineQueue>());
    q = deadlines_.back().get();
    q->timeout = e->timeout;
  }
  // The loop's clock never goes back, so `at` is never before the last
  // item's: the queue stays in order.
  q->items.push_back({at, e});
  e->deadline_items++;
  e->deadline_due = true;
  e->abort_at = at;
  if (q->items.size() == 1 && q->timer == 0) {
    q->timer = loop_->RunAt(at, [this, q] { OnDeadlines(q); });
  }
}

void Scheduler::ReleaseItem(Entry* e) {
  if (--e->deadline_items == 0 && e->retired) {
    retired_.erase(e);
  }
}

void Scheduler::OnDeadlines(DeadlineQueue* q) {
  q->timer = 0;
  const EventLoop::MonoTime now = loop_->Now();
  while (!q->items.empty()) {
    const DeadlineItem item = q->items.front();
    Entry* e = item.entry;
    // An item whose run ended (or whose entry was dropped) is just dropped,
    // however far its time is.
    if (!e->deadline_due || e->abort_at != item.at) {
      q->items.pop_front();
      ReleaseItem(e);
      continue;
    }
    if (item.at > now) {
      break;
    }
    q->items.pop_front();
    e->deadline_items--;  // running: not retired
    e->deadline_due = false;
    stats_.aborted++;
    // May end this run (and others) and start queued ones, which push
    // their items (due later) onto this queue.
    e->probe->Abort();
  }
  if (!q->items.empty() && q->timer == 0) {
    q->timer = loop_->RunAt(q->items.front().at, [this, q] { OnDeadlines(q); });
  }
}

void Scheduler::OnTick(absl::Time start) {
  auto it = ticks_.find(start);
  if (it == ticks_.end()) {
    return;
  }
  tick_scratch_.assign(it->second.entries.begin(), it->second.entries.end());
  ticks_.erase(it);
  for (Entry* e : tick_scratch_) {
    e->slot_due = false;
  }
  // OnSlot schedules each entry's next slot (maybe into a new tick at this
  // same start, with a timer of its own); none of them can be dropped here.
  // One clock read for the step's next slots (their runs' starts are read
  // each, Start).
  const absl::Time now = clock_->Now();
  for (Entry* e : tick_scratch_) {
    OnSlot(e, now);
  }
  tick_scratch_.clear();
}

void Scheduler::OnSlot(Entry* e, absl::Time now) {
  absl::Time slot = e->next_slot;
  ScheduleNext(e, now);
  if (e->running || e->queued) {
    stats_.skipped_overlap++;
    spdlog::debug("check {}: previous run still going; this slot skipped", e->check.name());
    return;
  }
  e->planned = slot;
  Start(e, nullptr);
}

void Scheduler::Start(Entry* e, std::function<void()> after) {
  if (after) {
    after_[e] = std::move(after);
  }
  if (stats_.in_flight >= options_.max_in_flight) {
    stats_.deferred++;
    e->queued = true;
    queue_.push_back(e);
    return;
  }
  e->queued = false;
  e->running = true;
  stats_.in_flight++;
  stats_.runs++;
  // Published before the run's start is read, so whoever reads the clock
  // after a publication without this run sees a time before its start.
  e->run_id = running_starts_.Begin(clock_->Now());
  PublishRunningSince();
  e->started = clock_->Now();
  if (e->planned != absl::Time()) {
    const int64_t late_us = absl::ToInt64Microseconds(e->started - e->planned);
    if (lateness_us_.size() < kLatenessSamples) {
      lateness_us_.push_back(late_us);
    } else {
      lateness_us_[lateness_next_ % kLatenessSamples] = late_us;
    }
    ++lateness_next_;
  }
  EventLoop::MonoTime deadline = loop_->Now() + e->timeout;
  ArmDeadline(e, deadline);
  // Two pointers fit std::function's inline storage: no allocation per run.
  e->probe->Run(deadline, [this, e](Probe::Results results) { OnDone(e, results); });
}

void Scheduler::PublishRunningSince() {
  const absl::Time since = running_starts_.Earliest();
  if (running_since_sink_ && since != published_since_) {
    published_since_ = since;
    running_since_sink_(since);
  }
}

void Scheduler::OnDone(Entry* e, Probe::Results results) {
  const absl::Time start = e->started;
  CancelDeadline(e);
  e->running = false;
  stats_.in_flight--;
  const ResultStamp stamp{e->check.name(),    e->check.service(), e->kind,
                          options_.prober_id, options_.region,    start};
  for (v1::ProbeResult* r : results) {
    common::NormalizeResultClass(r);
    sink_(stamp, *r);
  }
  // After its results went to the sink.
  running_starts_.End(e->run_id);
  PublishRunningSince();
  auto it = after_.find(e);
  if (it != after_.end()) {
    std::function<void()> after = std::move(it->second);
    after_.erase(it);
    after();
  }
  StartQueued();
}

void Scheduler::StartQueued() {
  while (!queue_.empty() && stats_.in_flight < options_.max_in_flight) {
    Entry* e = queue_.front();
    queue_.pop_front();
    Start(e, nullptr);
  }
}

void Scheduler::RunOnce(std::function<void()> all_done) {
  auto remaining = std::make_shared<size_t>(entries_.size());
  if (*remaining == 0) {
    loop_->Post(std::move(all_done));
    return;
  }
  auto shared_done = std::make_shared<std::function<void()>>(std::move(all_done));
  for (auto& [name, e] : entries_) {
    CancelSlot(e.get());
    Start(e.get(), [remaining, shared_done] {
      if (--*remaining == 0) {
        (*shared_done)();
      }
    });
  }
}

absl::Duration Scheduler::LatenessP99() const {
  if (lateness_us_.empty()) {
    return absl::ZeroDuration();
  }
  std::vector<int64_t> v = lateness_us_;
  size_t k = v.size() * 99 / 100;
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return absl::Microseconds(v[k]);
}

}  // namespace sonde::prober
