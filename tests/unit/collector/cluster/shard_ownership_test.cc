// Rendezvous hashing of detection shards (collector/cluster/shard_ownership.h):
// the choice is the same on every
// replica whatever order it lists the members in, spreads the shards, and
// a member that leaves or joins moves only its own share.
#include "collector/cluster/shard_ownership.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "collector/cluster/shards.h"

namespace sonde::collector::cluster {
namespace {

std::map<int, std::string> Owners(const std::vector<std::string>& members) {
  std::map<int, std::string> out;
  for (int s = 0; s < kShardCount; ++s) {
    out[s] = RendezvousOwner(s, members);
  }
  return out;
}

TEST(ShardOwnershipTest, RendezvousIsTheSameInAnyOrderAndSpreadsTheShards) {
  const std::vector<std::string> abc = {"c1:7600", "c2:7600", "c3:7600"};
  const std::vector<std::string> cab = {"c3:7600", "c1:7600", "c2:7600"};
  EXPECT_EQ(Owners(abc), Owners(cab));
  std::map<std::string, int> per_member;
  for (const auto& [shard, owner] : Owners(abc)) {
    ++per_member[owner];
  }
  ASSERT_EQ(per_member.size(), 3u);
  for (const auto& [member, n] : per_member) {
    EXPECT_GE(n, 10) << member << " gets too few of 64 shards";
    EXPECT_LE(n, 35) << member << " gets too many of 64 shards";
  }
  // ShardsFor is the same partition seen from each member.
  std::set<int> all;
  for (const std::string& m : abc) {
    for (int s : ShardsFor(m, abc)) {
      EXPECT_TRUE(all.insert(s).second) << "shard " << s << " given twice";
      EXPECT_EQ(Owners(abc)[s], m);
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kShardCount));
  EXPECT_TRUE(ShardsFor("c4:7600", abc).empty()) << "a non-candidate owns nothing";
  EXPECT_EQ(RendezvousOwner(5, {}), "");
}

TEST(ShardOwnershipTest, ALeavingOrJoiningMemberMovesOnlyItsShare) {
  const std::vector<std::string> three = {"a", "b", "c"};
  const std::vector<std::string> two = {"a", "c"};  // b left
  const std::map<int, std::string> before = Owners(three);
  const std::map<int, std::string> after = Owners(two);
  int moved = 0;
  for (int s = 0; s < kShardCount; ++s) {
    if (before.at(s) == "b") {
      EXPECT_NE(after.at(s), "b");
      ++moved;
    } else {
      EXPECT_EQ(after.at(s), before.at(s)) << "shard " << s << " moved though its owner stayed";
    }
  }
  EXPECT_GT(moved, 0);
  // b joins again: exactly its old shards come back to it.
  EXPECT_EQ(Owners(three), before);
}

TEST(ShardOwnershipTest, CandidatesAreLiveInStepMembersInClusterMode) {
  ClusterView view;
  view.known = true;
  view.recorded_version = "v1";
  auto member = [](std::string id, std::string version, bool live, bool cluster) {
    MemberRow m;
    m.replica_id = std::move(id);
    m.config_version = std::move(version);
    m.live = live;
    m.cluster_mode = cluster;
    return m;
  };
  view.members = {member("a", "v1", true, true), member("b", "v2", true, true),
                  member("c", "v1", false, true), member("d", "v1", true, false),
                  member("e", "v1", true, true)};
  EXPECT_EQ(Candidates(view), (std::vector<std::string>{"a", "e"}));
  view.known = false;
  EXPECT_TRUE(Candidates(view).empty()) << "before the first beat nobody is a candidate";
}

}  // namespace
}  // namespace sonde::collector::cluster
