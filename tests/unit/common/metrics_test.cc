// MetricsServer and BindHttpServer on loopback: port 0 picks a free port,
// the page is what the render callback returns, a malformed address is refused.
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
