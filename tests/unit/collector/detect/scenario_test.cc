// The INCIDENTS.md stories as synthetic streams on a FakeClock: three
// regions, 2 s intervals, a healthy warm-up, then the fault. Each test
// asserts the incident kind and scope, the time to detect (fake clock time
// of the Tick() that returned the event, minus the fault's start) and what
// must NOT happen.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using FC = v1::FailureClass;

constexpr absl::Duration kInterval = absl::Seconds(2);
// Acceptance 2 of issue 5: global/regional/DNS/protocol within 3 intervals + 2
// s.
const absl::Duration kOutageBudget = 3 * kInterval + absl::Seconds(2);

// Uniform in [0, 1), independent per request and per `salt`.
double Uniform(const RunContext& c, uint64_t salt) {
  return static_cast<double>(Mix(c.hash ^ (salt * 0x9e3779b97f4a7c15ULL)) >> 11) * 0x1.0p-53;
}

// The outcome of a probe answered with HTTP `status`; `detail` is kept by
// reference (Outcome::detail is a view), so a literal.
void FailHttp(Outcome* o, int status = 503,
              absl::string_view detail = "HTTP 503 from 192.0.2.10:443, expected 200-399") {
  o->cls = FC::HTTP_STATUS;
  o->http_status = status;
  o->detail = detail;
}

bool IsAvailability(IncidentKind k) {
  return k == IncidentKind::kGlobalOutage || k == IncidentKind::kRegionalOutage ||
         k == IncidentKind::kPartialFailure || k == IncidentKind::kDnsFailure ||
         k == IncidentKind::kProtocolOutage;
}

std::set<std::string> IdsOf(const std::vector<TimedEvent>& events) {
  std::set<std::string> ids;
  for (const TimedEvent& e : events) {
    ids.insert(e.event.incident_id);
  }
  return ids;
}

std::vector<TimedEvent> Availability(const StreamDriver& d) {
  std::vector<TimedEvent> out;
  for (const TimedEvent& e : d.events()) {
    if (IsAvailability(e.event.incident.kind)) {
      out.push_back(e);
    }
  }
  return out;
}

void PrintTtd(const char* what, absl::Duration ttd) {
  std::printf("[ time to detect ] %-28s %s\n", what, absl::FormatDuration(ttd).c_str());
}

// Tick time of the first event (OPENED or RECLASSIFIED) that shows `kind`.
absl::Time FirstShowing(const StreamDriver& d, IncidentKind kind, absl::Time since) {
  for (const TimedEvent& e : d.events()) {
    if (e.tick >= since && e.event.incident.kind == kind &&
        (e.event.kind == IncidentEventKind::kOpened ||
         e.event.kind == IncidentEventKind::kReclassified)) {
      return e.tick;
    }
  }
  return absl::InfiniteFuture();
}

// The last event decided before `t` (the incident at its worst, before
// recovery).
const TimedEvent& LastBefore(const std::vector<TimedEvent>& events, absl::Time t) {
  const TimedEvent* last = &events.front();
  for (const TimedEvent& e : events) {
    if (e.event.at < t) {
      last = &e;
    }
  }
  return *last;
}

// The share a partial failure's evidence gives its counts for: "25% of
// probes failing in ... (27 of 108 probes since the failures began; ...".
// Expects the text to give them, and them to make its share.
void ExpectEvidenceCountsMakeTheShare(const TimedEvent& e) {
  const std::string& text = e.event.incident.evidence;
  const size_t at = text.find(" (");
  ASSERT_NE(at, std::string::npos) << text;
  unsigned fails = 0, probes = 0;
  int end = -1;
  ASSERT_EQ(std::sscanf(text.c_str() + at, " (%u of %u probes since the failures began; %n", &fails,
                        &probes, &end),
            2)
      << text;
  ASSERT_GT(end, 0) << text;
  ASSERT_GT(probes, 0u) << text;
  EXPECT_NEAR(static_cast<double>(fails) / probes, e.event.incident.failing_share, 0.006)
      << DebugString(e.event);
}

// Boxcryptor 2016: the balancer fails 25% of /login; / is fine.
TEST(DetectorScenarioTest, BoxcryptorQuarterOfLoginFailsIsPartialFailureWithinAMinute) {
  StreamDriver d(
      Fleet({HttpCheck("api-login", "api", "https://api.example.com/login", kInterval, 3),
             HttpCheck("api-root", "api", "https://api.example.com/", kInterval, 3)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time fixed = fault + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.check_name == "api-login" && c.start >= fault && c.start < fixed &&
        Uniform(c, 1) < 0.25) {
      FailHttp(o);
    }
  });
  d.RunUntil(fixed + absl::Minutes(12));

  const std::vector<TimedEvent> partial = d.EventsOf(IncidentKind::kPartialFailure);
  ASSERT_FALSE(partial.empty()) << d.Dump();
  const absl::Duration ttd = d.FirstOpened(IncidentKind::kPartialFailure, fault) - fault;
  PrintTtd("partial failure at 25%", ttd);
  EXPECT_LE(ttd, absl::Seconds(60)) << d.Dump();
  EXPECT_EQ(IdsOf(partial).size(), 1u) << d.Dump();
  const TimedEvent* last_during = nullptr;
  for (const TimedEvent& e : partial) {
    EXPECT_THAT(e.event.incident.checks, ElementsAre("api-login")) << DebugString(e.event);
    EXPECT_EQ(e.event.incident.service, "api");
    EXPECT_EQ(e.event.incident.severity, Severity::kPage);
    EXPECT_EQ(e.event.incident.dominant_class, FC::HTTP_STATUS);
    ExpectEvidenceCountsMakeTheShare(e);
    if (e.tick < fixed) {
      last_during = &e;
    }
  }
  ASSERT_NE(last_during, nullptr);
  EXPECT_NEAR(partial.front().event.incident.failing_share, 0.25, 0.10) << d.Dump();
  EXPECT_NEAR(last_during->event.incident.failing_share, 0.25, 0.06) << d.Dump();
  EXPECT_THAT(last_during->event.incident.evidence, HasSubstr("HTTP 503"));
  EXPECT_EQ(partial.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  // Never an outage: no region is fully down.
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kPartialFailure) << DebugString(e.event);
  }
}

// velorent 2021: app.* is NXDOMAIN, www.* fine, the server answers at its
// last known address.
TEST(DetectorScenarioTest, VelorentNxdomainIsDnsFailureOnTheAppServiceOnly) {
  const std::vector<std::string> resolvers = {"127.0.0.1:5353"};
  StreamDriver d(
      Fleet({HttpCheck("app-dashboard", "app", "https://app.example.com/", kInterval, 1, resolvers),
             DnsCheck("app-dns", "app", "app.example.com", kInterval, resolvers),
             HttpCheck("www-home", "www", "https://www.example.com/", kInterval, 1, resolvers)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time fixed = fault + absl::Minutes(10);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < fault || c.start >= fixed || c.check_name.rfind("app-", 0) != 0) {
      return;
    }
    o->cls = FC::DNS_NXDOMAIN;
    o->connect_us = o->tls_us = o->first_byte_us = 0;
    if (c.check_name == "app-dns") {
      o->detail = "app.example.com A via 127.0.0.1:5353: NXDOMAIN, expected NOERROR";
      return;
    }
    // The probe tried the last known address: the server there answers.
    o->detail = "resolving app.example.com via 127.0.0.1:5353: NXDOMAIN";
    static const OutcomeExtras kFallback = FallbackTo("192.0.2.10", FC::OK, 200);
    o->extras = &kFallback;
  });
  d.RunUntil(fixed + absl::Minutes(6));

  const std::vector<TimedEvent> dns = d.EventsOf(IncidentKind::kDnsFailure);
  ASSERT_FALSE(dns.empty()) << d.Dump();
  const absl::Duration ttd = d.FirstOpened(IncidentKind::kDnsFailure, fault) - fault;
  PrintTtd("DNS failure", ttd);
  EXPECT_LE(ttd, kOutageBudget) << d.Dump();
  EXPECT_EQ(IdsOf(dns).size(), 1u) << d.Dump();
  const Incident& peak = LastBefore(dns, fixed).event.incident;
  EXPECT_EQ(peak.service, "app");
  EXPECT_THAT(peak.checks, ElementsAre("app-dashboard", "app-dns"));
  EXPECT_THAT(peak.regions, ElementsAre("ams", "ber", "fra"));
  EXPECT_EQ(peak.dominant_class, FC::DNS_NXDOMAIN);
  EXPECT_THAT(peak.evidence,
              HasSubstr("NXDOMAIN for app.example.com from resolvers 127.0.0.1:5353"));
  EXPECT_THAT(peak.evidence, HasSubstr("server at last known address 192.0.2.10 answers 200"));
  EXPECT_EQ(dns.back().event.kind, IncidentEventKind::kResolved);
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.service, "app") << DebugString(e.event);
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kDnsFailure) << DebugString(e.event);
  }
}

// lemniscus 2020: one data centre cannot reach a dependency, minutes at a time.
TEST(DetectorScenarioTest, LemniscusIntermittentRegionIsRegionalAndFlappingNeverGlobal) {
  StreamDriver d(
      Fleet({HttpCheck("shop-home", "shop", "https://shop.example.com/", kInterval),
             HttpCheck("shop-cart", "shop", "https://shop.example.com/cart", kInterval)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time fixed = fault + absl::Minutes(20);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.region_name != "ber" || c.start < fault || c.start >= fixed) {
      return;
    }
    // 2 min on, 2 min off.
    if (((c.start - fault) / absl::Minutes(2)) % 2 != 0) {
      return;
    }
    o->cls = FC::HTTP_TIMEOUT;
    o->first_byte_us = 0;
    o->total_us = 1000000;
    o->detail = "no response from 10.3.0.7:443 within 1s";
  });
  d.RunUntil(fixed + absl::Minutes(30));

  const std::vector<TimedEvent> regional = d.EventsOf(IncidentKind::kRegionalOutage);
  ASSERT_FALSE(regional.empty()) << d.Dump();
  const absl::Duration ttd = d.FirstOpened(IncidentKind::kRegionalOutage, fault) - fault;
  PrintTtd("regional outage", ttd);
  EXPECT_LE(ttd, kOutageBudget) << d.Dump();
  for (const TimedEvent& e : regional) {
    EXPECT_THAT(e.event.incident.regions, ElementsAre("ber")) << DebugString(e.event);
    EXPECT_EQ(e.event.incident.severity, Severity::kPage);
  }
  // One incident across the on/off cycles, not a storm of them.
  EXPECT_EQ(IdsOf(Availability(d)).size(), 1u) << d.Dump();
  EXPECT_TRUE(d.EventsOf(IncidentKind::kGlobalOutage).empty()) << d.Dump();

  const std::vector<TimedEvent> flapping = d.EventsOf(IncidentKind::kFlapping);
  ASSERT_FALSE(flapping.empty()) << d.Dump();
  EXPECT_EQ(flapping.front().event.kind, IncidentEventKind::kOpened);
  EXPECT_LT(flapping.front().tick, fixed);
  EXPECT_THAT(flapping.front().event.incident.regions, ElementsAre("ber"));
  EXPECT_EQ(flapping.front().event.incident.severity, Severity::kTicket);
  EXPECT_EQ(flapping.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  EXPECT_EQ(regional.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
}

// mittwald 2018: HTTPS of every host down while HTTP answers; hosts come
// back one by one.
TEST(DetectorScenarioTest, MittwaldHttpsDownHttpUpIsProtocolOutageWithProgress) {
  std::vector<v1::Check> checks;
  for (int h = 0; h < 10; ++h) {
    const std::string host = absl::StrCat("h", h, ".example.net");
    checks.push_back(HttpCheck(absl::StrCat("h", h, "-http"), "hosting",
                               absl::StrCat("http://", host, "/"), kInterval));
    checks.push_back(HttpCheck(absl::StrCat("h", h, "-https"), "hosting",
                               absl::StrCat("https://", host, "/"), kInterval));
  }
  StreamDriver d(Fleet(std::move(checks)), DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  auto back_at = [&](int host) { return fault + absl::Minutes(2) + host * absl::Seconds(30); };
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < fault || c.check_name.find("-https") == std::string::npos) {
      return;
    }
    const int host = c.check_name[1] - '0';
    if (c.start >= back_at(host)) {
      return;
    }
    o->cls = FC::TCP_REFUSED;
    o->tls_us = o->first_byte_us = 0;
    o->detail = "connect to 192.0.2.7:443: Connection refused";
  });
  d.RunUntil(back_at(9) + absl::Minutes(6));

  const std::vector<TimedEvent> protocol = d.EventsOf(IncidentKind::kProtocolOutage);
  ASSERT_FALSE(protocol.empty()) << d.Dump();
  const absl::Duration ttd = d.FirstOpened(IncidentKind::kProtocolOutage, fault) - fault;
  PrintTtd("protocol outage", ttd);
  EXPECT_LE(ttd, kOutageBudget) << d.Dump();
  EXPECT_EQ(IdsOf(Availability(d)).size(), 1u) << d.Dump();
  int max_affected = 0;
  std::vector<int> recovered;
  for (const TimedEvent& e : protocol) {
    const Incident& i = e.event.incident;
    EXPECT_EQ(i.protocol, "https") << DebugString(e.event);
    max_affected = std::max(max_affected, i.affected_targets);
    if (e.event.kind == IncidentEventKind::kProgress && i.recovered_targets > 0) {
      recovered.push_back(i.recovered_targets);
    }
    if (i.affected_targets == 10 && i.recovered_targets == 0) {
      EXPECT_EQ(i.hosts.size(), 10u);
      EXPECT_THAT(i.evidence, HasSubstr("while http answers"));
    }
  }
  EXPECT_EQ(max_affected, 10);
  // "k of 10 hosts recovered" rises one by one to 10, then RESOLVED.
  EXPECT_TRUE(std::is_sorted(recovered.begin(), recovered.end())) << d.Dump();
  EXPECT_EQ(std::set<int>(recovered.begin(), recovered.end()),
            (std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
      << d.Dump();
  EXPECT_EQ(protocol.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  EXPECT_TRUE(d.EventsOf(IncidentKind::kGlobalOutage).empty()) << d.Dump();
}

// mittwald, the whole story: everything down, HTTP back first, HTTPS much
// later. A few seconds of staggered recovery are not a protocol outage; ten
// minutes are, on the same incident.
TEST(DetectorScenarioTest, MittwaldHttpBackLongBeforeHttpsIsReclassifiedOnlyWhenItLasts) {
  std::vector<v1::Check> checks;
  for (const char* host : {"h1", "h2"}) {
    checks.push_back(HttpCheck(absl::StrCat(host, "-http"), "hosting",
                               absl::StrCat("http://", host, ".example.net/"), kInterval));
    checks.push_back(HttpCheck(absl::StrCat(host, "-https"), "hosting",
                               absl::StrCat("https://", host, ".example.net/"), kInterval));
  }
  StreamDriver d(Fleet(std::move(checks)), DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time http_back = fault + absl::Minutes(5);
  // h1: https back 10 s after http (staggered recovery); h2: 10 min after.
  auto https_back = [&](const std::string& check) {
    return check.rfind("h1", 0) == 0 ? http_back + absl::Seconds(10)
                                     : http_back + absl::Minutes(10);
  };
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    const bool https = c.check_name.find("-https") != std::string::npos;
    const absl::Time back = https ? https_back(c.check_name) : http_back;
    if (c.start < fault || c.start >= back) {
      return;
    }
    o->cls = FC::TCP_TIMEOUT;
    o->total_us = 1000000;
    o->detail = "connect to 192.0.2.9: timed out";
  });
  d.RunUntil(http_back + absl::Minutes(20));

  const std::vector<TimedEvent> events = Availability(d);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(IdsOf(events).size(), 1u) << d.Dump();
  EXPECT_EQ(events.front().event.incident.kind == IncidentKind::kGlobalOutage ||
                events.front().event.incident.kind == IncidentKind::kRegionalOutage,
            true);
  const TimedEvent* to_protocol = nullptr;
  for (const TimedEvent& e : events) {
    if (e.event.kind == IncidentEventKind::kReclassified &&
        e.event.incident.kind == IncidentKind::kProtocolOutage) {
      EXPECT_EQ(to_protocol, nullptr) << "reclassified twice\n" << d.Dump();
      to_protocol = &e;
    }
  }
  ASSERT_NE(to_protocol, nullptr) << d.Dump();
  // Not during h1's 10 s of staggered recovery; after reclassify_after.
  EXPECT_GE(to_protocol->event.at - http_back, absl::Minutes(2)) << d.Dump();
  EXPECT_LE(to_protocol->event.at - http_back, absl::Minutes(3)) << d.Dump();
  EXPECT_EQ(to_protocol->event.previous_kind, IncidentKind::kGlobalOutage);
  EXPECT_THAT(to_protocol->event.incident.checks, ElementsAre("h2-https"));
  EXPECT_EQ(to_protocol->event.incident.protocol, "https");
  EXPECT_EQ(events.back().event.kind, IncidentEventKind::kResolved);
}

// lexoffice: latency x8 behind a saturated firewall; every check still 200.
TEST(DetectorScenarioTest, LexofficeLatencyTimesEightIsLatencyDegradationNamingThePhase) {
  StreamDriver d(Fleet({HttpCheck("books-web", "books", "https://books.example.com/", kInterval),
                        HttpCheck("books-api", "books", "https://books.example.com/api", kInterval),
                        HttpCheck("other-web", "other", "https://other.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(70);  // after an hour of baseline
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < fault || c.check_name.rfind("books-", 0) != 0) {
      return;
    }
    o->first_byte_us *= 8;
  });
  d.RunUntil(fault + absl::Minutes(15));

  const std::vector<TimedEvent> latency = d.EventsOf(IncidentKind::kLatencyDegradation);
  ASSERT_FALSE(latency.empty()) << d.Dump();
  const absl::Duration ttd = d.FirstOpened(IncidentKind::kLatencyDegradation, fault) - fault;
  PrintTtd("latency degradation", ttd);
  EXPECT_LE(ttd, absl::Minutes(3));
  const Incident& i = latency.back().event.incident;
  EXPECT_EQ(i.service, "books");
  EXPECT_THAT(i.checks, ElementsAre("books-api", "books-web"));
  EXPECT_THAT(i.regions, ElementsAre("ams", "ber", "fra"));
  EXPECT_EQ(i.latency_phase, LatencyPhase::kFirstByte);
  EXPECT_GT(i.latency_p95, 2 * i.latency_baseline_p95);
  EXPECT_THAT(i.evidence, HasSubstr("first_byte moved most"));
  EXPECT_TRUE(Availability(d).empty()) << d.Dump();
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.service, "books");
  }
}

// The acceptance run of issue 11: a collector up for five minutes (no
// hour of baseline yet), then +500 ms first byte on one service in every
// region at a second that is no minute boundary. The fast window reports it
// within 3 minutes at the shipped defaults, before the slow window could.
TEST(DetectorScenarioTest, LatencyPlusHalfASecondFiveMinutesAfterStartIsSeenWithinThreeMinutes) {
  StreamDriver d(Fleet({HttpCheck("books-web", "books", "https://books.example.com/", kInterval),
                        HttpCheck("other-web", "other", "https://other.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(5) + absl::Seconds(37);
  const absl::Time fixed = fault + absl::Minutes(4);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start >= fault && c.start < fixed && c.check_name == "books-web") {
      o->first_byte_us += 500000;
    }
  });
  d.RunUntil(fixed + absl::Minutes(15));

  const absl::Duration ttd = d.FirstOpened(IncidentKind::kLatencyDegradation, fault) - fault;
  PrintTtd("latency +500ms, 5 min of history", ttd);
  EXPECT_LE(ttd, absl::Minutes(3)) << d.Dump();
  const std::vector<TimedEvent> latency = d.EventsOf(IncidentKind::kLatencyDegradation);
  ASSERT_FALSE(latency.empty()) << d.Dump();
  EXPECT_EQ(IdsOf(latency).size(), 1u) << d.Dump();
  const Incident& i = latency.front().event.incident;
  EXPECT_EQ(i.service, "books");
  EXPECT_EQ(i.latency_phase, LatencyPhase::kFirstByte);
  EXPECT_GT(i.latency_p95, absl::Milliseconds(500));
  EXPECT_LT(i.latency_baseline_p95, absl::Milliseconds(100));
  // It ends once the slow minutes left the 10-minute window too.
  EXPECT_EQ(latency.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  EXPECT_LE(latency.back().event.incident.resolved_at, fixed + absl::Minutes(11)) << d.Dump();
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.service, "books") << DebugString(e.event);
  }
}

// lemniscus's other half: one prober's own network is black-holed.
TEST(DetectorScenarioTest, ProberFailingEveryTargetIsProberFaultAndNoTargetIncident) {
  StreamDriver d(Fleet({HttpCheck("a-web", "a", "http://a.example.com/", kInterval),
                        HttpCheck("a-api", "a", "https://a.example.com/api", kInterval),
                        HttpCheck("b-web", "b", "https://b.example.com/", kInterval),
                        TcpCheck("b-ssh", "b", "b.example.com", 22, kInterval),
                        HttpCheck("c-web", "c", "https://c.example.com/", kInterval),
                        DnsCheck("c-dns", "c", "c.example.com", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time fixed = fault + absl::Minutes(10);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.region_name != "ams" || c.start < fault || c.start >= fixed) {
      return;
    }
    o->cls = c.check_name == "c-dns" ? FC::DNS_TIMEOUT : FC::TCP_TIMEOUT;
    o->total_us = 1000000;
    o->detail = "no answer within 1s";
  });
  d.RunUntil(fixed + absl::Minutes(10));

  const std::vector<TimedEvent> fault_events = d.EventsOf(IncidentKind::kProberFault);
  ASSERT_FALSE(fault_events.empty()) << d.Dump();
  const Incident& i = fault_events.front().event.incident;
  EXPECT_EQ(fault_events.front().event.kind, IncidentEventKind::kOpened);
  EXPECT_THAT(i.regions, ElementsAre("ams"));
  EXPECT_EQ(i.service, "sonde");
  EXPECT_EQ(i.checks.size(), 6u);
  EXPECT_THAT(i.evidence, HasSubstr("region ams (prober ams) fails 6 of 6 checks"));
  PrintTtd("prober fault (incl. 30s hold)", fault_events.front().tick - fault);
  EXPECT_LE(fault_events.front().tick - fault, absl::Seconds(45));
  EXPECT_EQ(fault_events.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kProberFault) << DebugString(e.event);
  }
}

// Healthy but noisy: 1% of requests fail everywhere, at random.
TEST(DetectorScenarioTest, OnePercentRandomFailuresEverywhereOpenNothing) {
  StreamDriver d(Fleet({HttpCheck("n-web", "n", "https://n.example.com/", kInterval, 3),
                        HttpCheck("n-api", "n", "https://n.example.com/api", kInterval, 3),
                        HttpCheck("m-web", "m", "https://m.example.com/", kInterval, 3),
                        HttpCheck("m-api", "m", "https://m.example.com/api", kInterval, 3),
                        TcpCheck("m-ssh", "m", "m.example.com", 22, kInterval),
                        TcpCheck("n-ssh", "n", "n.example.com", 22, kInterval)}),
                 DetectorOptions{});
  const absl::Time noisy = T0() + absl::Minutes(10);
  const absl::Time quiet = noisy + absl::Minutes(10);
  uint64_t failures = 0;
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < noisy || c.start >= quiet || Uniform(c, 7) >= 0.01) {
      return;
    }
    ++failures;
    FailHttp(o, 502, "HTTP 502 from 192.0.2.20:443, expected 200-399");
  });
  d.RunUntil(quiet + absl::Minutes(5));
  EXPECT_GT(failures, 100u);  // the noise is really there
  EXPECT_TRUE(d.events().empty()) << d.Dump();
}

// The same noise from the first run on, on a detector started 27 s before
// a minute boundary (the scenario suite's NoiseTest: a fresh collector,
// noise switched on seconds after start). The slow window's first complete
// minute then holds 39 probes per region, where 2 failures are 5%: before
// the slow rule asked whether a count is more than noise, that boundary
// opened PARTIAL_FAILURE on some check in about one run of the scenario in
// ten. Many checks and draws make that near certain (~5 expected).
TEST(DetectorScenarioTest, OnePercentNoiseFromTheFirstRunOpensNothing) {
  std::vector<v1::Check> checks;
  for (const char* service : {"shop", "api", "auth", "cdn"}) {
    for (const char* path : {"home", "login", "health", "cart", "search", "pay"}) {
      checks.push_back(HttpCheck(absl::StrCat(service, "-", path), service,
                                 absl::StrCat("https://", service, ".example.com/", path),
                                 kInterval, 3));
    }
  }
  for (uint64_t salt = 1; salt <= 100; ++salt) {
    StreamDriver d(Fleet(checks), DetectorOptions{}, DriverOptions{}, T0() + absl::Seconds(33));
    uint64_t failures = 0;
    d.set_behavior([&](const RunContext& c, Outcome* o) {
      if (Uniform(c, 100 + salt) >= 0.01) {
        return;
      }
      ++failures;
      FailHttp(o, 503, "HTTP 503 from 192.0.2.20:443, expected 200-399");
    });
    d.RunUntil(T0() + absl::Minutes(3));
    EXPECT_GT(failures, 20u);  // the noise is really there
    EXPECT_TRUE(d.events().empty()) << "draw " << salt << ":\n" << d.Dump();
  }
}

// A check probing every 30 s (3 requests per run, as docs/detection.md
// advises) sends 7 probes in the fast window, too few for the fast rule: a
// quarter of it failing is the slow rule's (with its noise test: 3-4
// failures per region, not 2) and the burn rates', within minutes.
TEST(DetectorScenarioTest, SparseCheckWithAQuarterFailingIsPartialFailureWithinMinutes) {
  const absl::Duration interval = absl::Seconds(30);
  StreamDriver d(Fleet({HttpCheck("b-login", "b", "https://b.example.com/login", interval, 3),
                        HttpCheck("b-root", "b", "https://b.example.com/", interval, 3)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(20);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.check_name == "b-login" && c.start >= fault && Uniform(c, 11) < 0.25) {
      FailHttp(o);
    }
  });
  d.RunUntil(fault + absl::Minutes(20));
  const absl::Time opened = d.FirstOpened(IncidentKind::kPartialFailure, fault);
  ASSERT_NE(opened, absl::InfiniteFuture()) << d.Dump();
  PrintTtd("sparse partial (30 s)", opened - fault);
  // The fast rule on this minute and the ones before that hold 30 probes
  // (~1m40s here); the 15-minute slow window, diluted by the healthy
  // minutes before the fault, took four.
  EXPECT_LE(opened - fault, absl::Minutes(2)) << d.Dump();
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kPartialFailure) << DebugString(e.event);
    EXPECT_GE(e.tick, fault) << DebugString(e.event);
  }
}

// Boxcryptor at the shipped check defaults: one request per run, every
// 10 s, a quarter of them failing in three regions. A region's runs fail
// two in a row one time in sixteen, so early on one can look DOWN and open
// an outage; the partial failure found on that check continues the same
// incident, RECLASSIFIED. Whatever the first minutes look like: one
// incident, a PARTIAL_FAILURE within three minutes, reporting the share
// drawn (not the 50-80% a share counted from a first failure read on a few
// probes).
// Eight fault streams (each a different random draw).
TEST(DetectorScenarioTest, QuarterFailingAtOneRequestPerRunIsOnePartialFailure) {
  for (uint64_t draw = 1; draw <= 8; ++draw) {
    SCOPED_TRACE(absl::StrCat("draw ", draw));
    StreamDriver d(
        Fleet({HttpCheck("q-login", "q", "https://q.example.com/login", absl::Seconds(10)),
               HttpCheck("q-root", "q", "https://q.example.com/", absl::Seconds(10))}),
        DetectorOptions{});
    const absl::Time fault = T0() + absl::Minutes(20);
    const absl::Time fixed = fault + absl::Minutes(12);
    int drawn_probes = 0, drawn_fails = 0;  // what the login probes did during the fault
    d.set_behavior([&](const RunContext& c, Outcome* o) {
      if (c.check_name == "q-login" && c.start >= fault && c.start < fixed) {
        ++drawn_probes;
        if (Uniform(c, 100 + draw) < 0.25) {
          FailHttp(o);
          ++drawn_fails;
        }
      }
    });
    d.RunUntil(fixed);
    const std::vector<TimedEvent> events = Availability(d);
    ASSERT_FALSE(events.empty()) << d.Dump();
    EXPECT_EQ(IdsOf(events).size(), 1u) << d.Dump();
    EXPECT_LE(FirstShowing(d, IncidentKind::kPartialFailure, fault) - fault, absl::Minutes(3))
        << d.Dump();
    const Incident& last = events.back().event.incident;
    EXPECT_EQ(last.kind, IncidentKind::kPartialFailure) << d.Dump();
    EXPECT_THAT(last.checks, ElementsAre("q-login"));
    // Every share on at least 15 probes (the sparse fast rule's least):
    // within three standard deviations of 25% there, not the 63-100% a
    // share counted from a region's first failure read on 2-6 probes.
    for (const TimedEvent& e : events) {
      if (e.event.incident.kind == IncidentKind::kPartialFailure) {
        EXPECT_GE(e.event.incident.failing_share, 0.08) << DebugString(e.event);
        EXPECT_LE(e.event.incident.failing_share, 0.58) << DebugString(e.event);
        ExpectEvidenceCountsMakeTheShare(e);
      }
    }
    // The last share reported (it moves in steps of 5 points) is the one
    // the probes drew.
    EXPECT_NEAR(last.failing_share, static_cast<double>(drawn_fails) / drawn_probes, 0.07)
        << d.Dump();
  }
}

// 30% of the probes fail in two regions of three, on a check every 30 s
// (the slow rule's: too few probes for the fast window). The share reported
// is the share in the regions the evidence names (~30% in ams, ber), not the
// slow window's over all three, diluted by fra's healthy probes (20%): an
// on-call reading "20% failing in ams, ber" would look for the wrong fault.
TEST(DetectorScenarioTest, PartialFailureInTwoRegionsReportsTheShareThere) {
  StreamDriver d(
      Fleet({HttpCheck("c-login", "c", "https://c.example.com/login", absl::Seconds(30), 3)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(20);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start >= fault && c.region_name != "fra" && Uniform(c, 13) < 0.30) {
      FailHttp(o);
    }
  });
  d.RunUntil(fault + absl::Minutes(12));
  const std::vector<TimedEvent> partial = d.EventsOf(IncidentKind::kPartialFailure);
  ASSERT_FALSE(partial.empty()) << d.Dump();
  for (const TimedEvent& e : partial) {
    EXPECT_THAT(e.event.incident.evidence, HasSubstr("in ams, ber (")) << DebugString(e.event);
    ExpectEvidenceCountsMakeTheShare(e);
    EXPECT_GE(e.event.incident.failing_share, 0.15) << DebugString(e.event);
  }
  // Ten minutes in, the window holds 120 probes of the two regions.
  EXPECT_GE(partial.back().event.incident.failing_share, 0.24) << d.Dump();
  EXPECT_LE(partial.back().event.incident.failing_share, 0.36) << d.Dump();
}

// A prober that stops sending: its region goes STALE, never "down".
TEST(DetectorScenarioTest, SilentProberMakesItsRegionStaleNotAnOutage) {
  StreamDriver d(Fleet({HttpCheck("s-web", "s", "https://s.example.com/", kInterval),
                        HttpCheck("s-api", "s", "https://s.example.com/api", kInterval),
                        TcpCheck("s-ssh", "s", "s.example.com", 22, kInterval)}),
                 DetectorOptions{});
  const absl::Time silent = T0() + absl::Minutes(10);
  const absl::Time back = silent + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.region_name == "ber" && c.start >= silent && c.start < back) {
      o->skip = true;
    }
  });
  d.RunUntil(silent + absl::Minutes(2));
  for (const char* check : {"s-web", "s-api", "s-ssh"}) {
    const SeriesStatus st = d.detector().Status(check, "ber");
    EXPECT_EQ(st.state, RegionState::kStale) << check;
    EXPECT_FALSE(st.voting);
    EXPECT_FALSE(st.outage);
    EXPECT_EQ(d.detector().Status(check, "fra").state, RegionState::kUp);
  }
  d.RunUntil(back + absl::Minutes(10));
  EXPECT_EQ(d.detector().Status("s-web", "ber").state, RegionState::kUp);
  EXPECT_TRUE(Availability(d).empty()) << d.Dump();
  const std::vector<TimedEvent> fault = d.EventsOf(IncidentKind::kProberFault);
  ASSERT_FALSE(fault.empty()) << d.Dump();
  EXPECT_THAT(fault.front().event.incident.regions, ElementsAre("ber"));
  EXPECT_THAT(fault.front().event.incident.evidence, HasSubstr("no results from region ber"));
  EXPECT_EQ(fault.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
}

// Down from everywhere.
TEST(DetectorScenarioTest, DownInAllThreeRegionsIsGlobalOutage) {
  StreamDriver d(Fleet({HttpCheck("shop-home", "shop", "https://shop.example.com/", kInterval),
                        HttpCheck("blog-home", "blog", "https://blog.example.com/", kInterval)}),
                 DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(10);
  const absl::Time fixed = fault + absl::Minutes(5);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.check_name != "shop-home" || c.start < fault || c.start >= fixed) {
      return;
    }
    FailHttp(o, 503, "HTTP 503 from 192.0.2.30:443, expected 200-399");
  });
  d.RunUntil(fixed + absl::Minutes(5));

  const absl::Time global = FirstShowing(d, IncidentKind::kGlobalOutage, fault);
  ASSERT_NE(global, absl::InfiniteFuture()) << d.Dump();
  PrintTtd("global outage", global - fault);
  EXPECT_LE(global - fault, kOutageBudget) << d.Dump();
  const std::vector<TimedEvent> events = Availability(d);
  EXPECT_EQ(IdsOf(events).size(), 1u) << d.Dump();
  const Incident& peak = LastBefore(events, fixed).event.incident;
  EXPECT_EQ(peak.kind, IncidentKind::kGlobalOutage);
  EXPECT_THAT(peak.regions, ElementsAre("ams", "ber", "fra"));
  EXPECT_THAT(peak.checks, ElementsAre("shop-home"));
  EXPECT_EQ(peak.dominant_class, FC::HTTP_STATUS);
  EXPECT_THAT(peak.evidence, HasSubstr("HTTP_STATUS from ams, ber, fra: HTTP 503"));
  EXPECT_EQ(events.back().event.kind, IncidentEventKind::kResolved);
  EXPECT_EQ(events.back().event.incident.resolved_at - fixed < absl::Seconds(10), true)
      << DebugString(events.back().event);
  for (const TimedEvent& e : d.events()) {
    EXPECT_EQ(e.event.incident.service, "shop");
  }
}

// A target that never answered (the quickstart's legacy-admin): refused
// from its very first run, in every region, at a 5 s interval. With no
// healthy history, it is still an outage of every region -- never a
// "partial failure" of 100% of the probes.
TEST(DetectorScenarioTest, DownFromTheFirstRunInEveryRegionIsGlobalOutageNotPartial) {
  // The quickstart's three checks: one healthy, one failing a third of its
  // requests (3 per run), one refused from the start.
  // Started 5 s before a minute boundary, where the SLO burn-rate rules
  // are decided: the first runs have all failed, none confirmed yet.
  constexpr absl::Duration kEvery = absl::Seconds(5);
  const absl::Time start = T0() + absl::Seconds(55);
  StreamDriver d(Fleet({HttpCheck("shop-home", "shop", "http://127.0.0.1:8/", kEvery),
                        HttpCheck("shop-login", "shop", "http://127.0.0.1:8/login", kEvery, 3),
                        HttpCheck("legacy-admin", "legacy", "http://127.0.0.1:9/admin", kEvery)}),
                 DetectorOptions{}, DriverOptions{}, start);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.check_name == "legacy-admin") {
      o->cls = FC::TCP_REFUSED;
      o->detail = "Failed to connect to 127.0.0.1 port 9: Connection refused";
    } else if (c.check_name == "shop-login" && Uniform(c, 7) < 1.0 / 3) {
      FailHttp(o, 503, "HTTP 503 from 127.0.0.1:8, expected 200-399");
    }
  });
  d.RunUntil(start + absl::Minutes(3));

  std::vector<TimedEvent> legacy;
  for (const TimedEvent& e : Availability(d)) {
    if (e.event.incident.service == "legacy") {
      legacy.push_back(e);
    }
  }
  ASSERT_FALSE(legacy.empty()) << d.Dump();
  // The prober slots are staggered, so the first region may open it as
  // regional; all three regions make it global within seconds.
  const absl::Time global = FirstShowing(d, IncidentKind::kGlobalOutage, start);
  EXPECT_LE(global - start, 4 * kEvery) << d.Dump();
  for (const TimedEvent& e : legacy) {
    EXPECT_NE(e.event.incident.kind, IncidentKind::kPartialFailure) << d.Dump();
  }
  EXPECT_EQ(IdsOf(legacy).size(), 1u) << d.Dump();
  EXPECT_EQ(LastBefore(legacy, start + absl::Minutes(3)).event.incident.kind,
            IncidentKind::kGlobalOutage);
}

// A quarter of the logins fail, then the whole backend goes down: the open
// PARTIAL_FAILURE is renamed GLOBAL_OUTAGE as soon as the outage is
// confirmed, not after the 2 min hold that keeps recoveries from flapping.
TEST(DetectorScenarioTest, PartialFailureThatBecomesAnOutageEscalatesAtOnce) {
  StreamDriver d(
      Fleet({HttpCheck("api-login", "api", "https://api.example.com/login", kInterval, 3)}),
      DetectorOptions{});
  const absl::Time partial = T0() + absl::Minutes(10);
  const absl::Time down = partial + absl::Minutes(2);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start >= down || (c.start >= partial && Uniform(c, 3) < 0.25)) {
      FailHttp(o);
    }
  });
  d.RunUntil(down + absl::Minutes(3));

  ASSERT_LT(d.FirstOpened(IncidentKind::kPartialFailure, partial), down) << d.Dump();
  const absl::Time global = FirstShowing(d, IncidentKind::kGlobalOutage, down);
  ASSERT_NE(global, absl::InfiniteFuture()) << d.Dump();
  PrintTtd("partial -> global", global - down);
  EXPECT_LE(global - down, kOutageBudget) << d.Dump();
  EXPECT_EQ(IdsOf(Availability(d)).size(), 1u) << d.Dump();
}

// The scenario suite's Boxcryptor on a young detector: 18 s of history,
// then a quarter of the logins fail 7 s before a minute boundary,
// where the slow partial rule is decided. Whichever rule opens it, the
// share reported is the fault's, not the slow window's diluted by the
// healthy minute before it.
TEST(DetectorScenarioTest, PartialFailureOpenedAtAMinuteBoundaryReportsTheFaultsShare) {
  StreamDriver d(
      Fleet({HttpCheck("api-login", "api", "https://api.example.com/login", kInterval, 3),
             HttpCheck("api-root", "api", "https://api.example.com/", kInterval, 3)}),
      DetectorOptions{}, DriverOptions{}, T0() + absl::Seconds(35));
  const absl::Time fault = T0() + absl::Seconds(53);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.check_name == "api-login" && c.start >= fault && Uniform(c, 5) < 0.25) {
      FailHttp(o);
    }
  });
  d.RunUntil(fault + absl::Minutes(2));

  const std::vector<TimedEvent> partial = d.EventsOf(IncidentKind::kPartialFailure);
  ASSERT_FALSE(partial.empty()) << d.Dump();
  EXPECT_EQ(partial.front().event.kind, IncidentEventKind::kOpened);
  EXPECT_GE(partial.front().event.incident.failing_share, 0.12) << d.Dump();
  EXPECT_LE(partial.front().event.incident.failing_share, 0.40) << d.Dump();
}

// SLO burn: 0.5% of requests fail for hours against a 99.9% SLO (burn 5x):
// no page, a ticket once the 3 d and 6 h windows both burn > 1.
TEST(DetectorScenarioTest, SlowBudgetBurnOpensATicketNotAPage) {
  StreamDriver d(Fleet({HttpCheck("pay-api", "pay", "https://pay.example.com/", kInterval, 3)}),
                 DetectorOptions{}, DriverOptions{absl::Seconds(1)});
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (Uniform(c, 3) >= 0.005) {
      return;
    }
    FailHttp(o, 500, "HTTP 500 from 192.0.2.40:443, expected 200-399");
  });
  d.RunUntil(T0() + absl::Hours(16));
  const std::vector<TimedEvent> events = d.events();
  ASSERT_FALSE(events.empty()) << "no ticket";
  for (const TimedEvent& e : events) {
    EXPECT_EQ(e.event.incident.kind, IncidentKind::kPartialFailure) << DebugString(e.event);
    EXPECT_EQ(e.event.incident.severity, Severity::kTicket) << DebugString(e.event);
  }
  // History shorter than the 3 d window counts as within budget: at 5x the
  // ticket needs about 1/5 of 3 d = 14.4 h of history (less with noise).
  EXPECT_GE(events.front().tick - T0(), absl::Hours(12));
  EXPECT_THAT(events.front().event.incident.evidence, HasSubstr("error budget burning"));
}

}  // namespace
}  // namespace sonde::detect::testing
