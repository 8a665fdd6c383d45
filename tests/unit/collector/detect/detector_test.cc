// Detector API behaviour beyond the scenarios: options, bad input,
// PROBER_ERROR, restart continuation, reconfiguration, evaluation period.
#include "collector/detect/detector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/proto_time.h"
#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using FC = v1::FailureClass;

constexpr absl::Duration kInterval = absl::Seconds(2);

Behavior FailWhile(const std::string& check, absl::Time from, absl::Time to,
                   FC::Code cls = FC::HTTP_STATUS) {
  return [=](const RunContext& c, Outcome* o) {
    if (c.check_name != check || c.start < from || c.start >= to) {
      return;
    }
    o->cls = cls;
    o->detail = "HTTP 503 from 192.0.2.1:443, expected 200-399";
  };
}

TEST(DetectorOptionsTest, DefaultsValidateAndBadValuesAreNamed) {
  EXPECT_TRUE(DetectorOptions{}.Validate().ok());
  struct Case {
    void (*mutate)(DetectorOptions*);
    const char* field;
  } cases[] = {
      {[](DetectorOptions* o) { o->down_failures = 4; }, "down_failures"},
      {[](DetectorOptions* o) { o->partial_window = absl::Seconds(90); }, "partial_window"},
      {[](DetectorOptions* o) { o->partial_fast_window = absl::Seconds(50); },
       "partial_fast_window"},
      {[](DetectorOptions* o) { o->latency_baseline_window = absl::Minutes(15); },
       "latency_baseline_window"},
      {[](DetectorOptions* o) { o->flap_history = 40; }, "flap_history"},
      {[](DetectorOptions* o) {
         o->burn_rules.push_back({absl::Hours(100), absl::Hours(1), 1});
       },
       "burn_rules"},
      {[](DetectorOptions* o) { o->prober_recover_share = 0.6; }, "prober_recover_share"},
      {[](DetectorOptions* o) { o->partial_noise_share = 1; }, "partial_noise_share"},
      {[](DetectorOptions* o) { o->partial_noise_p = 0; }, "partial_noise_p"},
  };
  for (const Case& c : cases) {
    DetectorOptions o;
    c.mutate(&o);
    const absl::Status st = o.Validate();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.field));
    EXPECT_FALSE(Detector::Create(o).ok()) << c.field;
  }
}

TEST(DetectorTest, AConfigNeverAppliedIsAProberFaultTicketUntilItIs) {
  auto d = Detector::Create(DetectorOptions{});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(
      (*d)->SetConfig(Fleet({HttpCheck("a", "a", "https://a.example.com/", kInterval)}), T0())
          .ok());
  ConfigFault f;
  f.region = "fra";
  f.prober_id = "vm-fra";
  f.version = "4f573197bc2a5886";
  f.applied = "a613651f5273198b";
  f.pending_since = T0();
  f.last_error = "stream gone after 1048576 of 8978100 bytes";
  (*d)->SetConfigFaults({f});
  std::vector<IncidentEvent> events = (*d)->Tick(T0() + absl::Seconds(10));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, IncidentEventKind::kOpened);
  EXPECT_EQ(events[0].incident.kind, IncidentKind::kProberFault);
  EXPECT_EQ(events[0].incident.severity, Severity::kTicket);
  EXPECT_THAT(events[0].incident.regions, ElementsAre("fra"));
  EXPECT_THAT(events[0].incident.evidence, HasSubstr("4f573197bc2a5886"));
  EXPECT_THAT(events[0].incident.evidence, HasSubstr("stream gone"));

  (*d)->SetConfigFaults({});
  bool resolved = false;
  for (int s = 20; s < 3600 && !resolved; s += 10) {
    for (const IncidentEvent& e : (*d)->Tick(T0() + absl::Seconds(s))) {
      resolved |= e.kind == IncidentEventKind::kResolved;
    }
  }
  EXPECT_TRUE(resolved);
}

TEST(DetectorTest, UnknownChecksAndRegionsAreCountedAndDropped) {
  auto d = Detector::Create(DetectorOptions{});
  ASSERT_TRUE(d.ok());
  v1::Check only_fra = HttpCheck("a", "a", "https://a.example.com/", kInterval);
  only_fra.add_regions("fra");
  ASSERT_TRUE((*d)->SetConfig(Fleet({only_fra}), T0()).ok());
  v1::ProbeResult r;
  r.set_check_id("nope");
  r.set_region("fra");
  (*d)->Observe(r);
  r.set_check_id("a");
  r.set_region("ams");  // a known region, but not one of this check's
  (*d)->Observe(r);
  r.set_region("mars");
  (*d)->Observe(r);
  const DetectorStats st = (*d)->stats();
  EXPECT_EQ(st.results_observed, 3u);
  EXPECT_EQ(st.unknown_check, 1u);
  EXPECT_EQ(st.unknown_region, 2u);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ((*d)->Status("a", "ams").state, RegionState::kUnknown);
}

TEST(DetectorTest, ProberErrorsNeverCountAgainstTheTarget) {
  StreamDriver d(Fleet({HttpCheck("a", "a", "https://a.example.com/", kInterval),
                        HttpCheck("b", "b", "https://b.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time from = T0() + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < from) {
      return;
    }
    o->cls = FC::PROBER_ERROR;  // everywhere: the prober itself is broken
    o->detail = "curl_multi_add_handle: out of memory";
  });
  d.RunUntil(from + absl::Minutes(10));
  EXPECT_TRUE(d.events().empty()) << d.Dump();
  EXPECT_FALSE(d.detector().Status("a", "fra").down);
  EXPECT_GT(d.detector().stats().prober_errors, 1000u);
}

// The failure class decides, whatever `ok` says: an unset class is a
// PROBER_ERROR (never OK), a failing class with ok=true is a failure.
TEST(DetectorTest, TheClassIsTheTruthNotOk) {
  StreamDriver d(Fleet({HttpCheck("unset", "a", "https://a.example.com/", kInterval),
                        HttpCheck("refused", "b", "https://b.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time from = T0() + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < from) {
      return;
    }
    static const OutcomeExtras kOkSet = [] {
      OutcomeExtras x;
      x.ok = true;  // whatever the class says
      return x;
    }();
    o->extras = &kOkSet;
    o->cls = c.check_name == "unset" ? FC::UNSPECIFIED : FC::TCP_REFUSED;
  });
  d.RunUntil(from + absl::Minutes(2));
  // Every "unset" result since `from` is a prober error: 3 regions, 2 s.
  EXPECT_GE(d.detector().stats().prober_errors, 3u * 55);
  EXPECT_FALSE(d.detector().Status("unset", "fra").down);
  EXPECT_TRUE(d.detector().Status("refused", "fra").down);
  std::set<std::string> services;
  for (const Incident& i : d.detector().OpenIncidents()) {
    services.insert(i.service);
    EXPECT_EQ(i.kind, IncidentKind::kGlobalOutage) << i.id;
    EXPECT_EQ(i.dominant_class, FC::TCP_REFUSED) << i.id;
  }
  EXPECT_EQ(services, std::set<std::string>{"b"}) << d.Dump();
}

// The probers' promise (Tick(now, complete_before)) opens an outage as soon
// as the deciding results are in, without waiting out reorder_window; with
// no promise the same results wait for it. Either way the incident is the
// same and opened at the same event time.
TEST(DetectorTest, ProbersPromiseEndsTheReorderWaitButNotTheEventTime) {
  const v1::Config config =
      Fleet({HttpCheck("shop-web", "shop", "https://shop.example.com/", kInterval)});
  auto run = [&](bool promise, absl::Time* opened_at) {
    auto made = Detector::Create(DetectorOptions{});
    EXPECT_TRUE(made.ok());
    std::unique_ptr<Detector> d = std::move(*made);
    EXPECT_TRUE(d->SetConfig(config, T0()).ok());
    const absl::Time fault = T0() + absl::Seconds(60);
    absl::Time decided = absl::InfinitePast();
    for (absl::Time start = T0(); start < fault + absl::Seconds(10); start += kInterval) {
      const bool failing = start >= fault;
      for (const std::string& region : config.regions()) {
        v1::ProbeResult r;
        r.set_check_id("shop-web");
        r.set_service("shop");
        r.set_kind("http");
        r.set_region(region);
        r.set_prober_id(region);
        common::SetTimestamp(start, r.mutable_start_time());
        r.set_total_us(20000);
        r.set_failure_class(failing ? FC::HTTP_STATUS : FC::OK);
        r.set_ok(!failing);
        d->Observe(r);
      }
      // The batches are in 300 ms after the runs ended: tick then.
      const absl::Time ended = start + absl::Milliseconds(20);
      const absl::Time now = ended + absl::Milliseconds(300);
      const std::vector<IncidentEvent> events =
          promise ? d->Tick(now, ended + absl::Microseconds(1)) : d->Tick(now);
      for (const IncidentEvent& e : events) {
        if (e.kind == IncidentEventKind::kOpened && decided == absl::InfinitePast()) {
          decided = now;
          *opened_at = e.at;
        }
      }
    }
    return decided;
  };
  absl::Time opened_with = absl::InfinitePast(), opened_without = absl::InfinitePast();
  const absl::Time with = run(true, &opened_with);
  const absl::Time without = run(false, &opened_without);
  ASSERT_NE(with, absl::InfinitePast()) << "no outage opened with the promise";
  ASSERT_NE(without, absl::InfinitePast()) << "no outage opened without the promise";
  EXPECT_EQ(opened_with, opened_without) << "the event time must not depend on the promise";
  // Without the promise the decision waits for the next tick past the
  // reorder window (the next run, 2 s later); with it, it is the tick right
  // after the deciding batch.
  EXPECT_EQ(with - opened_with, absl::Milliseconds(300));
  EXPECT_GE(without - with, DetectorOptions{}.reorder_window - absl::Milliseconds(300));
}

TEST(DetectorTest, RestoredIncidentContinuesUnderItsIdOrResolves) {
  // First life: a global outage is open when the collector dies.
  const absl::Time fault = T0() + absl::Minutes(5);
  std::vector<Incident> persisted;
  {
    StreamDriver d(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval),
                          HttpCheck("b", "blog", "https://b.example.com/", kInterval)}),
                   DetectorOptions{});
    d.set_behavior(FailWhile("a", fault, fault + absl::Hours(1)));
    d.RunUntil(fault + absl::Minutes(1));
    persisted = d.detector().OpenIncidents();
    ASSERT_EQ(persisted.size(), 1u) << d.Dump();
    // A fake one that will not come back.
    Incident gone = persisted[0];
    gone.id = "blog/global_outage/1";
    gone.service = "blog";
    gone.checks = {"b"};
    persisted.push_back(gone);
  }
  // Second life, on the same stream.
  StreamDriver d(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval),
                        HttpCheck("b", "blog", "https://b.example.com/", kInterval)}),
                 DetectorOptions{}, DriverOptions{}, fault + absl::Minutes(1));
  d.detector().RestoreIncidents(persisted, fault + absl::Minutes(1));
  d.set_behavior(FailWhile("a", fault, fault + absl::Hours(1)));
  d.RunUntil(fault + absl::Minutes(10));
  std::set<std::string> opened;
  bool blog_resolved = false;
  for (const TimedEvent& e : d.events()) {
    if (e.event.kind == IncidentEventKind::kOpened) {
      opened.insert(e.event.incident_id);
    }
    if (e.event.incident_id == "blog/global_outage/1" &&
        e.event.kind == IncidentEventKind::kResolved) {
      blog_resolved = true;
    }
  }
  EXPECT_TRUE(opened.empty()) << d.Dump();  // no second incident for the same outage
  EXPECT_TRUE(blog_resolved) << d.Dump();
  const std::vector<Incident> open = d.detector().OpenIncidents();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, persisted[0].id);
  EXPECT_EQ(open[0].kind, IncidentKind::kGlobalOutage);
}

TEST(DetectorTest, ReconfigurationKeepsStateAndResolvesRemovedServices) {
  StreamDriver d(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval),
                        HttpCheck("b", "blog", "https://b.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < fault) {
      return;
    }
    o->cls = FC::HTTP_STATUS;
    o->detail = "HTTP 503";
  });
  d.RunUntil(fault + absl::Minutes(1));
  ASSERT_EQ(d.detector().OpenIncidents().size(), 2u) << d.Dump();
  const size_t events_before = d.events().size();
  // "blog" goes away; "a" stays (and stays down: no new incident for it).
  ASSERT_TRUE(
      d.detector()
          .SetConfig(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval)}), d.now())
          .ok());
  EXPECT_TRUE(d.detector().Status("a", "fra").outage);
  EXPECT_EQ(d.detector().Status("b", "fra").state, RegionState::kUnknown);
  d.RunUntil(fault + absl::Minutes(6));  // the driver still sends b: dropped as unknown
  std::vector<IncidentEventKind> later;
  for (size_t i = events_before; i < d.events().size(); ++i) {
    const IncidentEvent& e = d.events()[i].event;
    EXPECT_EQ(e.incident.service, "blog") << DebugString(e);
    later.push_back(e.kind);
  }
  EXPECT_THAT(later, ElementsAre(IncidentEventKind::kResolved));
  EXPECT_GT(d.detector().stats().unknown_check, 0u);

  // Fewer regions: "ams" goes away; its results become unknown, the rest goes
  // on.
  ASSERT_TRUE(d.detector()
                  .SetConfig(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval)},
                                   {"ber", "fra"}),
                             d.now())
                  .ok());
  const uint64_t unknown_before = d.detector().stats().unknown_region;
  d.RunUntil(fault + absl::Minutes(8));
  EXPECT_GT(d.detector().stats().unknown_region, unknown_before);
  EXPECT_TRUE(d.detector().Status("a", "fra").outage);
  EXPECT_EQ(d.detector().Status("a", "ams").state, RegionState::kUnknown);
  const std::vector<Incident> open = d.detector().OpenIncidents();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_THAT(open[0].regions, ElementsAre("ber", "fra"));
}

TEST(DetectorTest, EvaluationPeriodCoalescesDecisionsToItsGrid) {
  DetectorOptions options;
  options.evaluation_period = absl::Seconds(1);
  StreamDriver d(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval)}), options);
  const absl::Time fault = T0() + absl::Minutes(5);
  d.set_behavior(FailWhile("a", fault, fault + absl::Minutes(2)));
  d.RunUntil(fault + absl::Minutes(8));
  ASSERT_FALSE(d.events().empty());
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.at, absl::FromUnixSeconds(absl::ToUnixSeconds(e.event.at)))
        << DebugString(e.event);
  }
  EXPECT_LE(d.FirstOpened(d.events()[0].event.incident.kind) - fault,
            3 * kInterval + absl::Seconds(3));
  EXPECT_EQ(d.events().back().event.kind, IncidentEventKind::kResolved);
}

TEST(DetectorTest, StatusReportsDegradedAndDown) {
  StreamDriver d(Fleet({HttpCheck("a", "shop", "https://a.example.com/", kInterval, 3)}),
                 DetectorOptions{});
  const absl::Time from = T0() + absl::Minutes(2);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < from) {
      return;
    }
    // fra: one request of three fails (mixed runs); ber: all fail.
    if ((c.region_name == "fra" && c.request == 0) || c.region_name == "ber") {
      o->cls = FC::HTTP_STATUS;
      o->detail = "HTTP 500";
    }
  });
  d.RunUntil(from + absl::Seconds(30));
  EXPECT_EQ(d.detector().Status("a", "ams").state, RegionState::kUp);
  EXPECT_EQ(d.detector().Status("a", "fra").state, RegionState::kDegraded);
  const SeriesStatus ber = d.detector().Status("a", "ber");
  EXPECT_EQ(ber.state, RegionState::kDown);
  EXPECT_TRUE(ber.outage);
  EXPECT_TRUE(ber.voting);
  EXPECT_GT(ber.last_result, from);
}

}  // namespace
}  // namespace sonde::detect::testing
