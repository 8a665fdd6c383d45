#include "common/event_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace sonde::common {
namespace {

using std::chrono::milliseconds;

// On a fake clock the loop jumps from timer to timer: each runs when the
// clock reads its time, none past `until` runs, and nothing sleeps.
TEST(EventLoopTest, RunUntilDrivesTimersOnAFakeClock) {
  FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  const EventLoop::MonoTime start = loop.Now();
  const absl::Time wall_start = clock.Now();
  std::vector<std::pair<int, EventLoop::MonoTime>> fired;
  loop.RunAfter(std::chrono::hours(2), [&] { fired.push_back({3, loop.Now()}); });
  loop.RunAfter(milliseconds(250), [&] {
    fired.push_back({2, loop.Now()});
    // Re-arming from a callback works on fake time too.
    loop.RunAfter(milliseconds(100), [&] { fired.push_back({4, loop.Now()}); });
  });
  auto cancelled = loop.RunAfter(milliseconds(20), [&] { fired.push_back({99, loop.Now()}); });
  loop.RunAfter(milliseconds(10), [&] { fired.push_back({1, loop.Now()}); });
  loop.Cancel(cancelled);
  const auto real_start = std::chrono::steady_clock::now();
  loop.RunUntil(&clock, start + std::chrono::hours(1));
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, std::chrono::seconds(1));
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0], std::make_pair(1, start + milliseconds(10)));
  EXPECT_EQ(fired[1], std::make_pair(2, start + milliseconds(250)));
  EXPECT_EQ(fired[2], std::make_pair(4, start + milliseconds(350)));
  EXPECT_EQ(loop.Now(), start + std::chrono::hours(1));
  EXPECT_EQ(clock.Now(), wall_start + absl::Hours(1));  // wall time moved along
  // The two-hour timer is still pending; Stop() ends a run before `until`.
  loop.RunAfter(milliseconds(1), [&] { loop.Stop(); });
  loop.RunUntil(&clock, start + std::chrono::hours(3));
  EXPECT_EQ(fired.size(), 3u);
  EXPECT_EQ(loop.Now(), start + std::chrono::hours(1) + milliseconds(1));
}

TEST(EventLoopTest, TimersRunInOrderAndCancelWorks) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;
  loop.RunAfter(milliseconds(30), [&] {
    order.push_back(3);
    loop.Stop();
  });
  loop.RunAfter(milliseconds(10), [&] { order.push_back(1); });
  auto cancelled = loop.RunAfter(milliseconds(15), [&] { order.push_back(99); });
  loop.RunAfter(milliseconds(20), [&] { order.push_back(2); });
  loop.Cancel(cancelled);
  auto start = loop.Now();
  loop.Run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(loop.Now() - start, milliseconds(30));
}

TEST(EventLoopTest, PostFromOtherThreadsRunsOnLoop) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::thread::id loop_thread;
  int count = 0;
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) {
      loop.Post([&] {
        count++;
        loop_thread = std::this_thread::get_id();
        if (count == 1000) {
          loop.Stop();
        }
      });
    }
  });
  loop.Run();
  t.join();
  EXPECT_EQ(count, 1000);
  EXPECT_EQ(loop_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, FdReadinessAndRemoveInsideCallback) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  int fired = 0;
  ASSERT_TRUE(loop.AddFd(p[0], EPOLLIN,
                         [&](uint32_t ev) {
                           EXPECT_TRUE(ev & EPOLLIN);
                           fired++;
                           loop.RemoveFd(p[0]);
                           loop.RunAfter(milliseconds(20), [&] { loop.Stop(); });
                         })
                  .ok());
  ASSERT_EQ(write(p[1], "x", 1), 1);
  loop.Run();
  EXPECT_EQ(fired, 1);  // level-triggered, but removed: fires once
  close(p[0]);
  close(p[1]);
}

TEST(EventLoopTest, CloseFdFromItsCallbackStopsItsEventsAndFreesTheNumber) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  int fired = 0;
  int reused_fired = 0;
  ASSERT_TRUE(loop.AddFd(p[0], EPOLLIN,
                         [&](uint32_t) {
                           fired++;
                           const int old_fd = p[0];
                           loop.CloseFd(old_fd);  // level-triggered and unread
                           int q[2];
                           ASSERT_EQ(pipe(q), 0);
                           EXPECT_EQ(q[0], old_fd);  // the lowest free fd number
                           ASSERT_TRUE(loop.AddFd(q[0], EPOLLIN,
                                                  [&, q0 = q[0]](uint32_t) {
                                                    reused_fired++;
                                                    loop.CloseFd(q0);
                                                    loop.Stop();
                                                  })
                                           .ok());
                           loop.RunAfter(milliseconds(20), [q1 = q[1]] {
                             ASSERT_EQ(write(q1, "y", 1), 1);
                             close(q1);
                           });
                         })
                  .ok());
  ASSERT_EQ(write(p[1], "x", 1), 1);
  loop.RunAfter(milliseconds(5000), [&] { loop.Stop(); });  // bound
  loop.Run();
  EXPECT_EQ(fired, 1);         // closed: its pending data never fires again
  EXPECT_EQ(reused_fired, 1);  // the number's new owner gets its own events
  close(p[1]);
}

TEST(EventLoopTest, TimersWithTheSameDeadlineRunInCreationOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;
  auto when = loop.Now() + milliseconds(5);
  for (int i = 0; i < 50; ++i) {
    loop.RunAt(when, [&, i] { order.push_back(i); });
  }
  loop.RunAt(when + milliseconds(1), [&] { loop.Stop(); });
  loop.Run();
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(order[i], i);
  }
}

TEST(EventLoopTest, ManyCancelledTimersLeaveNothingBehind) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  // Far-away timers cancelled at once (what a curl transfer does with its
  // timer all the time) must not pile up.
  for (int i = 0; i < 20000; ++i) {
    loop.Cancel(
        loop.RunAfter(std::chrono::hours(1), [] { ADD_FAILURE() << "cancelled timer ran"; }));
  }
  EXPECT_EQ(loop.timer_count(), 0u);
  bool fired = false;
  loop.RunAfter(milliseconds(2), [&] {
    fired = true;
    loop.Stop();
  });
  EXPECT_EQ(loop.timer_count(), 1u);
  loop.Run();
  EXPECT_TRUE(fired);
  EXPECT_EQ(loop.timer_count(), 0u);
}

TEST(EventLoopTest, TimerNeverFiresEarly) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<std::chrono::microseconds> early;
  int left = 20;
  for (int i = 0; i < 20; ++i) {
    auto when = loop.Now() + std::chrono::microseconds(300 * i + 150);
    loop.RunAt(when, [&, when] {
      auto now = loop.Now();
      if (now < when) {
        early.push_back(std::chrono::duration_cast<std::chrono::microseconds>(when - now));
      }
      if (--left == 0) {
        loop.Stop();
      }
    });
  }
  loop.Run();
  EXPECT_TRUE(early.empty());
}

TEST(EventLoopTest, PostFromTheLoopThreadRunsLaterNotInside) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;
  loop.RunAfter(milliseconds(1), [&] {
    loop.Post([&] {
      order.push_back(2);
      loop.Post([&] {  // posted by a posted function: runs too
        order.push_back(3);
        loop.Stop();
      });
    });
    order.push_back(1);
  });
  loop.Run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoopTest, FdRemovedAndReusedInTheSameBatchGetsNoStaleEvent) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  int a_fired = 0, b_fired = 0, reused_fired = 0;
  // Both readable before the loop runs: one epoll batch reports both. The
  // first callback to run closes the other pipe's read end and opens a new
  // pipe that gets that fd number; the old fd's event must not reach the
  // new registration.
  auto on_first = [&](int* mine, int my_read, int other_read) {
    (*mine)++;
    char byte;
    ASSERT_EQ(read(my_read, &byte, 1), 1);
    if (a_fired + b_fired > 1) {
      return;
    }
    loop.RemoveFd(other_read);
    close(other_read);
    int c[2];
    ASSERT_EQ(pipe(c), 0);
    EXPECT_EQ(c[0], other_read);  // the lowest free fd number
    ASSERT_TRUE(loop.AddFd(c[0], EPOLLIN, [&](uint32_t) { reused_fired++; }).ok());
    loop.RunAfter(milliseconds(20), [&, c0 = c[0], c1 = c[1]] {
      loop.RemoveFd(c0);
      close(c0);
      close(c1);
      loop.Stop();
    });
  };
  ASSERT_TRUE(loop.AddFd(a[0], EPOLLIN, [&](uint32_t) { on_first(&a_fired, a[0], b[0]); }).ok());
  ASSERT_TRUE(loop.AddFd(b[0], EPOLLIN, [&](uint32_t) { on_first(&b_fired, b[0], a[0]); }).ok());
  ASSERT_EQ(write(a[1], "x", 1), 1);
  ASSERT_EQ(write(b[1], "x", 1), 1);
  loop.Run();
  EXPECT_EQ(a_fired + b_fired, 1);  // the closed one's pending event was dropped
  EXPECT_EQ(reused_fired, 0);       // and never reached the fd's new owner
  int survivor = a_fired == 1 ? a[0] : b[0];
  loop.RemoveFd(survivor);
  close(survivor);
  close(a[1]);
  close(b[1]);
}

}  // namespace
}  // namespace sonde::common
