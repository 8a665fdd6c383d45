#include "collector/detect/evidence_text.h"

#include <gtest/gtest.h>

#include "sonde/v1/result.pb.h"

namespace sonde::detect {
namespace {

using FC = v1::FailureClass;

// The DNS fallback's evidence comes from the structured fields of the
// result (fallback_address, fallback_class, fallback_http_status).
TEST(EvidenceTextTest, FallbackSaysWhatTheLastKnownAddressDid) {
  EXPECT_EQ(FallbackText("192.0.2.10", FC::OK, 200),
            "server at last known address 192.0.2.10 answers 200");
  EXPECT_EQ(FallbackText("192.0.2.10", FC::HTTP_STATUS, 503),
            "server at last known address 192.0.2.10 answers 503");
  EXPECT_EQ(FallbackText("2001:db8::1", FC::OK, 0),
            "server at last known address 2001:db8::1 answers");
  EXPECT_EQ(FallbackText("192.0.2.10", FC::TCP_REFUSED, 0),
            "server at last known address 192.0.2.10 fails too (TCP_REFUSED)");
}

TEST(EvidenceTextTest, ClassNamesAndRcodes) {
  EXPECT_EQ(ClassName(FC::TCP_TIMEOUT), "TCP_TIMEOUT");
  EXPECT_EQ(ClassName(126), "CLASS_126");
  EXPECT_EQ(Rcode(FC::DNS_SERVFAIL), "SERVFAIL");
  EXPECT_TRUE(IsDnsClass(FC::DNS_TIMEOUT));
  EXPECT_FALSE(IsDnsClass(FC::TCP_TIMEOUT));
  EXPECT_EQ(Millis(850e3), "850ms");
  EXPECT_EQ(Millis(1.25e6), "1.25s");
}

}  // namespace
}  // namespace sonde::detect
