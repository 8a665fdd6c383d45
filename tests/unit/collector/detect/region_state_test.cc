#include "collector/detect/region_state.h"

#include <gtest/gtest.h>

#include <string>

namespace sonde::detect {
namespace {

struct Case {
  const char* name;
  const char* runs;  // F failed, S succeeded, oldest first
  double noise;
  bool down;
  bool outage;
};

TEST(RunStateMachineTest, DownAfterTwoOfThreeUpAfterThreeSuccesses) {
  const Case cases[] = {
      {"one failure", "SSSF", 0, false, false},
      {"two in a row", "SSFF", 0, true, true},
      // DOWN, but a success between the failures is not an outage: that
      // target answered in between (a partial failure, at one request per run).
      {"two of three", "SFSF", 0, true, false},
      {"two of three, then a second in a row", "SFSFF", 0, true, true},
      {"two of four", "FSSF", 0, false, false},
      {"still down after two successes", "FFSS", 0, true, true},
      {"up after three successes", "FFSSS", 0, false, false},
      {"noisy series: two in a row is not yet an outage", "SSFF", 0.01, true, false},
      {"noisy series: three in a row is", "SSFFF", 0.01, true, true},
      {"very noisy: needs ten", "SFFFFFFFFF", 0.3, true, false},
      {"very noisy: ten", "SFFFFFFFFFF", 0.3, true, true},
  };
  for (const Case& c : cases) {
    RunStateMachine sm;
    RunStateMachine::Params p;
    for (const char* r = c.runs; *r != '\0'; ++r) {
      sm.OnRun(*r == 'F', RunStateMachine::ConfirmRuns(c.noise, p), p);
    }
    EXPECT_EQ(sm.down(), c.down) << c.name;
    EXPECT_EQ(sm.outage(), c.outage) << c.name;
  }
}

TEST(RunStateMachineTest, ConfirmRunsMakeNoiseAnUnlikelyOutage) {
  RunStateMachine::Params p;  // false rate 1e-5
  EXPECT_EQ(RunStateMachine::ConfirmRuns(0, p), 2);
  EXPECT_EQ(RunStateMachine::ConfirmRuns(0.001, p), 2);  // 1e-6
  EXPECT_EQ(RunStateMachine::ConfirmRuns(0.01, p), 3);   // 1e-6
  EXPECT_EQ(RunStateMachine::ConfirmRuns(1.0 / 64, p),
            3);  // 25% of 3 requests all failing
  EXPECT_EQ(RunStateMachine::ConfirmRuns(0.2, p), 8);
  EXPECT_EQ(RunStateMachine::ConfirmRuns(0.5, p), 10);  // capped
}

TEST(RunStateMachineTest, ReportsChanges) {
  RunStateMachine sm;
  RunStateMachine::Params p;
  EXPECT_FALSE(sm.OnRun(true, 2, p));
  EXPECT_TRUE(sm.OnRun(true, 2, p));
  EXPECT_FALSE(sm.OnRun(false, 2, p));
  EXPECT_FALSE(sm.OnRun(false, 2, p));
  EXPECT_TRUE(sm.OnRun(false, 2, p));
  EXPECT_EQ(std::string(RegionStateName(RegionState::kStale)), "STALE");
}

}  // namespace
}  // namespace sonde::detect
