// One fault, one incident, and an incident that says one thing: the three
// detection defects of issue 11, each replayed at the shipped defaults on a
// fake clock.
//   - a TLS check and an HTTPS check of one host:port failing together are
//     ONE PROTOCOL_OUTAGE naming both checks;
//   - a recovering (held) DNS_FAILURE never absorbs a later fault of
//     another kind, class or region set: that is a new incident whose
//     class and evidence are the new failures';
//   - DNS and protocol incidents drop a region after its 3 consecutive
//     successful runs, like any outage.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using FC = v1::FailureClass;

bool IsAvailability(IncidentKind k) { return InfoOf(k).availability; }

std::set<std::string> AvailabilityIds(const StreamDriver& d) {
  std::set<std::string> ids;
  for (const TimedEvent& e : d.events()) {
    if (IsAvailability(e.event.incident.kind)) {
      ids.insert(e.event.incident_id);
    }
  }
  return ids;
}

std::vector<TimedEvent> EventsOfId(const StreamDriver& d, const std::string& id) {
  std::vector<TimedEvent> out;
  for (const TimedEvent& e : d.events()) {
    if (e.event.incident_id == id) {
      out.push_back(e);
    }
  }
  return out;
}

// From `fault` on, port 443 refuses connections: every check but the
// plain-HTTP ones in `answering` fails with TCP_REFUSED.
Behavior PortRefusedFrom(absl::Time fault, std::set<std::string> answering) {
  return [fault, answering](const RunContext& c, Outcome* o) {
    if (c.start < fault || answering.count(c.check_name) > 0) {
      return;
    }
    o->cls = FC::TCP_REFUSED;
    o->tls_us = o->first_byte_us = 0;
    o->detail = "connect to 192.0.2.5:443: Connection refused";
  };
}

// The TLS listener of web.example.com:443 stops; its plain HTTP port answers.
TEST(IncidentIdentityTest, TlsAndHttpsOfOneEndpointFailingTogetherAreOneProtocolOutage) {
  constexpr absl::Duration kInterval = absl::Seconds(2);
  StreamDriver d(Fleet({HttpCheck("web-http", "web", "http://web.example.com/", kInterval),
                        HttpCheck("web-https", "web", "https://web.example.com/", kInterval),
                        TlsCheck("web-tls", "web", "web.example.com", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(5);
  d.set_behavior(PortRefusedFrom(fault, {"web-http"}));
  d.RunUntil(fault + absl::Minutes(2));

  const std::set<std::string> ids = AvailabilityIds(d);
  ASSERT_EQ(ids.size(), 1u) << "one fault, one incident:\n" << d.Dump();
  const std::vector<TimedEvent> events = EventsOfId(d, *ids.begin());
  const Incident& i = events.back().event.incident;
  EXPECT_EQ(i.kind, IncidentKind::kProtocolOutage) << d.Dump();
  EXPECT_THAT(i.checks, ElementsAre("web-https", "web-tls")) << d.Dump();
  EXPECT_THAT(i.hosts, ElementsAre("web.example.com"));
  EXPECT_EQ(i.affected_targets, 1) << "one endpoint: " << d.Dump();
  EXPECT_THAT(i.evidence, HasSubstr("while http answers"));
  int opened = 0;
  for (const TimedEvent& e : d.events()) {
    opened += e.event.kind == IncidentEventKind::kOpened ? 1 : 0;
  }
  EXPECT_EQ(opened, 1) << "one page for one fault:\n" << d.Dump();
}

// Two endpoints of one protocol stay one incident per protocol (mittwald),
// and an endpoint shared by a TCP check joins it too.
TEST(IncidentIdentityTest, ChecksSharingAFailingEndpointJoinItsProtocolOutage) {
  constexpr absl::Duration kInterval = absl::Seconds(2);
  StreamDriver d(Fleet({HttpCheck("a-http", "hosting", "http://a.example.net/", kInterval),
                        HttpCheck("a-https", "hosting", "https://a.example.net/", kInterval),
                        TcpCheck("a-443", "hosting", "a.example.net", 443, kInterval),
                        HttpCheck("b-http", "hosting", "http://b.example.net/", kInterval),
                        HttpCheck("b-https", "hosting", "https://b.example.net/", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(5);
  d.set_behavior(PortRefusedFrom(fault, {"a-http", "b-http"}));
  d.RunUntil(fault + absl::Minutes(2));

  const std::set<std::string> ids = AvailabilityIds(d);
  ASSERT_EQ(ids.size(), 1u) << d.Dump();
  const Incident i = EventsOfId(d, *ids.begin()).back().event.incident;
  EXPECT_EQ(i.kind, IncidentKind::kProtocolOutage) << d.Dump();
  EXPECT_THAT(i.checks, ElementsAre("a-443", "a-https", "b-https")) << d.Dump();
  EXPECT_THAT(i.hosts, ElementsAre("a.example.net", "b.example.net"));
  EXPECT_EQ(i.affected_targets, 2) << d.Dump();
}

// velorent's NXDOMAIN is fixed; while its incident waits out the resolve
// hold, the app times out from ber only: a new REGIONAL_OUTAGE that speaks
// of timeouts, and the DNS incident stays DNS until it resolves.
TEST(IncidentIdentityTest, RecoveringDnsIncidentNeverAbsorbsALaterFaultOfAnotherKind) {
  constexpr absl::Duration kInterval = absl::Seconds(2);
  const std::vector<std::string> resolvers = {"127.0.0.1:5353"};
  StreamDriver d(
      Fleet({HttpCheck("app-dashboard", "app", "https://app.example.com/", kInterval, 1, resolvers),
             DnsCheck("app-dns", "app", "app.example.com", kInterval, resolvers)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(5);
  const absl::Time fixed = fault + absl::Minutes(2);
  const absl::Time cut = fixed + absl::Seconds(40);  // inside the resolve hold
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start >= fault && c.start < fixed) {
      o->cls = FC::DNS_NXDOMAIN;
      o->connect_us = o->tls_us = o->first_byte_us = 0;
      o->detail = "resolving app.example.com via 127.0.0.1:5353: NXDOMAIN";
      return;
    }
    if (c.start >= cut && c.region_name == "ber" && c.check_name == "app-dashboard") {
      o->cls = FC::TCP_TIMEOUT;
      o->tls_us = o->first_byte_us = 0;
      o->total_us = 1000000;
      o->detail = "connect to 192.0.2.10:443: Connection timed out";
    }
  });
  d.RunUntil(cut + absl::Minutes(5));

  const absl::Time dns_opened = d.FirstOpened(IncidentKind::kDnsFailure, fault);
  ASSERT_NE(dns_opened, absl::InfiniteFuture()) << d.Dump();
  std::string dns_id;
  for (const TimedEvent& e : d.events()) {
    if (e.event.kind == IncidentEventKind::kOpened &&
        e.event.incident.kind == IncidentKind::kDnsFailure) {
      dns_id = e.event.incident_id;
      break;
    }
  }
  for (const TimedEvent& e : EventsOfId(d, dns_id)) {
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kDnsFailure) << DebugString(e.event);
    EXPECT_EQ(e.event.incident.dominant_class, FC::DNS_NXDOMAIN) << DebugString(e.event);
  }
  EXPECT_EQ(EventsOfId(d, dns_id).back().event.kind, IncidentEventKind::kResolved) << d.Dump();

  const absl::Time regional = d.FirstOpened(IncidentKind::kRegionalOutage, cut);
  ASSERT_NE(regional, absl::InfiniteFuture()) << "the timeouts opened nothing new:\n" << d.Dump();
  for (const TimedEvent& e : d.events()) {
    if (e.event.incident_id == dns_id) {
      continue;
    }
    const Incident& i = e.event.incident;
    EXPECT_EQ(i.kind, IncidentKind::kRegionalOutage) << DebugString(e.event);
    EXPECT_THAT(i.regions, ElementsAre("ber")) << DebugString(e.event);
    EXPECT_EQ(i.dominant_class, FC::TCP_TIMEOUT) << DebugString(e.event);
    EXPECT_THAT(i.evidence, HasSubstr("TCP_TIMEOUT from ber: connect to 192.0.2.10:443"))
        << DebugString(e.event);
    EXPECT_THAT(i.evidence, Not(HasSubstr("NXDOMAIN"))) << DebugString(e.event);
  }
}

// How long after a region's fix its last region-bearing event (the
// incident naming it) may come: 3 successful runs (the first may start up
// to one interval after the fix), their duration, the reorder window.
absl::Duration RecoveryBudget(absl::Duration interval) {
  return 4 * interval + absl::Seconds(1) + DetectorOptions{}.reorder_window;
}

// The last tick at which an availability incident still named `region`.
absl::Time LastNaming(const StreamDriver& d, const std::string& region) {
  absl::Time last = absl::InfinitePast();
  for (const TimedEvent& e : d.events()) {
    const Incident& i = e.event.incident;
    if (IsAvailability(i.kind) && e.event.kind != IncidentEventKind::kResolved && !i.resolved &&
        std::find(i.regions.begin(), i.regions.end(), region) != i.regions.end()) {
      last = e.tick;
    }
  }
  return last;
}

struct RecoveryCase {
  const char* name;
  absl::Duration interval;
  uint32_t requests_per_run;
  bool dns;  // else HTTPS down while HTTP answers
  absl::Duration fault_for = absl::Minutes(6);
};

class RegionRecoveryTest : public ::testing::TestWithParam<RecoveryCase> {};

// The fault ends in ams and fra first, in ber four minutes later: the
// incident drops ams and fra after their 3 successful runs, keeps ber,
// then holds (recovered) after ber's 3.
TEST_P(RegionRecoveryTest, ARegionLeavesAfterThreeSuccessfulRuns) {
  const RecoveryCase& rc = GetParam();
  const std::vector<std::string> resolvers = {"127.0.0.1:5353"};
  std::vector<v1::Check> checks;
  if (rc.dns) {
    checks = {HttpCheck("app-web", "app", "https://app.example.com/", rc.interval,
                        rc.requests_per_run, resolvers),
              DnsCheck("app-dns", "app", "app.example.com", rc.interval, resolvers)};
  } else {
    checks = {
        HttpCheck("h1-http", "hosting", "http://h1.example.net/", rc.interval, rc.requests_per_run),
        HttpCheck("h1-https", "hosting", "https://h1.example.net/", rc.interval,
                  rc.requests_per_run),
        TlsCheck("h1-tls", "hosting", "h1.example.net", rc.interval)};
  }
  StreamDriver d(Fleet(std::move(checks)), DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(20);
  const absl::Time fixed = fault + rc.fault_for;
  const absl::Time ber_fixed = fixed + absl::Minutes(4);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    const absl::Time end = c.region_name == "ber" ? ber_fixed : fixed;
    if (c.start < fault || c.start >= end) {
      return;
    }
    if (rc.dns) {
      o->cls = FC::DNS_NXDOMAIN;
      o->connect_us = o->tls_us = o->first_byte_us = 0;
      o->detail = "resolving app.example.com via 127.0.0.1:5353: NXDOMAIN";
    } else if (c.check_name != "h1-http") {
      o->cls = FC::TLS_HANDSHAKE;
      o->first_byte_us = 0;
      o->detail = "TLS handshake with 192.0.2.7:443: connection closed";
    }
  });
  d.RunUntil(ber_fixed + absl::Minutes(8));

  const IncidentKind kind = rc.dns ? IncidentKind::kDnsFailure : IncidentKind::kProtocolOutage;
  ASSERT_NE(d.FirstOpened(kind, fault), absl::InfiniteFuture()) << d.Dump();
  ASSERT_EQ(AvailabilityIds(d).size(), 1u) << d.Dump();
  for (const char* region : {"ams", "fra"}) {
    EXPECT_LE(LastNaming(d, region) - fixed, RecoveryBudget(rc.interval))
        << region << " stayed in the incident after its fix:\n"
        << d.Dump();
  }
  EXPECT_GT(LastNaming(d, "ber"), fixed + RecoveryBudget(rc.interval)) << d.Dump();
  // Recovered everywhere: held (no region-bearing event) within the budget,
  // resolved after the hold.
  EXPECT_LE(LastNaming(d, "ber") - ber_fixed, RecoveryBudget(rc.interval)) << d.Dump();
  const std::vector<TimedEvent> all = EventsOfId(d, *AvailabilityIds(d).begin());
  EXPECT_EQ(all.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  EXPECT_LE(all.back().event.incident.resolved_at - ber_fixed, RecoveryBudget(rc.interval))
      << d.Dump();
  for (const TimedEvent& e : all) {
    EXPECT_EQ(e.event.incident.kind, kind) << DebugString(e.event);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Defaults, RegionRecoveryTest,
    ::testing::Values(
        RecoveryCase{"Dns2s", absl::Seconds(2), 1, true},
        RecoveryCase{"Dns30s", absl::Seconds(30), 1, true},
        RecoveryCase{"Dns60sThreeRequests", absl::Seconds(60), 3, true},
        RecoveryCase{"Dns60sThreeRequestsShort", absl::Seconds(60), 3, true, absl::Minutes(2)},
        RecoveryCase{"Dns30sThreeRequestsShort", absl::Seconds(30), 3, true, absl::Minutes(2)},
        RecoveryCase{"Dns10sThreeRequestsShort", absl::Seconds(10), 3, true, absl::Minutes(1)},
        RecoveryCase{"Protocol2s", absl::Seconds(2), 1, false},
        RecoveryCase{"Protocol30s", absl::Seconds(30), 1, false}),
    [](const ::testing::TestParamInfo<RecoveryCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sonde::detect::testing
