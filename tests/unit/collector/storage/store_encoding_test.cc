// Store pieces that need no database: connection-string handling and the
// COPY text encoding.
#include <gtest/gtest.h>

#include <string>

#include "collector/storage/copy_rows.h"
#include "collector/storage/extra_json.h"
#include "collector/storage/store.h"
#include "collector/storage/utf8.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace sonde::collector {
namespace {

TEST(StoreConnectTest, BadSyntaxIsInvalidArgumentAndNoServerIsUnavailable) {
  auto bad = Store::Connect("host=127.0.0.1 port");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  // Port 1 on loopback: nothing listens there.
  auto down = Store::Connect("host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=2");
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  EXPECT_EQ(Store::DescribeConnInfo("host=db port=5 user=u password=secret dbname=d"),
            "user=u dbname=d host=db port=5");
}

TEST(CopyTextTest, SanitizeAndEscape) {
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), "ab");
  EXPECT_EQ(SanitizeUtf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xe2\x9c"),
            "\xEF\xBF\xBD\xEF\xBF\xBD");       // truncated sequence
  EXPECT_EQ(SanitizeUtf8("\xf4\x90\x80\x80"),  // above U+10FFFF
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string out;
  AppendCopyField("a\\b\tc\nd\re", &out);
  EXPECT_EQ(out, "a\\\\b\\tc\\nd\\re");
}

// The `extra` column's printer must say what protobuf's JSON printer says:
// compared as parsed JSON, over results with every kind of field.
TEST(ResultJsonTest, MatchesProtobufJsonPrinter) {
  std::vector<v1::ProbeResult> cases;
  cases.emplace_back();  // nothing set
  v1::ProbeResult full;
  full.set_check_id("app-login");
  full.set_service("app");
  full.set_kind("http");
  full.set_prober_id("p-fra");
  full.set_region("fra");
  full.set_seq(18446744073709551615ull);  // 64-bit: a JSON string
  full.mutable_start_time()->set_seconds(1795245906);
  full.mutable_start_time()->set_nanos(123000000);
  full.set_ok(false);
  full.set_failure_class(v1::FailureClass::TLS_CERT_EXPIRED);
  full.set_detail(
      "quote \" backslash \\ tab \t newline \n bell \x07 del \x7f <&> \xc3\xa9 \xe2\x9c\x93");
  full.set_dns_us(4294967295u);
  full.set_total_us(1);
  full.set_target("https://app.example.test/login?a=1&b=2");
  full.set_http_status(-1);
  full.set_request_index(2);
  full.set_tls_version("TLSv1.3");
  full.add_cert_sans("a.test");
  full.add_cert_sans("b.test");
  full.set_cert_not_after("2026-12-30T00:00:00Z");
  full.set_cert_days_left(-3);
  full.set_dns_rcode("NOERROR");
  v1::DnsResolverResult* dns = full.add_dns();
  dns->set_resolver("127.0.0.1:5353");
  dns->set_rcode("NXDOMAIN");
  dns->set_failure_class(v1::FailureClass::DNS_NXDOMAIN);
  v1::DnsRecord* rec = dns->add_answers();
  rec->set_name("x.test");
  rec->set_type("A");
  rec->set_ttl(60);
  rec->set_data("192.0.2.1");
  full.add_dns()->set_resolver("system");
  full.set_body_bytes(1ull << 40);
  cases.push_back(full);
  for (int32_t nanos : {0, 1, 1000, 999999999}) {  // 0, 9, 6 and 9 digits
    v1::ProbeResult r;
    r.mutable_start_time()->set_seconds(-62135596800);  // 0001-01-01
    r.mutable_start_time()->set_nanos(nanos);
    r.set_failure_class(static_cast<v1::FailureClass::Code>(999));  // unknown enum value
    cases.push_back(r);
  }
  v1::ProbeResult lossy;  // a float field set: printed by protobuf's printer
  lossy.set_kind("icmp");
  lossy.set_icmp_sent(3);
  lossy.set_icmp_loss(1.0 / 3);
  cases.push_back(lossy);
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  for (const v1::ProbeResult& r : cases) {
    std::string want;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(r, &want, opts).ok());
    const std::string got = ResultJson(r);
    google::protobuf::Value want_value, got_value;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(want, &want_value).ok()) << want;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got, &got_value).ok()) << got;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want_value, got_value))
        << "protobuf: " << want << "\nours:     " << got;
  }
}

// Every result takes the direct printer unless it has a float set: a new
// ProbeResult field of a type it does not handle (a map, a well-known type)
// would send all of ingest through protobuf's printer, several times slower
// (it did once: icmp_loss, a double, turned the direct printer off).
TEST(ResultJsonTest, DirectPrinterCoversProbeResult) {
  EXPECT_TRUE(DirectJsonCovers(v1::ProbeResult::descriptor()));
}

}  // namespace
}  // namespace sonde::collector
