#include "common/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sonde::common {
namespace {

// ParseIpv4 answers as inet_pton(AF_INET) does: for named edge cases and
// for 200,000 random strings of digits and dots (and a few other bytes).
TEST(NetTest, ParseIpv4AgreesWithInetPton) {
  auto agree = [](const std::string& text) {
    in_addr want{};
    const bool want_ok = inet_pton(AF_INET, text.c_str(), &want) == 1;
    uint32_t got = 0;
    const bool got_ok = ParseIpv4(text, &got);
    EXPECT_EQ(got_ok, want_ok) << '"' << text << '"';
    if (got_ok && want_ok) {
      EXPECT_EQ(got, want.s_addr) << '"' << text << '"';
    }
    return got_ok;
  };
  for (const char* text : {"0.0.0.0", "255.255.255.255", "127.0.0.1", "192.0.2.10", "1.2.3.4"}) {
    EXPECT_TRUE(agree(text)) << text;
  }
  for (const char* text : {"",
                           ".",
                           "1.2.3",
                           "1.2.3.4.",
                           ".1.2.3.4",
                           "1..2.3",
                           "1.2.3.4.5",
                           "256.1.1.1",
                           "1.2.3.256",
                           "01.2.3.4",
                           "1.2.3.04",
                           "00.0.0.0",
                           "1.2.3.4 ",
                           " 1.2.3.4",
                           "1.2.3.-4",
                           "1.2.3.4a",
                           "0x1.2.3.4",
                           "1.2.3.999999999999",
                           "example.com",
                           "::1",
                           "1.2.3.4:80"}) {
    EXPECT_FALSE(agree(text)) << text;
  }
  std::mt19937 rng(20261207);
  const std::string alphabet = "0123456789.........12 x";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1), length(0, 17);
  int valid = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string text(length(rng), ' ');
    for (char& c : text) {
      c = alphabet[pick(rng)];
    }
    valid += agree(text) ? 1 : 0;
  }
  EXPECT_GT(valid, 100);  // the random strings reach valid addresses too
}

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
