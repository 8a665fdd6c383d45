// The one table of incident kinds: built from the rules' declarations, each
// kind once, names round-trip, the fixed kinds keep their values and
// severities, and every check-rule kind names a rule that summarizes it.
#include "collector/detect/kinds.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "collector/detect/incident.h"
#include "collector/detect/rules/registry.h"

namespace sonde::detect {
namespace {

TEST(KindTableTest, EveryKindOnceByValueAndByName) {
  const std::vector<KindInfo>& table = KindTable();
  std::set<std::string> names;
  for (size_t i = 0; i < table.size(); ++i) {
    const KindInfo& k = table[i];
    SCOPED_TRACE(k.name);
    EXPECT_EQ(k.kind.value(), i);
    EXPECT_TRUE(names.insert(k.name).second) << "name twice";
    ASSERT_TRUE(IncidentKindNamed(k.name).has_value());
    EXPECT_EQ(*IncidentKindNamed(k.name), k.kind);
    EXPECT_STREQ(IncidentKindName(k.kind), k.name);
    if (k.kind != IncidentKind::kProberFault) {
      ASSERT_GE(k.rule, 0);
      ASSERT_LT(static_cast<size_t>(k.rule), rules::Registry().size());
    }
    EXPECT_TRUE(k.group_with == k.kind || InfoOf(k.group_with).availability == k.availability);
  }
  EXPECT_FALSE(IncidentKindNamed("NO_SUCH_KIND").has_value());
}

TEST(KindTableTest, TheFixedKindsKeepTheirNamesSeveritiesAndFamilies) {
  struct Want {
    IncidentKind kind;
    const char* name;
    Severity severity;
    bool availability;
  };
  const Want want[] = {
      {IncidentKind::kGlobalOutage, "GLOBAL_OUTAGE", Severity::kPage, true},
      {IncidentKind::kRegionalOutage, "REGIONAL_OUTAGE", Severity::kPage, true},
      {IncidentKind::kPartialFailure, "PARTIAL_FAILURE", Severity::kPage, true},
      {IncidentKind::kDnsFailure, "DNS_FAILURE", Severity::kPage, true},
      {IncidentKind::kProtocolOutage, "PROTOCOL_OUTAGE", Severity::kPage, true},
      {IncidentKind::kLatencyDegradation, "LATENCY_DEGRADATION", Severity::kPage, false},
      {IncidentKind::kFlapping, "FLAPPING", Severity::kTicket, false},
      {IncidentKind::kProberFault, "PROBER_FAULT", Severity::kTicket, false},
  };
  for (const Want& w : want) {
    const KindInfo& k = InfoOf(w.kind);
    SCOPED_TRACE(w.name);
    EXPECT_STREQ(k.name, w.name);
    EXPECT_EQ(k.severity, w.severity);
    EXPECT_EQ(k.availability, w.availability);
  }
  // Two scopes of one outage: GLOBAL groups with REGIONAL; PROTOCOL_OUTAGE
  // is one incident per protocol.
  EXPECT_EQ(InfoOf(IncidentKind::kGlobalOutage).group_with, IncidentKind::kRegionalOutage);
  EXPECT_TRUE(InfoOf(IncidentKind::kProtocolOutage).per_protocol);
  EXPECT_FALSE(InfoOf(IncidentKind::kDnsFailure).per_protocol);
}

}  // namespace
}  // namespace sonde::detect
