#include "prober/probes/spare_pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sonde::prober {
namespace {

struct TestState {
  std::string text;
};

// Each test its own type: the pools are per type and thread.
struct ReuseState : TestState {};
struct HeldState : TestState {};
struct BoundState : TestState {};
struct ThreadState : TestState {};

TEST(SparePoolTest, AGivenStateIsTakenAgainWithItsMemory) {
  std::shared_ptr<ReuseState> s = SparePool<ReuseState>::Take();
  s->text.assign(300, 'x');
  const ReuseState* given = s.get();
  SparePool<ReuseState>::Give(std::move(s));
  EXPECT_EQ(SparePool<ReuseState>::kept(), 1u);
  std::shared_ptr<ReuseState> again = SparePool<ReuseState>::Take();
  EXPECT_EQ(again.get(), given);
  EXPECT_EQ(again->text.size(), 300u);  // as its last run left it
  EXPECT_EQ(SparePool<ReuseState>::kept(), 0u);
}

// A late callback of a finished run may still hold its state: it is not
// handed to another run until that reference is gone.
TEST(SparePoolTest, AStateStillHeldIsNotHandedOut) {
  std::shared_ptr<HeldState> s = SparePool<HeldState>::Take();
  std::shared_ptr<HeldState> late_callback = s;
  SparePool<HeldState>::Give(std::move(s));
  std::shared_ptr<HeldState> other = SparePool<HeldState>::Take();
  EXPECT_NE(other.get(), late_callback.get());
  const HeldState* held = late_callback.get();
  late_callback.reset();
  EXPECT_EQ(SparePool<HeldState>::Take().get(), held);
}

// Bounded: however many runs end, at most kMax states are kept, so memory
// follows the runs in flight, not the configured checks.
TEST(SparePoolTest, KeepsAtMostKMax) {
  std::vector<std::shared_ptr<BoundState>> runs;
  for (size_t i = 0; i < 3 * SparePool<BoundState>::kMax; ++i) {
    runs.push_back(SparePool<BoundState>::Take());
  }
  for (std::shared_ptr<BoundState>& s : runs) {
    SparePool<BoundState>::Give(std::move(s));
  }
  EXPECT_EQ(SparePool<BoundState>::kept(), SparePool<BoundState>::kMax);
}

TEST(SparePoolTest, EachThreadHasItsOwn) {
  SparePool<ThreadState>::Give(SparePool<ThreadState>::Take());
  EXPECT_EQ(SparePool<ThreadState>::kept(), 1u);
  size_t seen = 99;
  std::thread([&] { seen = SparePool<ThreadState>::kept(); }).join();
  EXPECT_EQ(seen, 0u);
}

}  // namespace
}  // namespace sonde::prober
