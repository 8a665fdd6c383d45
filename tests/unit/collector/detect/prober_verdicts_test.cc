// Prober health across shards (docs/ha.md): a judge over every check hands
// its verdicts to a detector over part of them (one shard's checks), which
// then takes the same prober out of its votes at the same instants as one
// detector over everything, and raises the same PROBER_FAULT ticket; the
// same part judged alone (fewer than prober_min_checks checks) pages a
// target incident instead.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "collector/detect/detector.h"
#include "tests/testing/probe_results.h"
#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kStep = absl::Seconds(10);

std::unique_ptr<Detector> Make(const v1::Config& config) {
  absl::StatusOr<std::unique_ptr<Detector>> d = Detector::Create(DetectorOptions{});
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE((*d)->SetConfig(config, T0()).ok());
  return std::move(*d);
}

int Opened(const std::vector<IncidentEvent>& events, bool prober_fault) {
  int n = 0;
  for (const IncidentEvent& e : events) {
    if (e.kind == IncidentEventKind::kOpened &&
        (e.incident.kind == IncidentKind::kProberFault) == prober_fault) {
      ++n;
    }
  }
  return n;
}

TEST(ProberVerdictsTest, AShardFollowingTheJudgeVotesAsOneDetector) {
  std::vector<v1::Check> all, shard;
  for (const char* service : {"a", "b"}) {
    for (int i = 0; i < 3; ++i) {
      const std::string name = absl::StrCat(service, "-", i);
      all.push_back(HttpCheck(name, service, absl::StrCat("https://", name, ".example/"), kStep));
      if (std::string(service) == "a") {
        shard.push_back(all.back());
      }
    }
  }
  std::unique_ptr<Detector> judge = Make(Fleet(all));
  judge->ExportProberVerdicts();
  std::unique_ptr<Detector> follower = Make(Fleet(shard));
  follower->FollowProberVerdicts();
  std::unique_ptr<Detector> alone = Make(Fleet(shard));  // a shard before

  std::vector<IncidentEvent> judged, followed, judged_alone;
  const int broken_from = 30, fixed_from = 90, end = 150;
  uint64_t seq = 0;
  for (int k = 0; k < end; ++k) {
    for (const char* region : {"ams", "ber", "fra"}) {
      const bool fails = std::string(region) == "fra" && k >= broken_from && k < fixed_from;
      for (const v1::Check& c : all) {
        const v1::ProbeResult r =
            sonde::testing::HttpResult(c.name(), c.service(), absl::StrCat("p-", region), region,
                                       seq++, T0() + k * kStep, fails);
        judge->Observe(r);
        if (c.service() == "a") {
          follower->Observe(r);
          alone->Observe(r);
        }
      }
    }
    const absl::Time now = T0() + (k + 1) * kStep;
    for (IncidentEvent& e : judge->Tick(now)) {
      judged.push_back(std::move(e));
    }
    follower->AddProberVerdicts(judge->TakeProberVerdicts());
    for (IncidentEvent& e : follower->Tick(now)) {
      followed.push_back(std::move(e));
    }
    for (IncidentEvent& e : alone->Tick(now)) {
      judged_alone.push_back(std::move(e));
    }
  }
  // One detector over everything: fra's prober is faulty, nothing is paged.
  ASSERT_EQ(Opened(judged, /*prober_fault=*/true), 1);
  ASSERT_EQ(Opened(judged, /*prober_fault=*/false), 0);
  // The shard alone holds 3 checks (< prober_min_checks): it pages service a.
  EXPECT_EQ(Opened(judged_alone, /*prober_fault=*/true), 0);
  EXPECT_GE(Opened(judged_alone, /*prober_fault=*/false), 1);
  // Following the judge: the same ticket (naming all six checks), no page,
  // and the ticket resolves when the prober does.
  EXPECT_EQ(Opened(followed, /*prober_fault=*/false), 0);
  ASSERT_EQ(Opened(followed, /*prober_fault=*/true), 1);
  const IncidentEvent* opened = nullptr;
  for (const IncidentEvent& e : followed) {
    if (e.kind == IncidentEventKind::kOpened) {
      opened = &e;
    }
  }
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->incident.checks.size(), 6u);
  EXPECT_THAT(opened->incident.evidence, HasSubstr("fails 6 of 6 checks"));
  for (const IncidentEvent& e : judged) {
    if (e.kind == IncidentEventKind::kOpened) {
      EXPECT_EQ(e.incident.opened_at, opened->incident.opened_at);
      EXPECT_EQ(e.incident.evidence, opened->incident.evidence);
    }
  }
  EXPECT_EQ(followed.back().kind, IncidentEventKind::kResolved);
  EXPECT_TRUE(follower->OpenIncidents().empty());
}

}  // namespace
}  // namespace sonde::detect::testing
