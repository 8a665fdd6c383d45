#include "common/net.h"

#include <gtest/gtest.h>

namespace sonde::common {
namespace {

TEST(NetTest, HostPort) {
  auto a = ParseHostPort("127.0.0.1:5353", 53);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 5353);
  auto b = ParseHostPort("[::1]:53", 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  auto c = ParseHostPort("::1", 53);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 53);
  EXPECT_EQ(ParseHostPort("example.com", 80)->port, 80);
  EXPECT_FALSE(ParseHostPort("h:70000", 0).ok());
  EXPECT_FALSE(ParseHostPort("h:", 0).ok());
  EXPECT_FALSE(ParseHostPort(":80", 0).ok());
  EXPECT_EQ(FormatHostPort("::1", 53), "[::1]:53");
}

TEST(NetTest, AppendHostPortKeepsWhatIsThereAndWritesNothingElse) {
  std::string out = "connected to ";
  AppendHostPort(&out, "127.0.0.1", 65535);
  EXPECT_EQ(out, "connected to 127.0.0.1:65535");
  AppendHostPort(&out, "2001:db8::1", 0);
  EXPECT_EQ(out, "connected to 127.0.0.1:65535[2001:db8::1]:0");
  out.clear();
  AppendHostPort(&out, "", 7);
  EXPECT_EQ(out, ":7");
  // A name at its longest, and a port outside the valid range (as written).
  const std::string name(253, 'a');
  out = "x";
  AppendHostPort(&out, name, -2147483647 - 1);
  EXPECT_EQ(out, "x" + name + ":-2147483648");  // nothing left after the digits
}

TEST(NetTest, Url) {
  auto u = ParseUrl("https://App.example.com:8443/login?x=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "App.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->path, "/login?x=1");
  EXPECT_EQ(ParseUrl("http://[::1]/")->host, "::1");
  EXPECT_EQ(ParseUrl("http://h")->port, 80);
  EXPECT_FALSE(ParseUrl("h/path").ok());
  EXPECT_FALSE(ParseUrl("gopher://h/").ok());
  EXPECT_FALSE(ParseUrl("http://user:pw@h/").ok());
}

TEST(NetTest, StatusRange) {
  EXPECT_EQ(ParseStatusRange("200")->hi, 200);
  EXPECT_EQ(ParseStatusRange("200-399")->hi, 399);
  EXPECT_FALSE(ParseStatusRange("399-200").ok());
  EXPECT_FALSE(ParseStatusRange("99").ok());
  EXPECT_FALSE(ParseStatusRange("2xx").ok());
}

}  // namespace
}  // namespace sonde::common
