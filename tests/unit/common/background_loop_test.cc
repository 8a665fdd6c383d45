#include "common/background_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace sonde::common {
namespace {

// Waits (bounded) until `n` reaches `want`.
bool Reaches(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 1000 && n.load() < want; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return n.load() >= want;
}

// A pass that counts its runs in `n` and asks for `wait`.
BackgroundLoop::Pass Counting(std::atomic<int>* n, absl::Duration wait) {
  return [n, wait] {
    ++*n;
    return wait;
  };
}

TEST(BackgroundLoopTest, RunsThePassAtOnceThenAfterEachWaitItReturns) {
  std::atomic<int> passes{0};
  BackgroundLoop loop;
  loop.Start(Counting(&passes, absl::Milliseconds(1)));
  EXPECT_TRUE(loop.running());
  EXPECT_TRUE(Reaches(passes, 3));
  loop.Stop();
  EXPECT_FALSE(loop.running());
  const int after = passes.load();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(passes.load(), after);  // no pass once stopped
}

// A pass that asked for an hour's wait does not hold Stop() for it.
TEST(BackgroundLoopTest, StopEndsTheWait) {
  std::atomic<int> passes{0};
  BackgroundLoop loop;
  loop.Start(Counting(&passes, absl::Hours(1)));
  ASSERT_TRUE(Reaches(passes, 1));
  loop.Stop();  // would hang for an hour if it waited
  EXPECT_EQ(passes.load(), 1);
}

// Stop() returns only once the pass in progress has finished.
TEST(BackgroundLoopTest, StopLetsThePassInProgressFinish) {
  absl::Notification entered, release;
  std::atomic<bool> finished{false};
  BackgroundLoop loop;
  loop.Start([&] {
    entered.Notify();
    release.WaitForNotification();
    finished = true;
    return absl::Milliseconds(1);
  });
  entered.WaitForNotification();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    loop.Stop();
    stopped = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(stopped.load());
  release.Notify();
  stopper.join();
  EXPECT_TRUE(finished.load());
}

TEST(BackgroundLoopTest, OneThreadAtATimeAndAStoppedLoopStaysStopped) {
  std::atomic<int> first{0}, second{0}, later{0};
  BackgroundLoop loop;
  loop.Start(Counting(&first, absl::Hours(1)));
  loop.Start(Counting(&second, absl::Hours(1)));  // already running: ignored
  ASSERT_TRUE(Reaches(first, 1));
  loop.Stop();
  loop.Start(Counting(&later, absl::Milliseconds(1)));  // stopped: ignored
  EXPECT_FALSE(loop.running());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(second.load(), 0);
  EXPECT_EQ(later.load(), 0);
  loop.Stop();  // again: nothing to do
}

TEST(BackgroundLoopTest, DestroyingARunningLoopStopsIt) {
  std::atomic<int> passes{0};
  {
    BackgroundLoop loop;
    loop.Start(Counting(&passes, absl::Hours(1)));
    ASSERT_TRUE(Reaches(passes, 1));
  }  // joins here, without waiting the hour
  EXPECT_EQ(passes.load(), 1);
}

TEST(BackgroundLoopTest, StoppingALoopNeverStartedDoesNothing) {
  BackgroundLoop loop;
  loop.Stop();
  EXPECT_FALSE(loop.running());
}

}  // namespace
}  // namespace sonde::common
