// The config agreement rule (collector/cluster/config_agreement.h): which
// version a replica records for every replica, and when it is out of step;
// and the config version itself.
#include "collector/cluster/config_agreement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sonde::collector::cluster {
namespace {

TEST(ConfigAgreementTest, DecideFollowsTheRule) {
  struct Case {
    const char* why;
    AgreementInput in;
    Agreement want;
  };
  const std::vector<Case> cases = {
      {"no config: never records", {"", "v1", true, false}, Agreement::kNoConfig},
      {"nothing recorded yet", {"v1", "", false, false}, Agreement::kRecordMine},
      {"same version", {"v1", "v1", false, true}, Agreement::kInStep},
      {"same version, reloaded", {"v1", "v1", true, true}, Agreement::kInStep},
      {"started with another file while the recorded one runs elsewhere",
       {"v2", "v1", false, true},
       Agreement::kOutOfStep},
      {"reloaded to another file: the operator's change",
       {"v2", "v1", true, true},
       Agreement::kRecordMine},
      {"started with another file and nobody runs the recorded one",
       {"v2", "v1", false, false},
       Agreement::kRecordMine},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Decide(c.in), c.want) << c.why;
  }
}

v1::Config Sample() {
  v1::Config c;
  c.add_regions("fra");
  c.add_regions("ams");
  v1::Check* check = c.add_checks();
  check->set_name("web");
  check->mutable_http()->set_url("https://example.com/");
  return c;
}

TEST(ConfigAgreementTest, TheVersionIsStableAndSeesEveryChange) {
  const std::string v = ConfigVersionOf(Sample());
  EXPECT_EQ(v.size(), 16u);
  EXPECT_EQ(ConfigVersionOf(Sample()), v) << "the same config, another version";
  v1::Config url = Sample();
  url.mutable_checks(0)->mutable_http()->set_url("https://example.com/health");
  EXPECT_NE(ConfigVersionOf(url), v);
  v1::Config region = Sample();
  region.add_regions("ber");
  EXPECT_NE(ConfigVersionOf(region), v);
  EXPECT_NE(ConfigVersionOf(v1::Config()), v);
}

}  // namespace
}  // namespace sonde::collector::cluster
