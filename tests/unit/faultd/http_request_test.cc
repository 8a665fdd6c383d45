// HTTP request-head parser: semantics, errors and caps.
#include "tests/faultd/http_request.h"

#include "gtest/gtest.h"

namespace sonde::faultd {
namespace {

HeadParse ParseAll(const std::string& text, HttpLimits limits = HttpLimits()) {
  size_t scanned = 0;
  return ParseRequestHead(text, limits, &scanned);
}

TEST(HttpRequestTest, ParsesRequestLineAndHeaders) {
  std::string text =
      "GET /login?next=/home HTTP/1.1\r\nHost: app.example.test:8080\r\n"
      "X-Empty:\r\nUser-Agent:  sonde  \r\n\r\nrest";
  HeadParse p = ParseAll(text);
  ASSERT_EQ(p.state, HeadParse::State::kComplete) << p.error;
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/login?next=/home");
  EXPECT_EQ(p.request.path, "/login");
  EXPECT_EQ(p.request.minor_version, 1);
  EXPECT_TRUE(p.request.keep_alive);
  ASSERT_NE(p.request.Header("HOST"), nullptr);
  EXPECT_EQ(*p.request.Header("host"), "app.example.test:8080");
  EXPECT_EQ(*p.request.Header("user-agent"), "sonde");
  EXPECT_EQ(*p.request.Header("x-empty"), "");
  EXPECT_EQ(text.substr(p.head_bytes), "rest");
}

TEST(HttpRequestTest, ConnectionSemantics) {
  EXPECT_FALSE(ParseAll("GET / HTTP/1.0\r\n\r\n").request.keep_alive);
  EXPECT_TRUE(ParseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(ParseAll("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(
      ParseAll("GET / HTTP/1.1\r\nConnection: close, keep-alive\r\n\r\n").request.keep_alive);
}

TEST(HttpRequestTest, AcceptsBareLfAndAbsoluteForm) {
  HeadParse p = ParseAll("GET http://h.test/a/b?x HTTP/1.1\nHost: h.test\n\n");
  ASSERT_EQ(p.state, HeadParse::State::kComplete) << p.error;
  EXPECT_EQ(p.request.path, "/a/b");
}

TEST(HttpRequestTest, IncompleteUntilBlankLine) {
  HttpLimits limits;
  std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t scanned = 0;
  // Fed one byte at a time, the head completes exactly at the end.
  for (size_t n = 1; n < text.size(); ++n) {
    HeadParse p = ParseRequestHead(text.substr(0, n), limits, &scanned);
    ASSERT_EQ(p.state, HeadParse::State::kIncomplete) << n;
  }
  EXPECT_EQ(ParseRequestHead(text, limits, &scanned).state, HeadParse::State::kComplete);
}

TEST(HttpRequestTest, ContentLengthAndExpect) {
  HeadParse p = ParseAll(
      "PUT /rules HTTP/1.1\r\nContent-Length: 12\r\nExpect: "
      "100-continue\r\n\r\n");
  ASSERT_EQ(p.state, HeadParse::State::kComplete);
  EXPECT_EQ(p.request.content_length, 12u);
  EXPECT_TRUE(p.request.expect_continue);
}

TEST(HttpRequestTest, Errors) {
  struct Case {
    std::string text;
    int status;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / FTP/1.0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417},
      {std::string("GET /\x01 HTTP/1.1\r\n\r\n"), 400},
  };
  for (const Case& c : cases) {
    HeadParse p = ParseAll(c.text);
    EXPECT_EQ(p.state, HeadParse::State::kError) << c.text;
    EXPECT_EQ(p.error_status, c.status) << c.text;
  }
}

TEST(HttpRequestTest, HeadSizeAndCountCaps) {
  HttpLimits limits;
  limits.max_head_bytes = 1024;
  limits.max_headers = 10;
  // No blank line and over the cap: 431 without waiting for more.
  EXPECT_EQ(ParseAll("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), limits).error_status, 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 11; ++i) {
    many += "H" + std::to_string(i) + ": v\r\n";
  }
  EXPECT_EQ(ParseAll(many + "\r\n", limits).error_status, 431);
}

}  // namespace
}  // namespace sonde::faultd
