#include "prober/probes/cert_fields.h"

#include "gtest/gtest.h"

namespace sonde::prober {
namespace {

TEST(CertFieldsTest, ReadsTheDatesCurlPrints) {
  absl::Time t;
  ASSERT_TRUE(ParseCertInfoDate("Jan  2 15:04:05 2027 GMT", &t));
  EXPECT_EQ(t, absl::FromCivil(absl::CivilSecond(2027, 1, 2, 15, 4, 5), absl::UTCTimeZone()));
  ASSERT_TRUE(ParseCertInfoDate("Dec 31 23:59:59 2049 GMT", &t));
  EXPECT_EQ(t, absl::FromCivil(absl::CivilSecond(2049, 12, 31, 23, 59, 59), absl::UTCTimeZone()));
}

TEST(CertFieldsTest, RefusesWhatIsNotADate) {
  absl::Time t;
  for (const char* bad :
       {"", "Foo  2 15:04:05 2027 GMT", "Jan 32 15:04:05 2027 GMT", "Jan  2 25:04:05 2027 GMT",
        "Jan  2 15:04:05 2027 CET", "anFe 2 1:1:1 1 GMT", "Jan  2 15:04:05"}) {
    EXPECT_FALSE(ParseCertInfoDate(bad, &t)) << bad;
  }
}

TEST(CertFieldsTest, DaysLeftAndEarliestInChain) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  v1::ProbeResult r;
  SetCertificateTimes(now - absl::Hours(1), now + absl::Hours(24 * 5 + 1),
                      now + absl::Hours(24 * 3), now, &r);
  EXPECT_EQ(r.cert_days_left(), 5);
  EXPECT_EQ(r.chain_not_after(),
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now + absl::Hours(72), absl::UTCTimeZone()));
  SetCertificateTimes(now - absl::Hours(48), now - absl::Hours(1), absl::InfiniteFuture(), now, &r);
  EXPECT_LT(r.cert_days_left(), 0);
}

}  // namespace
}  // namespace sonde::prober
