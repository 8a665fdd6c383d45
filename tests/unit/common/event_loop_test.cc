#include "common/event_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace sonde::common {
namespace {

using std::chrono::milliseconds;

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
  auto start = EventLoop::Now();
  loop.Run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(EventLoop::Now() - start, milliseconds(30));
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
        if (count == 1000) loop.Stop();
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

TEST(EventLoopTest, TimersWithTheSameDeadlineRunInCreationOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;
  auto when = EventLoop::Now() + milliseconds(5);
  for (int i = 0; i < 50; ++i) loop.RunAt(when, [&, i] { order.push_back(i); });
  loop.RunAt(when + milliseconds(1), [&] { loop.Stop(); });
  loop.Run();
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
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
    auto when = EventLoop::Now() + std::chrono::microseconds(300 * i + 150);
    loop.RunAt(when, [&, when] {
      auto now = EventLoop::Now();
      if (now < when)
        early.push_back(std::chrono::duration_cast<std::chrono::microseconds>(when - now));
      if (--left == 0) loop.Stop();
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
    if (a_fired + b_fired > 1) return;
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
