// CERT_EXPIRING: a certificate within min_days_valid of expiry, seen from
// the majority of the regions reporting it, is one ticket per service with
// the earliest not_after and the days left; a renewal resolves it; an
// expired certificate stays an outage; a minority of regions opens nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/detect/kinds.h"
#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using FC = v1::FailureClass;

constexpr absl::Duration kInterval = absl::Seconds(10);

IncidentKind CertExpiring() {
  std::optional<IncidentKind> k = IncidentKindNamed("CERT_EXPIRING");
  EXPECT_TRUE(k.has_value()) << "no CERT_EXPIRING in the kinds table";
  return k.value_or(IncidentKind::kUnassigned);
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

// A certificate as a probe reports it: not_after and the days left (the
// tests span minutes, so the days left are those at T0).
struct Cert {
  absl::Time expiry;
  OutcomeExtras reported;
};
Cert CertExpiringAt(absl::Time expiry) {
  Cert c{expiry, {}};
  c.reported.cert_not_after = Rfc3339(expiry);
  c.reported.chain_not_after = c.reported.cert_not_after;
  c.reported.cert_days_left = static_cast<int>((expiry - T0()) / absl::Hours(24));
  return c;
}
void Serve(const Cert& cert, const RunContext&, Outcome* o) { o->extras = &cert.reported; }

TEST(CertExpiringTest, OneTicketPerServiceWithTheEarliestExpiryResolvedByARenewal) {
  const IncidentKind kind = CertExpiring();
  StreamDriver d(Fleet({TlsCheck("shop-tls", "shop", "shop.example.com", kInterval),
                        HttpCheck("shop-web", "shop", "https://shop.example.com/", kInterval),
                        TlsCheck("blog-tls", "blog", "blog.example.com", kInterval),
                        // Its owners want a warning 3 days ahead only.
                        TlsCheck("mail-tls", "mail", "mail.example.com", kInterval, 3)}),
                 DetectorOptions{});
  const absl::Time soon = T0() + absl::Minutes(5);
  const absl::Time renewed = soon + absl::Minutes(10);
  const Cert fresh = CertExpiringAt(T0() + absl::Hours(24 * 90));
  // shop's TLS endpoint expires a day before its web front; both within 14.
  const Cert tls_old = CertExpiringAt(T0() + absl::Hours(24 * 5) + absl::Hours(2));
  const Cert web_old = CertExpiringAt(T0() + absl::Hours(24 * 6) + absl::Hours(2));
  const Cert mail_old = CertExpiringAt(T0() + absl::Hours(24 * 5) + absl::Hours(2));
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    const bool expiring = c.start >= soon && c.start < renewed;
    if (c.check_name == "blog-tls" || !expiring) {
      Serve(fresh, c, o);
    } else if (c.check_name == "shop-tls") {
      Serve(tls_old, c, o);
    } else if (c.check_name == "shop-web") {
      Serve(web_old, c, o);
    } else {
      Serve(mail_old, c, o);
    }
  });
  d.RunUntil(renewed + absl::Minutes(6));

  const std::vector<TimedEvent> events = d.EventsOf(kind);
  ASSERT_FALSE(events.empty()) << d.Dump();
  std::set<std::string> ids;
  for (const TimedEvent& e : d.events()) {
    // Nothing but the ticket: the probes succeed, so no outage or partial.
    EXPECT_EQ(e.event.incident.kind, kind) << DebugString(e.event);
    ids.insert(e.event.incident_id);
  }
  EXPECT_EQ(ids.size(), 1u) << "one incident for shop, none for blog or mail:\n" << d.Dump();
  const absl::Time opened = d.FirstOpened(kind, soon);
  EXPECT_LE(opened - soon, 3 * kInterval) << d.Dump();
  const Incident& i = events.front().event.incident;
  EXPECT_EQ(events.front().event.kind, IncidentEventKind::kOpened);
  EXPECT_EQ(i.service, "shop");
  EXPECT_EQ(i.severity, Severity::kTicket);
  EXPECT_STREQ(IncidentKindName(i.kind), "CERT_EXPIRING");
  // Opened once a majority (2 of 3) saw it; all three by the end.
  EXPECT_GE(i.regions.size(), 2u);
  // The last update before the renewal names both checks and the earliest
  // expiry: the TLS endpoint's.
  const Incident* last = nullptr;
  for (const TimedEvent& e : events) {
    if (e.event.at < renewed) {
      last = &e.event.incident;
    }
  }
  ASSERT_NE(last, nullptr);
  EXPECT_THAT(last->checks, ElementsAre("shop-tls", "shop-web"));
  EXPECT_THAT(last->regions, ElementsAre("ams", "ber", "fra"));
  EXPECT_THAT(last->evidence, HasSubstr(tls_old.reported.cert_not_after)) << last->evidence;
  EXPECT_THAT(last->evidence, HasSubstr("(5 days left, minimum 14)")) << last->evidence;
  EXPECT_THAT(last->evidence, HasSubstr("(+1 more checks)")) << last->evidence;
  // Renewed everywhere: resolved after the hold, not before the renewal.
  EXPECT_EQ(events.back().event.kind, IncidentEventKind::kResolved) << d.Dump();
  EXPECT_GT(events.back().event.at, renewed);
  EXPECT_LE(events.back().event.at, renewed + absl::Minutes(4)) << d.Dump();
}

TEST(CertExpiringTest, AMinorityOfRegionsOrAnExpiredCertificateIsNotExpiring) {
  const IncidentKind kind = CertExpiring();
  StreamDriver d(Fleet({TlsCheck("lb-tls", "lb", "lb.example.com", kInterval),
                        TlsCheck("old-tls", "old", "old.example.com", kInterval)}),
                 DetectorOptions{});
  const absl::Time from = T0() + absl::Minutes(5);
  const Cert fresh = CertExpiringAt(T0() + absl::Hours(24 * 90));
  const Cert expiring = CertExpiringAt(T0() + absl::Hours(24 * 4));
  const Cert expired = CertExpiringAt(T0() - absl::Hours(24));
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    if (c.start < from) {
      Serve(fresh, c, o);
    } else if (c.check_name == "lb-tls") {
      // One load balancer of three still has the old certificate.
      Serve(c.region_name == "ams" ? expiring : fresh, c, o);
    } else {
      Serve(expired, c, o);
      o->cls = FC::TLS_CERT_EXPIRED;
      o->detail = "certificate: certificate has expired";
    }
  });
  d.RunUntil(from + absl::Minutes(10));
  EXPECT_TRUE(d.EventsOf(kind).empty()) << d.Dump();
  // The expired one is an outage, as before.
  const std::vector<TimedEvent> outage = d.EventsOf(IncidentKind::kGlobalOutage);
  ASSERT_FALSE(outage.empty()) << d.Dump();
  EXPECT_EQ(outage.back().event.incident.service, "old");
  EXPECT_EQ(outage.back().event.incident.dominant_class, FC::TLS_CERT_EXPIRED);
}

}  // namespace
}  // namespace sonde::detect::testing
