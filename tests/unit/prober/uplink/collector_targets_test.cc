// The --collector list and the choice of replica (CollectorTargets): what
// the flag accepts, that a failed stream moves to the next replica exactly
// once however many threads saw it fail, and that Spread spreads.
#include "prober/uplink/collector_targets.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace sonde::prober {
namespace {

TEST(ParseCollectorListTest, AcceptsOneOrSeveralReplicas) {
  struct Case {
    std::string flag;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"a:7600", {"a:7600"}},
      {"a:7600,b:7600", {"a:7600", "b:7600"}},
      {" a:7600 , b:7601 ", {"a:7600", "b:7601"}},
      {"[::1]:7600,127.0.0.1:7600", {"[::1]:7600", "127.0.0.1:7600"}},
      {"collectors.example:7600", {"collectors.example:7600"}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<std::string>> got = ParseCollectorList(c.flag);
    ASSERT_TRUE(got.ok()) << c.flag << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.flag;
  }
}

TEST(ParseCollectorListTest, RefusesEmptyBadAndRepeatedEntries) {
  std::string too_many;
  for (size_t i = 0; i <= kMaxCollectors; ++i) {
    too_many += absl::StrCat(i == 0 ? "" : ",", "h", i, ":7600");
  }
  for (const std::string& flag :
       {std::string(""), std::string("a:7600,"), std::string(",a:7600"),
        std::string("a:7600,,b:7600"), std::string("a:0"), std::string("a:70000"),
        std::string("a:7600,a:7600"), std::string("[::1:7600"), too_many}) {
    absl::StatusOr<std::vector<std::string>> got = ParseCollectorList(flag);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << flag << "\"";
  }
}

std::vector<CollectorTargets::Target> Targets(int n) {
  std::vector<CollectorTargets::Target> out;
  for (int i = 0; i < n; ++i) {
    // Never connected: the choice does not look at channels.
    const std::string address = absl::StrCat("127.0.0.1:", 1 + i);
    out.push_back({address, grpc::CreateChannel(address, grpc::InsecureChannelCredentials())});
  }
  return out;
}

TEST(CollectorTargetsTest, FailedMovesToTheNextReplicaInTurnAndOnlyOnce) {
  CollectorTargets targets(Targets(3), /*seed=*/7);
  const size_t first = targets.current();
  ASSERT_LT(first, 3u);
  // The uplink and the config client both saw `first` fail: one move.
  EXPECT_EQ(targets.Failed(first), (first + 1) % 3);
  EXPECT_EQ(targets.Failed(first), (first + 1) % 3);
  // Each replica is tried in turn, then the first again.
  EXPECT_EQ(targets.Failed((first + 1) % 3), (first + 2) % 3);
  EXPECT_EQ(targets.Failed((first + 2) % 3), first);
  targets.Select(2);
  EXPECT_EQ(targets.current(), 2u);
  targets.Select(9);  // out of range: ignored
  EXPECT_EQ(targets.current(), 2u);
}

TEST(CollectorTargetsTest, OneReplicaStaysCurrent) {
  std::shared_ptr<CollectorTargets> one = CollectorTargets::Single(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  EXPECT_EQ(one->size(), 1u);
  EXPECT_EQ(one->current(), 0u);
  EXPECT_EQ(one->Failed(0), 0u);
  EXPECT_EQ(one->Spread(), 0u);
}

TEST(CollectorTargetsTest, ProbersAndReconnectsSpreadOverTheReplicas) {
  // 300 probers with the same list start on every replica...
  std::map<size_t, int> starts;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    starts[CollectorTargets(Targets(3), seed).current()]++;
  }
  ASSERT_EQ(starts.size(), 3u);
  for (const auto& [index, n] : starts) {
    EXPECT_GT(n, 50) << "replica " << index;
  }
  // ...and streams reopened after the maximum connection age too.
  CollectorTargets targets(Targets(3), 1);
  std::map<size_t, int> spread;
  for (int i = 0; i < 300; ++i) {
    spread[targets.Spread()]++;
  }
  ASSERT_EQ(spread.size(), 3u);
  for (const auto& [index, n] : spread) {
    EXPECT_GT(n, 50) << "replica " << index;
  }
}

}  // namespace
}  // namespace sonde::prober
