#include "prober/probes/result_pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "prober/probes/probe.h"

namespace sonde::prober {
namespace {

// A message taken after one was given back is empty: nothing of the
// earlier run shows in the next. It is the same message (its memory kept).
TEST(ResultPoolTest, ATakenResultIsEmptyAfterReuse) {
  ResultPool pool(4);
  std::unique_ptr<v1::ProbeResult> r = pool.Take();
  r->set_detail(std::string(200, 'x'));
  r->set_target("example.test:443");
  r->add_dns()->set_resolver("10.0.0.1");
  r->mutable_start_time()->set_seconds(5);
  const v1::ProbeResult* given = r.get();
  pool.Give(std::move(r));
  EXPECT_EQ(pool.size(), 1u);

  std::unique_ptr<v1::ProbeResult> again = pool.Take();
  EXPECT_EQ(again.get(), given);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(again->ByteSizeLong(), 0u) << again->DebugString();
  EXPECT_EQ(again->dns_size(), 0);
  EXPECT_FALSE(again->has_start_time());
  // An empty pool makes a new message.
  EXPECT_EQ(pool.Take()->ByteSizeLong(), 0u);
}

TEST(ResultPoolTest, KeepsAtMostItsBound) {
  ResultPool pool(2);
  for (int i = 0; i < 5; ++i) {
    pool.Give(std::make_unique<v1::ProbeResult>());
  }
  pool.Give(nullptr);
  EXPECT_EQ(pool.size(), 2u);
}

// A delivered result is lent to `done` (repaired, as it was filled) and
// goes back to the env's pool once `done` returned.
TEST(ResultPoolTest, DeliverResultLendsTheMessageAndGivesItBack) {
  ResultPool pool(4);
  ProbeEnv env;
  env.results = &pool;
  std::unique_ptr<v1::ProbeResult> r = NewResult(env);
  const v1::ProbeResult* lent = r.get();
  r->set_detail("bad \xc3");
  std::vector<v1::ProbeResult> got;
  size_t pooled_during_call = 99;
  Probe::Done done = [&](Probe::Results rs) {
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0], lent);
    got.push_back(*rs[0]);
    pooled_during_call = pool.size();
  };
  DeliverResult(env, &done, &r);
  EXPECT_EQ(r, nullptr);
  EXPECT_FALSE(done);  // moved out: called exactly once
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].detail(), "bad \\xc3");
  EXPECT_EQ(pooled_during_call, 0u);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(NewResult(env).get(), lent);
}

}  // namespace
}  // namespace sonde::prober
