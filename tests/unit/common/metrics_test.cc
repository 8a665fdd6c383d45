// MetricsServer and BindHttpServer on loopback: port 0 picks a free port,
// the page is what the render callback returns, a malformed address is refused;
// label values escaped and sample values spelled as the text format wants.
#include "common/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace sonde::common {
namespace {

TEST(MetricsServerTest, PortZeroPicksAFreePortAndServesTheRenderedPage) {
  MetricsServer server;
  ASSERT_TRUE(server
                  .Start("127.0.0.1:0",
                         [] {
                           MetricsText m;
                           m.Add("sonde_test_total", "counter", "A test counter.", 7);
                           return m.text();
                         })
                  .ok());
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("sonde_test_total 7"), std::string::npos) << res->body;
  server.Stop();
}

TEST(MetricsTextTest, LabelValueEscaping) {
  EXPECT_EQ(EscapeLabelValue("plain-name_1.2"), "plain-name_1.2");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeLabelValue(std::string("x\0y", 3)), "xy");
  EXPECT_EQ(EscapeLabelValue("\xff"), "\xef\xbf\xbd");  // U+FFFD
  EXPECT_EQ(Label("class", "TCP_REFUSED"), "class=\"TCP_REFUSED\"");
}

TEST(MetricsTextTest, SampleValuesStayExact) {
  EXPECT_EQ(FormatSampleValue(12345678901), "12345678901");
  EXPECT_EQ(FormatSampleValue(0.005), "0.005");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatSampleValue(0.0 / 0.0), "NaN");
}

TEST(MetricsTextTest, FamiliesAndSamples) {
  MetricsText m;
  m.Family("sonde_x_total", "counter", "X.");
  m.Sample("sonde_x_total", Label("class", "OK"), 2);
  m.Sample("sonde_x_total", "", 3);
  EXPECT_EQ(m.text(),
            "# HELP sonde_x_total X.\n# TYPE sonde_x_total counter\n"
            "sonde_x_total{class=\"OK\"} 2\nsonde_x_total 3\n");
}

TEST(BindHttpServerTest, PortZeroIsAFreePortAndABadAddressIsInvalid) {
  httplib::Server server;
  absl::StatusOr<int> port = BindHttpServer(&server, "127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  httplib::Server other;
  EXPECT_TRUE(absl::IsInvalidArgument(BindHttpServer(&other, "127.0.0.1:99999").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(BindHttpServer(&other, ":8080").status()));
}

}  // namespace
}  // namespace sonde::common
