// The --collector list and the choice of replica (CollectorTargets): what
// the flag accepts, that a failed stream moves to the next replica exactly
// once however many threads saw it fail, and that a stream that worked
// returns to the first, preferred replica -- or, once the acks say cluster
// mode, goes to a replica drawn at random.
#include "prober/uplink/collector_targets.h"

#include <gtest/gtest.h>

#include <memory>
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
  CollectorTargets targets(Targets(3));
  EXPECT_EQ(targets.current(), 0u) << "the first listed is preferred";
  // The uplink and the config client both saw 0 fail: one move.
  EXPECT_EQ(targets.Failed(0), 1u);
  EXPECT_EQ(targets.Failed(0), 1u);
  // Each replica is tried in turn, then the first again.
  EXPECT_EQ(targets.Failed(1), 2u);
  EXPECT_EQ(targets.Failed(2), 0u);
  targets.Select(2);
  EXPECT_EQ(targets.current(), 2u);
  targets.Select(9);  // out of range: ignored
  EXPECT_EQ(targets.current(), 2u);
  // A stream that worked ended (the maximum connection age): back to the
  // preferred replica.
  EXPECT_EQ(targets.Prefer(2), 0u);
  EXPECT_EQ(targets.current(), 0u);
  // Acks without Ack.spread change nothing.
  EXPECT_FALSE(targets.LearnSpread(false, 0));
  EXPECT_FALSE(targets.spread());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(targets.Prefer(0), 0u);
  }
}

TEST(CollectorTargetsTest, ClusterModeDrawsAReplicaAtRandomAtStartAndAfterEachStream) {
  constexpr int kReplicas = 3;
  constexpr int kProbers = 300;
  // The start: every prober streams to the first replica until an ack says
  // cluster mode; then it draws once, and moves only when the draw is
  // another replica.
  std::vector<int> at_start(kReplicas, 0);
  for (int p = 0; p < kProbers; ++p) {
    CollectorTargets targets(Targets(kReplicas), /*seed=*/p);
    ASSERT_EQ(targets.current(), 0u);
    const bool move = targets.LearnSpread(true, 0);
    EXPECT_EQ(move, targets.current() != 0u);
    EXPECT_FALSE(targets.LearnSpread(true, targets.current())) << "drawn once per start";
    EXPECT_TRUE(targets.spread());
    at_start[targets.current()]++;
  }
  // After each stream that worked and ended: a new draw.
  CollectorTargets targets(Targets(kReplicas), /*seed=*/7);
  targets.LearnSpread(true, 0);
  std::vector<int> after_age(kReplicas, 0);
  for (int i = 0; i < kProbers; ++i) {
    after_age[targets.Prefer(targets.current())]++;
  }
  for (int r = 0; r < kReplicas; ++r) {
    // Uniform: 100 each expected; 50 is more than 7 standard deviations off.
    EXPECT_GT(at_start[r], 50) << "replica " << r;
    EXPECT_GT(after_age[r], 50) << "replica " << r;
  }
  // The start's draw moved the current replica away from the stream that
  // ended: the next stream goes there, not to another draw.
  std::unique_ptr<CollectorTargets> moving;
  for (uint64_t seed = 1; moving == nullptr && seed < 100; ++seed) {
    auto t = std::make_unique<CollectorTargets>(Targets(kReplicas), seed);
    if (t->LearnSpread(true, 0)) {
      moving = std::move(t);
    }
  }
  ASSERT_NE(moving, nullptr);
  CollectorTargets& moved = *moving;
  const size_t drawn = moved.current();
  EXPECT_EQ(moved.Prefer(0), drawn);
  // A stream that failed without an ack still moves to the next at once.
  EXPECT_EQ(moved.Failed(drawn), (drawn + 1) % kReplicas);
  // Acks without Ack.spread again (the replicas left cluster mode): back to
  // the first, preferred replica.
  moved.LearnSpread(false, moved.current());
  EXPECT_EQ(moved.Prefer(moved.current()), 0u);
}

TEST(CollectorTargetsTest, OneReplicaStaysCurrent) {
  std::shared_ptr<CollectorTargets> one = CollectorTargets::Single(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  EXPECT_EQ(one->size(), 1u);
  EXPECT_EQ(one->current(), 0u);
  EXPECT_EQ(one->Failed(0), 0u);
  EXPECT_EQ(one->Prefer(0), 0u);
  EXPECT_FALSE(one->LearnSpread(true, 0));
  EXPECT_EQ(one->Prefer(0), 0u);
}

}  // namespace
}  // namespace sonde::prober
