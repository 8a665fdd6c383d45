#include "collector/detect/incident_book.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace sonde::detect {
namespace {

using ::testing::ElementsAre;

DesiredIncident Want(IncidentKind kind, std::vector<std::string> checks,
                     std::vector<std::string> regions) {
  DesiredIncident d;
  d.kind = kind;
  d.checks = checks;
  d.targets = checks;
  d.regions = std::move(regions);
  return d;
}

std::vector<IncidentEventKind> Kinds(const std::vector<IncidentEvent>& events) {
  std::vector<IncidentEventKind> out;
  for (const IncidentEvent& e : events) {
    out.push_back(e.kind);
  }
  return out;
}

TEST(IncidentBookTest, OpenReclassifyHoldContinueResolve) {
  IncidentBook book(absl::Minutes(3), 0.05);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::vector<IncidentEvent> ev;

  book.Reconcile("s/shop", "shop", {Want(IncidentKind::kRegionalOutage, {"a"}, {"ber"})}, t0, &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kOpened));
  const std::string id = ev[0].incident_id;
  EXPECT_EQ(id, "shop/regional_outage/1700000000");

  ev.clear();
  book.Reconcile("s/shop", "shop",
                 {Want(IncidentKind::kGlobalOutage, {"a"}, {"ams", "ber", "fra"})},
                 t0 + absl::Seconds(1), &ev);
  ASSERT_THAT(Kinds(ev),
              ElementsAre(IncidentEventKind::kReclassified, IncidentEventKind::kRegionsChanged));
  EXPECT_EQ(ev[0].incident_id, id);
  EXPECT_EQ(ev[0].previous_kind, IncidentKind::kRegionalOutage);
  EXPECT_EQ(ev[0].incident.kind, IncidentKind::kGlobalOutage);

  // A second check joins: two targets, none recovered.
  ev.clear();
  book.Reconcile("s/shop", "shop",
                 {Want(IncidentKind::kGlobalOutage, {"a", "b"}, {"ams", "ber", "fra"})},
                 t0 + absl::Seconds(2), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kProgress));
  EXPECT_EQ(ev[0].incident.affected_targets, 2);
  EXPECT_EQ(ev[0].incident.recovered_targets, 0);

  // Condition clears: held, all recovered, not resolved yet.
  ev.clear();
  book.Reconcile("s/shop", "shop", {}, t0 + absl::Seconds(10), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kProgress));
  EXPECT_EQ(ev[0].incident.recovered_targets, 2);
  EXPECT_EQ(book.NextHoldEnd(), t0 + absl::Seconds(10) + absl::Minutes(3));
  ev.clear();
  book.ExpireHolds(t0 + absl::Minutes(1), &ev);
  EXPECT_TRUE(ev.empty());

  // Back within the hold: same incident continues.
  book.Reconcile("s/shop", "shop",
                 {Want(IncidentKind::kGlobalOutage, {"a"}, {"ams", "ber", "fra"})},
                 t0 + absl::Minutes(2), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kProgress));
  EXPECT_EQ(ev[0].incident_id, id);
  EXPECT_EQ(ev[0].incident.recovered_targets, 1);
  EXPECT_EQ(book.NextHoldEnd(), absl::InfiniteFuture());

  ev.clear();
  book.Reconcile("s/shop", "shop", {}, t0 + absl::Minutes(3), &ev);
  ev.clear();
  book.ExpireHolds(t0 + absl::Minutes(6), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kResolved));
  EXPECT_EQ(ev[0].incident_id, id);
  EXPECT_TRUE(ev[0].incident.resolved);
  EXPECT_EQ(ev[0].incident.resolved_at, t0 + absl::Minutes(3));
  EXPECT_TRUE(book.Open().empty());
}

TEST(IncidentBookTest, KindsOfOtherFamiliesAndScopesStaySeparate) {
  IncidentBook book(absl::Minutes(3), 0.05);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::vector<IncidentEvent> ev;
  book.Reconcile("s/a", "a",
                 {Want(IncidentKind::kPartialFailure, {"x"}, {"ams", "fra"}),
                  Want(IncidentKind::kLatencyDegradation, {"x"}, {"ams", "fra"})},
                 t0, &ev);
  book.Reconcile("s/b", "b", {Want(IncidentKind::kPartialFailure, {"y"}, {"ams", "fra"})}, t0, &ev);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(book.Open().size(), 3u);
  ev.clear();
  // Latency goes away, partial becomes DNS: reclassified, not reopened;
  // latency is not a reclassification candidate.
  book.Reconcile("s/a", "a", {Want(IncidentKind::kDnsFailure, {"x"}, {"ams", "fra"})},
                 t0 + absl::Seconds(5), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kReclassified));
  EXPECT_EQ(ev[0].incident.kind, IncidentKind::kDnsFailure);
  // Share changes below the step are silent, above it UPDATED.
  ev.clear();
  DesiredIncident d = Want(IncidentKind::kPartialFailure, {"y"}, {"ams", "fra"});
  d.failing_share = 0.03;
  book.Reconcile("s/b", "b", {d}, t0 + absl::Seconds(6), &ev);
  EXPECT_TRUE(ev.empty());
  d.failing_share = 0.3;
  book.Reconcile("s/b", "b", {d}, t0 + absl::Seconds(7), &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kUpdated));
}

// An outage that turns out to be a partial failure: at one request per run
// a quarter failing can fail a region's runs in a row and confirm an
// outage there before the share is measured. The partial failure found on
// the same check while that outage recovers continues it, RECLASSIFIED;
// one of another class family, or on another check, is a new incident.
TEST(IncidentBookTest, PartialFailureOnARecoveringOutagesCheckReclassifiesIt) {
  IncidentBook book(absl::Minutes(3), 0.05);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::vector<IncidentEvent> ev;
  DesiredIncident outage = Want(IncidentKind::kRegionalOutage, {"login"}, {"ber"});
  outage.dominant_class = v1::FailureClass::HTTP_STATUS;
  book.Reconcile("s/api", "api", {outage}, t0, &ev);
  ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kOpened));
  const std::string id = ev[0].incident_id;
  book.Reconcile("s/api", "api", {}, t0 + absl::Seconds(20), &ev);  // ber passes again: held

  ev.clear();
  DesiredIncident partial = Want(IncidentKind::kPartialFailure, {"login"}, {"ams", "ber", "fra"});
  partial.dominant_class = v1::FailureClass::HTTP_STATUS;
  partial.failing_share = 0.25;
  book.Reconcile("s/api", "api", {partial}, t0 + absl::Minutes(2), &ev);
  ASSERT_THAT(Kinds(ev),
              ElementsAre(IncidentEventKind::kReclassified, IncidentEventKind::kRegionsChanged));
  EXPECT_EQ(ev[0].incident_id, id);
  EXPECT_EQ(ev[0].previous_kind, IncidentKind::kRegionalOutage);
  EXPECT_EQ(ev[0].incident.kind, IncidentKind::kPartialFailure);
  EXPECT_EQ(book.Open().size(), 1u);

  // Another check, or another class family: a new incident each.
  DesiredIncident elsewhere = partial;
  elsewhere.checks = elsewhere.targets = {"signup"};
  DesiredIncident timeouts = partial;
  timeouts.dominant_class = v1::FailureClass::TCP_TIMEOUT;
  for (const DesiredIncident& d : {elsewhere, timeouts}) {
    IncidentBook other(absl::Minutes(3), 0.05);
    other.Reconcile("s/api", "api", {outage}, t0, &ev);
    other.Reconcile("s/api", "api", {}, t0 + absl::Seconds(20), &ev);
    ev.clear();
    other.Reconcile("s/api", "api", {d}, t0 + absl::Minutes(2), &ev);
    ASSERT_THAT(Kinds(ev), ElementsAre(IncidentEventKind::kOpened)) << d.checks[0];
    EXPECT_EQ(ev[0].incident.kind, IncidentKind::kPartialFailure);
    EXPECT_EQ(other.Open().size(), 2u);
  }
}

}  // namespace
}  // namespace sonde::detect
