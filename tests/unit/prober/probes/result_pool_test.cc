#include "prober/probes/result_pool.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sonde::prober {
namespace {

// A message taken after one was given back is empty: nothing of the
// earlier run shows in the next.
TEST(ResultPoolTest, ATakenResultIsEmptyAfterReuse) {
  ResultPool pool(4);
  std::vector<v1::ProbeResult> results(1);
  results[0].set_detail(std::string(200, 'x'));
  results[0].set_target("example.test:443");
  results[0].add_dns()->set_resolver("10.0.0.1");
  results[0].mutable_start_time()->set_seconds(5);
  pool.Give(&results);
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(pool.size(), 1u);

  v1::ProbeResult r = pool.Take();
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(r.ByteSizeLong(), 0u) << r.DebugString();
  EXPECT_EQ(r.dns_size(), 0);
  EXPECT_FALSE(r.has_start_time());
  // An empty pool makes a new message.
  EXPECT_EQ(pool.Take().ByteSizeLong(), 0u);
}

TEST(ResultPoolTest, KeepsAtMostItsBound) {
  ResultPool pool(2);
  std::vector<v1::ProbeResult> results(5);
  pool.Give(&results);
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(pool.size(), 2u);
}

}  // namespace
}  // namespace sonde::prober
