#include "prober/sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "prober/sched/run_starts.h"

namespace sonde::prober {
namespace {

using common::EventLoop;

TEST(SchedulerSpreadTest, OffsetsAreStableAndInsideInterval) {
  absl::Duration interval = absl::Seconds(30);
  for (int i = 0; i < 1000; ++i) {
    std::string name = absl::StrCat("check-", i);
    absl::Duration off = CheckOffset(name, interval);
    EXPECT_GE(off, absl::ZeroDuration());
    EXPECT_LT(off, interval);
    EXPECT_EQ(off, CheckOffset(name, interval));  // stable
  }
}

TEST(SchedulerSpreadTest, ThousandChecksSpreadEvenlyOverInterval) {
  // 1000 checks at 10 s: no 1 s bucket may hold more than 1.5x its share,
  // and none may be empty (a burst would show as a full bucket).
  absl::Duration interval = absl::Seconds(10);
  std::vector<int> buckets(10, 0);
  for (int i = 0; i < 1000; ++i) {
    absl::Duration off = CheckOffset(absl::StrCat("svc", i % 7, "-check-", i), interval);
    buckets[absl::ToInt64Seconds(off)]++;
  }
  for (int b : buckets) {
    EXPECT_LE(b, 150);
    EXPECT_GE(b, 50);
  }
}

TEST(SchedulerSpreadTest, SimilarNamesDoNotCluster) {
  absl::Duration interval = absl::Seconds(60);
  absl::Duration a = CheckOffset("host1-ssh", interval);
  absl::Duration b = CheckOffset("host2-ssh", interval);
  EXPECT_NE(a, b);
}

TEST(SchedulerSpreadTest, NextSlotIsStrictlyAfterAndAligned) {
  absl::Duration interval = absl::Seconds(30);
  absl::Time now = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(123);
  absl::Time slot = NextSlot("x", interval, now);
  EXPECT_GT(slot, now);
  EXPECT_LE(slot - now, interval);
  EXPECT_EQ(NextSlot("x", interval, slot), slot + interval);
  // Aligned to epoch + offset: identical on every prober.
  absl::Duration since = slot - absl::UnixEpoch() - CheckOffset("x", interval);
  EXPECT_EQ(since % interval, absl::ZeroDuration());
}

// A probe whose runs take `duration`; counts starts and concurrency.
class SlowProbe : public Probe {
 public:
  SlowProbe(EventLoop* loop, std::chrono::milliseconds duration, int* concurrent,
            int* max_concurrent, int* starts)
      : loop_(loop),
        duration_(duration),
        concurrent_(concurrent),
        max_(max_concurrent),
        starts_(starts) {}
  ~SlowProbe() override { loop_->Cancel(timer_); }
  void Run(EventLoop::MonoTime deadline, Done done) override {
    ++*starts_;
    ++running_;
    ++*concurrent_;
    *max_ = std::max(*max_, running_);
    done_ = std::move(done);
    timer_ = loop_->RunAfter(duration_, [this] { Complete(v1::FailureClass::OK); });
  }
  void Abort() override {
    loop_->Cancel(timer_);
    Complete(v1::FailureClass::TIMEOUT);
  }

 private:
  void Complete(v1::FailureClass::Code fc) {
    --running_;
    --*concurrent_;
    v1::ProbeResult r;
    r.set_failure_class(fc);
    auto done = std::move(done_);
    v1::ProbeResult* p = &r;
    done(Probe::Results(&p, 1));
  }
  EventLoop* loop_;
  std::chrono::milliseconds duration_;
  int* concurrent_;
  int* max_;
  int* starts_;
  int running_ = 0;
  EventLoop::TimerId timer_ = 0;
  Done done_;
};

v1::Check MakeCheck(const std::string& name, absl::Duration interval, absl::Duration timeout) {
  v1::Check c;
  c.set_name(name);
  c.set_service("svc");
  c.mutable_http()->set_url("http://127.0.0.1/");
  common::SetDuration(interval, c.mutable_interval());
  common::SetDuration(timeout, c.mutable_timeout());
  return c;
}

TEST(SchedulerTest, NeverOverlapsItselfAndAbortsAtDeadline) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0;
  std::vector<v1::ProbeResult> results;
  Scheduler::Options opts;
  opts.prober_id = "p1";
  opts.region = "fra";
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check&) {
        // Runs take 1 s but the interval is 100 ms and the timeout 80 ms.
        return std::make_unique<SlowProbe>(&loop, std::chrono::milliseconds(1000), &concurrent,
                                           &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult r) { results.push_back(std::move(r)); }), opts);
  s.SetChecks({MakeCheck("slow", absl::Milliseconds(100), absl::Milliseconds(80))});
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(1050));
  EXPECT_EQ(max_concurrent, 1);
  // Each run holds its slot until the abort at 80 ms + grace, so the next
  // slot is skipped: about one run per 200 ms.
  EXPECT_GE(results.size(), 4u);
  EXPECT_LE(results.size(), 6u);
  EXPECT_GE(s.stats().skipped_overlap, 4u);
  for (const auto& r : results) {
    EXPECT_EQ(r.failure_class(), v1::FailureClass::TIMEOUT);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.check_id(), "slow");
    EXPECT_EQ(r.prober_id(), "p1");
    EXPECT_EQ(r.region(), "fra");
    EXPECT_EQ(r.kind(), "http");
  }
  EXPECT_EQ(s.stats().aborted, results.size());
}

TEST(SchedulerTest, SlowCheckDoesNotDelayOthers) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0;
  std::map<std::string, int> count;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check& c) {
        auto d =
            c.name() == "hung" ? std::chrono::milliseconds(100000) : std::chrono::milliseconds(1);
        return std::make_unique<SlowProbe>(&loop, d, &concurrent, &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult r) { count[r.check_id()]++; }), Scheduler::Options{});
  std::vector<v1::Check> checks = {
      MakeCheck("hung", absl::Milliseconds(500), absl::Milliseconds(400))};
  for (int i = 0; i < 50; ++i) {
    checks.push_back(
        MakeCheck(absl::StrCat("fast", i), absl::Milliseconds(100), absl::Milliseconds(50)));
  }
  s.SetChecks(checks);
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(1000));
  for (int i = 0; i < 50; ++i) {
    // Ten slots fall in the second; the last may end after it.
    EXPECT_GE(count[absl::StrCat("fast", i)], 9) << i;
    EXPECT_LE(count[absl::StrCat("fast", i)], 10) << i;
  }
  // On a fake clock the only lateness is the wait for the start grid.
  EXPECT_LT(s.LatenessP99(), Scheduler::Options{}.start_grid);
}

// Runs of three timeouts in one loop: only runs still going at their
// deadline are aborted; a run that ended early leaves no abort behind, and a
// check dropped while its run was going is never aborted (nor called back).
TEST(SchedulerTest, AbortsOnlyRunsStillGoingAtTheirDeadline) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0;
  std::map<std::string, std::vector<v1::FailureClass::Code>> results;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check& c) {
        const auto duration = std::chrono::milliseconds(c.name() == "quick" ? 5 : 1000);
        return std::make_unique<SlowProbe>(&loop, duration, &concurrent, &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult r) { results[r.check_id()].push_back(r.failure_class()); }),
      Scheduler::Options{});
  s.SetChecks({MakeCheck("quick", absl::Milliseconds(100), absl::Milliseconds(200)),
               MakeCheck("slow", absl::Milliseconds(100), absl::Milliseconds(80)),
               MakeCheck("dropped", absl::Milliseconds(100), absl::Milliseconds(500))});
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(250));
  // dropped's run (started in the first 100 ms) is going, aborted at 550 ms.
  const size_t going = s.stats().in_flight;
  s.UpdateChecks({}, {"dropped"});
  EXPECT_EQ(s.stats().in_flight, going - 1);  // its run is gone, without a result
  const uint64_t aborted_before = s.stats().aborted;
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(1250));
  EXPECT_EQ(results.count("dropped"), 0u);
  ASSERT_GE(results["quick"].size(), 12u);
  for (v1::FailureClass::Code fc : results["quick"]) {
    EXPECT_EQ(fc, v1::FailureClass::OK);
  }
  ASSERT_GE(results["slow"].size(), 5u);
  for (v1::FailureClass::Code fc : results["slow"]) {
    EXPECT_EQ(fc, v1::FailureClass::TIMEOUT);
  }
  EXPECT_EQ(s.stats().aborted, results["slow"].size());
  EXPECT_GT(s.stats().aborted, aborted_before);
}

TEST(SchedulerTest, ChangedChecksAreReplacedUnchangedKept) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0, created = 0;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check&) {
        created++;
        return std::make_unique<SlowProbe>(&loop, std::chrono::milliseconds(1), &concurrent,
                                           &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult) {}), Scheduler::Options{});
  v1::Check a = MakeCheck("a", absl::Seconds(10), absl::Seconds(1));
  v1::Check b = MakeCheck("b", absl::Seconds(10), absl::Seconds(1));
  s.SetChecks({a, b});
  EXPECT_EQ(created, 2);
  common::SetDuration(absl::Seconds(20), b.mutable_interval());
  s.SetChecks({a, b});
  EXPECT_EQ(created, 3);  // only b was rebuilt
  s.SetChecks({a});
  EXPECT_EQ(s.stats().checks, 1u);
  // A delta rebuilds what it names: b changed again, c added, a unchanged
  // is kept; removing an unknown name is a no-op.
  common::SetDuration(absl::Seconds(30), b.mutable_interval());
  s.UpdateChecks({a, b, MakeCheck("c", absl::Seconds(10), absl::Seconds(1))}, {"nope"});
  EXPECT_EQ(created, 5);
  EXPECT_EQ(s.stats().checks, 3u);
  s.UpdateChecks({}, {"a", "c"});
  EXPECT_EQ(s.stats().checks, 1u);
}

TEST(SchedulerTest, SameCheckWithMapFieldsInAnotherOrderIsKept) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0, created = 0;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check&) {
        created++;
        return std::make_unique<SlowProbe>(&loop, std::chrono::milliseconds(1), &concurrent,
                                           &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult) {}), Scheduler::Options{});
  v1::Check a = MakeCheck("a", absl::Seconds(10), absl::Seconds(1));
  v1::Check b = a;
  for (int i = 0; i < 20; ++i) {
    (*a.mutable_http()->mutable_headers())[absl::StrCat("X-H", i)] = "v";
    (*b.mutable_http()->mutable_headers())[absl::StrCat("X-H", 19 - i)] = "v";
  }
  s.SetChecks({a});
  s.SetChecks({b});
  EXPECT_EQ(created, 1);
}

TEST(SchedulerTest, RunsStartOnTheGridAndLatenessCountsIt) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  const absl::Duration grid = absl::Milliseconds(100);
  std::vector<absl::Duration> phase;  // start time modulo the grid
  int concurrent = 0, max_concurrent = 0, starts = 0;
  class StampingProbe : public SlowProbe {
   public:
    StampingProbe(EventLoop* loop, const common::Clock* clock, std::vector<absl::Duration>* phase,
                  absl::Duration grid, int* c, int* m, int* s)
        : SlowProbe(loop, std::chrono::milliseconds(1), c, m, s),
          clock_(clock),
          phase_(phase),
          grid_(grid) {}
    void Run(EventLoop::MonoTime deadline, Done done) override {
      phase_->push_back((clock_->Now() - absl::UnixEpoch()) % grid_);
      SlowProbe::Run(deadline, std::move(done));
    }

   private:
    const common::Clock* clock_;
    std::vector<absl::Duration>* phase_;
    absl::Duration grid_;
  };
  Scheduler::Options opts;
  opts.start_grid = grid;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check&) {
        return std::make_unique<StampingProbe>(&loop, &clock, &phase, grid, &concurrent,
                                               &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult) {}), opts);
  std::vector<v1::Check> checks;
  for (int i = 0; i < 20; ++i) {
    checks.push_back(
        MakeCheck(absl::StrCat("c", i), absl::Milliseconds(300), absl::Milliseconds(50)));
  }
  s.SetChecks(checks);
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(1000));
  ASSERT_GE(phase.size(), 40u);
  for (absl::Duration p : phase) {
    EXPECT_EQ(p, absl::ZeroDuration()) << "a run started off the grid";
  }
  // Slots are spread inside the interval, starts are not: the lateness
  // people see includes the wait for the grid, and nothing else.
  EXPECT_GT(s.LatenessP99(), absl::Milliseconds(20));
  EXPECT_LT(s.LatenessP99(), grid);
}

TEST(SchedulerTest, RunOnceRunsEveryCheckAndCallsBack) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0;
  int results = 0;
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check&) {
        return std::make_unique<SlowProbe>(&loop, std::chrono::milliseconds(5), &concurrent,
                                           &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult) { results++; }), Scheduler::Options{});
  s.SetChecks({MakeCheck("a", absl::Hours(1), absl::Seconds(1)),
               MakeCheck("b", absl::Hours(1), absl::Seconds(1))});
  bool done = false;
  s.RunOnce([&] {
    done = true;
    loop.Stop();
  });
  loop.RunUntil(&clock, loop.Now() + std::chrono::hours(1));
  EXPECT_TRUE(done);
  EXPECT_EQ(results, 2);
}

// What the uplink's complete_before is made of: read together with the
// results sunk so far (as the uplink does under its lock), min(now, the
// earliest start still running) is never after the start of a result sunk
// later, even while a slow run of another check is going; and it moves on
// once that run is over.
TEST(SchedulerTest, RunningSinceNeverPassesARunStillGoing) {
  common::FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  int concurrent = 0, max_concurrent = 0, starts = 0;
  absl::Time running_since = absl::InfiniteFuture();
  absl::Time promised = absl::InfinitePast();  // the largest promise read so far
  int broken = 0, emitted = 0, held_back = 0;
  absl::Time slow_start = absl::InfinitePast();
  Scheduler s(
      &loop, &clock,
      [&](const v1::Check& c) {
        auto d = c.name() == "slow" ? std::chrono::milliseconds(300) : std::chrono::milliseconds(2);
        return std::make_unique<SlowProbe>(&loop, d, &concurrent, &max_concurrent, &starts);
      },
      Stamped([&](v1::ProbeResult r) {
        ++emitted;
        if (common::ToTime(r.start_time()) < promised) {
          ++broken;
        }
        if (r.check_id() == "slow") {
          slow_start = common::ToTime(r.start_time());
        }
      }),
      Scheduler::Options{});
  s.set_running_since_sink([&](absl::Time t) { running_since = t; });
  // A reader (the uplink forming a batch) every 10 ms.
  std::function<void()> read = [&] {
    const absl::Time p = std::min(clock.Now(), running_since);
    if (p < clock.Now() - absl::Milliseconds(100)) {
      ++held_back;  // a run started over 100 ms ago (the slow one) is going
    }
    promised = std::max(promised, p);
    loop.RunAfter(std::chrono::milliseconds(10), read);
  };
  loop.RunAfter(std::chrono::milliseconds(1), read);
  s.SetChecks({MakeCheck("slow", absl::Seconds(1), absl::Milliseconds(900)),
               MakeCheck("fast", absl::Milliseconds(50), absl::Milliseconds(40))});
  loop.RunUntil(&clock, loop.Now() + std::chrono::milliseconds(3000));
  EXPECT_GT(emitted, 50);
  EXPECT_EQ(broken, 0) << "results started before an instant already promised complete";
  EXPECT_GT(held_back, 0) << "the slow run never held the promise back";
  EXPECT_GT(promised, slow_start) << "the promise did not move past the slow run once it ended";
}

// The ring of run starts: runs end in any order, the earliest start going
// is the front, the ring grows past its first capacity, and a clock that
// steps back never leaves the earliest start after a run still going.
TEST(RunStartsTest, EarliestOfTheRunsGoing) {
  RunStarts r;
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(r.Earliest(), absl::InfiniteFuture());
  std::vector<RunStarts::RunId> ids;
  for (int i = 0; i < 200; ++i) {  // past the initial 64 slots
    ids.push_back(r.Begin(t0 + absl::Milliseconds(i)));
  }
  EXPECT_EQ(r.going(), 200u);
  EXPECT_EQ(r.Earliest(), t0);
  r.End(ids[1]);  // behind the front: the front stays
  EXPECT_EQ(r.Earliest(), t0);
  r.End(ids[0]);  // the front and the ended one behind it leave
  EXPECT_EQ(r.Earliest(), t0 + absl::Milliseconds(2));
  r.End(ids[0]);  // twice: no effect
  EXPECT_EQ(r.going(), 198u);
  // The clock steps back 1 s: the earliest is that start, though older runs go.
  const RunStarts::RunId back = r.Begin(t0 - absl::Seconds(1));
  EXPECT_EQ(r.Earliest(), t0 - absl::Seconds(1));
  for (int i = 2; i < 200; ++i) {
    r.End(ids[i]);
    EXPECT_LE(r.Earliest(), t0 - absl::Seconds(1));
  }
  r.End(back);
  EXPECT_EQ(r.Earliest(), absl::InfiniteFuture());
  EXPECT_EQ(r.going(), 0u);
  // Reused after wrapping round.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      ids[i] = r.Begin(t0 + absl::Seconds(round) + absl::Milliseconds(i));
    }
    for (int i = 99; i >= 0; --i) {
      EXPECT_EQ(r.Earliest(), t0 + absl::Seconds(round));
      r.End(ids[i]);
    }
    EXPECT_EQ(r.Earliest(), absl::InfiniteFuture());
  }
}

}  // namespace
}  // namespace sonde::prober
