// Query.Status and Query.Checks as built from the detector's snapshot and
// the config: the broken-first order, which open incidents cover a row, the
// redaction of credentials, and the JSON field names (a contract:
// docs/api.md).
#include "collector/api/current_status.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "collector/cluster/shards.h"
#include "common/proto_time.h"
#include "common/result_json.h"

namespace sonde::collector {
namespace {

using detect::RegionState;

const absl::Time kNow = absl::FromUnixSeconds(1795252310);

DetectionRunner::SeriesView Series(const std::string& check, const std::string& service,
                                   const std::string& region, RegionState state) {
  DetectionRunner::SeriesView s;
  s.check = check;
  s.service = service;
  s.region = region;
  s.status.state = state;
  if (state != RegionState::kUnknown) {
    s.status.last_result = kNow - absl::Seconds(5);
  }
  return s;
}

detect::Incident Open(const std::string& id, const std::string& service,
                      std::vector<std::string> checks, std::vector<std::string> regions,
                      absl::Time opened) {
  detect::Incident i;
  i.id = id;
  i.service = service;
  i.checks = std::move(checks);
  i.regions = std::move(regions);
  i.opened_at = opened;
  i.updated_at = opened;
  return i;
}

std::vector<std::string> Order(const v1::StatusReply& reply) {
  std::vector<std::string> out;
  for (const v1::CheckRegionStatus& s : reply.statuses()) {
    out.push_back(s.check() + "/" + s.region() + "=" + s.state());
  }
  return out;
}

TEST(CurrentStatusTest, BrokenFirstThenRowsWithIncidentsThenByName) {
  DetectionRunner::Snapshot snap;
  snap.series = {Series("a-up", "a", "fra", RegionState::kUp),
                 Series("b-up", "b", "ams", RegionState::kUp),
                 Series("z-down", "z", "fra", RegionState::kDown),
                 Series("a-new", "a", "fra", RegionState::kUnknown),
                 Series("a-stale", "a", "ber", RegionState::kStale),
                 Series("c-deg", "c", "fra", RegionState::kDegraded),
                 Series("c-flap", "c", "fra", RegionState::kFlapping),
                 Series("b-down", "b", "fra", RegionState::kDown)};
  // b-up in ams is covered by a service-wide incident without checks.
  snap.open = {Open("b/regional_outage/1", "b", {}, {"ams"}, kNow - absl::Minutes(9))};
  v1::StatusReply reply = BuildStatusReply(snap, kNow);
  EXPECT_EQ(Order(reply),
            (std::vector<std::string>{"b-down/fra=DOWN", "z-down/fra=DOWN", "c-flap/fra=FLAPPING",
                                      "c-deg/fra=DEGRADED", "a-stale/ber=STALE",
                                      "a-new/fra=NO_DATA", "b-up/ams=UP", "a-up/fra=UP"}));
  EXPECT_EQ(reply.statuses(6).incident_ids_size(), 1);
  EXPECT_EQ(reply.statuses(0).incident_ids_size(), 0);  // b-down is in fra, not ams
  EXPECT_EQ(common::ToTime(reply.as_of()), kNow);
}

TEST(CurrentStatusTest, IncidentsCoverTheirChecksAndRegionsAndAreListedNewestFirst) {
  DetectionRunner::Snapshot snap;
  snap.series = {Series("login", "app", "fra", RegionState::kDown),
                 Series("login", "app", "ams", RegionState::kUp),
                 Series("tls", "app", "fra", RegionState::kUp)};
  snap.open = {Open("app/regional_outage/1", "app", {"login"}, {"fra"}, kNow - absl::Hours(1)),
               Open("app/partial_failure/2", "app", {"login", "tls"}, {}, kNow)};
  v1::StatusReply reply = BuildStatusReply(snap, kNow);
  ASSERT_EQ(reply.statuses_size(), 3);
  EXPECT_EQ(reply.statuses(0).check(), "login");
  EXPECT_EQ(reply.statuses(0).region(), "fra");
  EXPECT_EQ(reply.statuses(0).incident_ids_size(), 2);
  ASSERT_EQ(reply.open_incidents_size(), 2);
  EXPECT_EQ(reply.open_incidents(0).id(), "app/partial_failure/2");
  EXPECT_EQ(reply.open_incidents(1).status(), "open");
}

TEST(CurrentStatusTest, LastFailureDetailIsMadeSafe) {
  DetectionRunner::Snapshot snap;
  DetectionRunner::SeriesView s = Series("x", "x", "fra", RegionState::kDown);
  s.status.last_run_failed = true;
  s.status.last_failure = kNow - absl::Seconds(5);
  s.status.last_failure_class = v1::FailureClass::HTTP_STATUS;
  s.status.last_failure_detail = "HTTP 503\n\x1b[2Jforged";
  snap.series = {s};
  v1::StatusReply reply = BuildStatusReply(snap, kNow);
  const v1::CheckRegionStatus& row = reply.statuses(0);
  EXPECT_EQ(row.failure_class(), v1::FailureClass::HTTP_STATUS);
  EXPECT_EQ(row.last_failure_detail().find('\n'), std::string::npos);
  EXPECT_EQ(row.last_failure_detail().find('\x1b'), std::string::npos);
}

// The JSON of /api/v1/status and /api/v1/checks is a contract (docs/api.md):
// these exact field names and value spellings.
TEST(CurrentStatusTest, JsonFieldNamesArePinned) {
  DetectionRunner::Snapshot snap;
  DetectionRunner::SeriesView s = Series("login", "app", "fra", RegionState::kDown);
  s.status.last_run_failed = true;
  s.status.last_failure = kNow - absl::Seconds(5);
  s.status.last_failure_class = v1::FailureClass::TCP_REFUSED;
  s.status.last_failure_detail = "refused";
  snap.series = {s};
  snap.open = {Open("app/global_outage/1", "app", {"login"}, {"fra"}, kNow)};
  const std::string json = common::ToJsonLine(BuildStatusReply(snap, kNow));
  // Proto3 JSON prints scalars before messages (timestamps last).
  EXPECT_EQ(json.rfind("{\"statuses\":[{\"check\":\"login\",\"service\":\"app\",\"region\":\"fra\","
                       "\"state\":\"DOWN\",\"failure_class\":\"TCP_REFUSED\","
                       "\"last_failure_class\":\"TCP_REFUSED\",\"last_failure_detail\":\"refused\","
                       "\"incident_ids\":[\"app/global_outage/1\"],"
                       "\"last_result\":\"2026-11-21T09:11:45Z\","
                       "\"last_failure\":\"2026-11-21T09:11:45Z\"}],"
                       "\"open_incidents\":[{\"id\":\"app/global_outage/1\",\"kind\":",
                       0),
            0u)
      << json;
  EXPECT_NE(json.find(",\"as_of\":\"2026-11-21T09:11:50Z\"}"), std::string::npos) << json;

  v1::Config config;
  config.add_regions("fra");
  config.add_regions("ams");
  v1::Check* c = config.add_checks();
  c->set_name("login");
  c->set_service("app");
  c->mutable_interval()->set_seconds(30);
  c->mutable_http()->set_url("https://bob:hunter2@app.example.com/login?x=1");
  (*c->mutable_http()->mutable_headers())["Authorization"] = "Bearer s3cret";
  c->mutable_http()->set_body("password=hunter2");
  const std::string checks = common::ToJsonLine(BuildChecksReply(config, {}));
  EXPECT_EQ(checks.rfind("{\"regions\":[\"fra\",\"ams\"],\"checks\":[{\"name\":\"login\","
                         "\"service\":\"app\",\"regions\":[\"fra\",\"ams\"],\"labels\":{},",
                         0),
            0u)
      << checks;
  EXPECT_NE(checks.find("\"interval\":\"30s\""), std::string::npos) << checks;
  EXPECT_NE(checks.find("\"headers\":{\"Authorization\":\"REDACTED\"}"), std::string::npos)
      << checks;
  EXPECT_EQ(checks.find("hunter2"), std::string::npos) << checks;
  EXPECT_EQ(checks.find("s3cret"), std::string::npos) << checks;
  EXPECT_NE(checks.find("\"url\":\"https://REDACTED@app.example.com/login?x=1\""),
            std::string::npos)
      << checks;
}

TEST(CurrentStatusTest, ChecksFilterAndSortByServiceThenName) {
  v1::Config config;
  for (const char* name : {"b2", "a1", "b1"}) {
    v1::Check* c = config.add_checks();
    c->set_name(name);
    c->set_service(std::string(1, name[0]));
    c->add_regions("fra");
  }
  v1::ChecksReply all = BuildChecksReply(config, {});
  ASSERT_EQ(all.checks_size(), 3);
  EXPECT_EQ(all.checks(0).name(), "a1");
  EXPECT_EQ(all.checks(1).name(), "b1");
  v1::ChecksRequest only_b;
  only_b.set_service("b");
  EXPECT_EQ(BuildChecksReply(config, only_b).checks_size(), 2);
  v1::ChecksRequest one;
  one.set_check("b2");
  EXPECT_EQ(BuildChecksReply(config, one).checks_size(), 1);
}

// Cluster mode: each shard's owner publishes its BuildStatusReply; any
// replica merges them into the reply one detector over every check would
// give, NO_DATA where a shard's owner published nothing.
TEST(CurrentStatusTest, ShardRepliesMergeIntoOneReplyForEveryConfiguredCheck) {
  ASSERT_NE(cluster::ShardOf("shop"), cluster::ShardOf("api"));
  v1::Config config;
  config.add_regions("fra");
  config.add_regions("ams");
  for (const char* name : {"shop-web", "shop-cart", "api-home"}) {
    v1::Check* c = config.add_checks();
    c->set_name(name);
    c->set_service(std::string(name).substr(0, std::string(name).find('-')));
  }
  DetectionRunner::Snapshot shop;
  shop.series = {Series("shop-web", "shop", "fra", RegionState::kDown),
                 Series("shop-web", "shop", "ams", RegionState::kUp),
                 Series("shop-cart", "shop", "fra", RegionState::kUp),
                 Series("shop-cart", "shop", "ams", RegionState::kUp),
                 // Not configured any more, and another shard's check: left out.
                 Series("shop-old", "shop", "fra", RegionState::kDown),
                 Series("api-home", "api", "fra", RegionState::kDown)};
  shop.open = {Open("shop/regional_outage/1", "shop", {"shop-web"}, {"fra"},
                    kNow - absl::Minutes(3))};
  const v1::StatusReply published = BuildStatusReply(shop, kNow - absl::Seconds(1));
  const std::map<int, const v1::StatusReply*> shards = {{cluster::ShardOf("shop"), &published}};

  v1::StatusReply all = MergeShardStatus(shards, config, v1::StatusRequest(), kNow);
  EXPECT_EQ(Order(all),
            (std::vector<std::string>{"shop-web/fra=DOWN", "api-home/ams=NO_DATA",
                                      "api-home/fra=NO_DATA", "shop-cart/ams=UP",
                                      "shop-cart/fra=UP", "shop-web/ams=UP"}));
  EXPECT_EQ(common::ToTime(all.as_of()), kNow);
  ASSERT_EQ(all.statuses(0).incident_ids_size(), 1);
  EXPECT_EQ(all.statuses(0).incident_ids(0), "shop/regional_outage/1");
  EXPECT_FALSE(all.statuses(1).has_last_result());
  ASSERT_EQ(all.open_incidents_size(), 1);
  EXPECT_EQ(all.open_incidents(0).id(), "shop/regional_outage/1");

  // The filters apply as on one collector.
  v1::StatusRequest only;
  only.set_service("shop");
  only.set_region("fra");
  EXPECT_EQ(Order(MergeShardStatus(shards, config, only, kNow)),
            (std::vector<std::string>{"shop-web/fra=DOWN", "shop-cart/fra=UP"}));
  // Nothing published: every configured check x region, NO_DATA.
  EXPECT_EQ(MergeShardStatus({}, config, v1::StatusRequest(), kNow).statuses_size(), 6);
}

}  // namespace
}  // namespace sonde::collector
