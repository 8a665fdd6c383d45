#include "collector/detect/target.h"

#include <gtest/gtest.h>

namespace sonde::detect {
namespace {

TEST(TargetTest, HostAndProtocolFromTheSpec) {
  struct Case {
    v1::Check check;
    const char* host;
    const char* protocol;
    int port;
  };
  auto http = [](const char* url) {
    v1::Check c;
    c.mutable_http()->set_url(url);
    return c;
  };
  auto tcp = [](const char* host, int port) {
    v1::Check c;
    c.mutable_tcp()->set_host(host);
    c.mutable_tcp()->set_port(port);
    return c;
  };
  v1::Check tls;
  tls.mutable_tls()->set_host("Mail.Example.COM.");
  v1::Check dns;
  dns.mutable_dns()->set_name("app.example.com");
  v1::Check icmp;
  icmp.mutable_icmp()->set_host("Gw.Example.COM");
  auto grpc = [](const char* target) {
    v1::Check c;
    c.mutable_grpc()->set_target(target);
    return c;
  };
  const Case cases[] = {
      {http("http://h1.example.com/"), "h1.example.com", "http", 80},
      {http("https://H1.example.com/login?x=1"), "h1.example.com", "https", 443},
      {http("https://h1.example.com:8443/x"), "h1.example.com", "https", 8443},
      {http("HTTPS://h1.example.com./"), "h1.example.com", "https", 443},
      // Refused by the config validator (credentials, no scheme): unknown.
      {http("https://user:pw@h1.example.com:8443/x"), "", "", 0},
      {http("h1.example.com/"), "", "", 0},
      {http("http://[2001:db8::1]:8080/"), "2001:db8::1", "http", 8080},
      {tls, "mail.example.com", "tls", 443},
      {tcp("h1.example.com", 22), "h1.example.com", "ssh", 22},
      {tcp("h1.example.com", 21), "h1.example.com", "ftp", 21},
      {tcp("h1.example.com", 587), "h1.example.com", "smtp", 587},
      {tcp("h1.example.com", 9999), "h1.example.com", "tcp/9999", 9999},
      {dns, "app.example.com", "dns", 53},
      {icmp, "gw.example.com", "icmp", 0},
      {grpc("api.example.com:50051"), "api.example.com", "grpc", 50051},
      {grpc("[2001:db8::2]:443"), "2001:db8::2", "grpc", 443},
      // Refused by the config validator (no port): host unknown.
      {grpc(""), "", "grpc", 0},
  };
  for (const Case& c : cases) {
    const CheckTarget t = DeriveTarget(c.check);
    EXPECT_EQ(t.host, c.host) << c.check.ShortDebugString();
    EXPECT_EQ(t.protocol, c.protocol) << c.check.ShortDebugString();
    EXPECT_EQ(t.port, c.port) << c.check.ShortDebugString();
  }
}

}  // namespace
}  // namespace sonde::detect
