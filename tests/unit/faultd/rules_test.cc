// Rules: validation errors, matching, JSON round trip; fail_share and
// generation bookkeeping of Stats.
#include "tests/faultd/rules.h"

#include "gtest/gtest.h"
#include "tests/faultd/stats.h"

namespace sonde::faultd {
namespace {

SocketAddress Addr(const std::string& text) {
  auto a = ParseListenAddress(text);
  EXPECT_TRUE(a.ok()) << a.status();
  return *a;
}

std::unique_ptr<RuleSet> MustParse(const std::string& json) {
  auto r = RuleSet::FromJson(json);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : RuleSet::Empty();
}

TEST(RulesTest, EmptyInputsAreNoRules) {
  for (const char* json : {"", "  ", "[]", "{\"rules\": []}"}) {
    auto r = RuleSet::FromJson(json);
    ASSERT_TRUE(r.ok()) << json;
    EXPECT_TRUE((*r)->rules().empty());
  }
}

TEST(RulesTest, ErrorsNameTheRuleAndField) {
  struct Case {
    std::string json;
    std::string expect;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[1]", "rules[0]: must be a JSON object"},
      {R"({"other": []})", "expected a JSON list"},
      {R"([{}, {"id": "x", "stauts": 500}])", "rules[1] (\"x\")"},
      {R"([{"listener": "smtp"}])", "listener"},
      {R"([{"listener": "dns", "status": 500}])", "status: does not apply to listener \"dns\""},
      {R"([{"listener": "http", "cert": "expired"}])", "cert: does not apply"},
      {R"([{"cert": "old"}])", "cert: \"old\""},
      {R"([{"listener": "tls", "cert_days": 0}])", "cert_days: 0"},
      {R"([{"listener": "tls", "cert": "valid", "cert_days": 5}])", "either cert or cert_days"},
      {R"([{"listener": "http", "cert_days": 5}])", "cert_days: does not apply"},
      {R"([{"status": 42}])", "status: must be 200..599"},
      {R"([{"fail_share": 1.5}])", "fail_share"},
      {R"([{"source": "127.0.0.300"}])", "source"},
      {R"([{"source": "127.0.0.0/33"}])", "source"},
      {R"([{"reset": true, "close": true}])", "at most one"},
      {R"([{"records": [{"type": "A", "data": "nope"}]}])", "records[0].data"},
      {R"([{"records": [{"type": "SRV", "data": "x"}]}])", "records[0].type"},
      {R"([{"rcode": "MAYBE"}])", "rcode"},
      {R"([{"max_version": "SSL3"}])", "max_version"},
      {R"([{"handshake_fail": "sometimes"}])", "handshake_fail"},
      {R"([{"headers": {"Bad Name": "x"}}])", "headers"},
      {R"([{"headers": {"X": "a\r\nInjected: 1"}}])", "headers"},
      {R"([{"path_prefix": "login"}])", "path_prefix"},
      {R"([{"endless_body": true, "body_bytes": 10}])", "exclude"},
      {R"([{"serving_status": "MAYBE"}])", "serving_status: \"MAYBE\""},
      {R"([{"grpc_status": "OK"}])", "grpc_status"},
      {R"([{"grpc_status": "BROKEN"}])", "grpc_status"},
      {R"([{"grpc_message": "x"}])", "grpc_message: needs grpc_status"},
      {R"([{"listener": "http", "serving_status": "SERVING"}])", "serving_status: does not apply"},
      {R"([{"listener": "grpc", "status": 500}])", "status: does not apply to listener \"grpc\""},
  };
  for (const Case& c : cases) {
    auto r = RuleSet::FromJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.status().message().find(c.expect), absl::string_view::npos)
        << c.json << " -> " << r.status();
  }
}

TEST(RulesTest, ToJsonRoundTrips) {
  std::string json = R"([
    {"id": "login", "listener": "http", "source": "127.0.0.3", "path_prefix": "/login",
     "fail_share": 0.25, "headers": {"X-A": "1"}},
    {"listener": "dns", "name": "*.example.test",
     "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30}]}])";
  auto first = MustParse(json);
  auto second = MustParse(first->ToJson());
  ASSERT_EQ(second->rules().size(), 2u);
  EXPECT_EQ(second->ToJson(), first->ToJson());
  EXPECT_EQ(second->rules()[0].spec.fail_share(), 0.25);
  EXPECT_EQ(second->rules()[1].records[0].ttl, 30u);
}

TEST(RulesTest, FirstMatchWinsAndFieldsMustAllMatch) {
  auto rules = MustParse(R"([
    {"id": "a", "listener": "http", "source": "127.0.0.3", "path_prefix": "/login"},
    {"id": "b", "listener": "http", "source": "127.0.0.0/30"},
    {"id": "c", "listener": "http", "host": "App.Example.Test"},
    {"id": "d"}])");
  SocketAddress s2 = Addr("127.0.0.2:1"), s3 = Addr("127.0.0.3:1"), s9 = Addr("127.0.0.9:1");
  auto match = [&](const SocketAddress& src, std::optional<absl::string_view> path,
                   std::optional<absl::string_view> host) {
    MatchContext ctx;
    ctx.listener = ListenerKind::kHttp;
    ctx.phase = Phase::kRequest;
    ctx.source = &src;
    ctx.path = path;
    ctx.host = host;
    return rules->Match(ctx).label();
  };
  EXPECT_EQ(match(s3, "/login/x", std::nullopt), "a");
  EXPECT_EQ(match(s3, "/other", std::nullopt), "b");
  EXPECT_EQ(match(s2, "/login", std::nullopt), "b");
  EXPECT_EQ(match(s9, "/", "app.example.test:8080"), "c");
  EXPECT_EQ(match(s9, "/", std::nullopt), "d");
  // At accept time no path is known: "a" cannot match.
  MatchContext accept;
  accept.listener = ListenerKind::kHttp;
  accept.phase = Phase::kAccept;
  accept.source = &s3;
  EXPECT_EQ(rules->Match(accept).label(), "b");
}

TEST(RulesTest, TlsRulesApplyToHttpsHandshakes) {
  auto rules = MustParse(R"([
    {"id": "tls-sni", "listener": "tls", "sni": "old.test", "cert": "expired"},
    {"id": "https-req", "listener": "https", "path_prefix": "/x", "status": 500}])");
  SocketAddress src = Addr("127.0.0.1:1");
  MatchContext hs;
  hs.listener = ListenerKind::kHttps;
  hs.phase = Phase::kHandshake;
  hs.source = &src;
  hs.sni = "OLD.test";
  EXPECT_EQ(rules->Match(hs).label(), "tls-sni");
  EXPECT_EQ(rules->Match(hs).cert, CertKind::kExpired);
  hs.sni = "";
  EXPECT_TRUE(rules->Match(hs).is_default());
  MatchContext req = hs;
  req.phase = Phase::kRequest;
  req.sni = "old.test";
  req.path = "/x";
  EXPECT_EQ(rules->Match(req).label(), "https-req");
}

TEST(RulesTest, DnsNamesAndWildcards) {
  auto rules = MustParse(R"([
    {"id": "apex", "listener": "dns", "name": "example.test."},
    {"id": "wild", "listener": "dns", "name": "*.example.test"}])");
  auto match = [&](absl::string_view name) {
    MatchContext ctx;
    ctx.listener = ListenerKind::kDns;
    ctx.phase = Phase::kRequest;
    ctx.name = name;
    return rules->Match(ctx).label();
  };
  EXPECT_EQ(match("EXAMPLE.test"), "apex");
  EXPECT_EQ(match("a.b.example.test."), "wild");
  EXPECT_EQ(match("badexample.test"), "default");
}

TEST(RulesTest, IpPrefixes) {
  auto p = IpPrefix::Parse("127.0.0.0/30");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Contains(Addr("127.0.0.3:1")));
  EXPECT_FALSE(p->Contains(Addr("127.0.0.4:1")));
  EXPECT_FALSE(p->Contains(Addr("[::1]:1")));
  auto v6 = IpPrefix::Parse("::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains(Addr("[::1]:1")));
}

TEST(RulesTest, ListenAddressesAreLoopbackOnly) {
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:0").ok());
  EXPECT_TRUE(ParseListenAddress("[::1]:53").ok());
  EXPECT_EQ(ParseListenAddress("8080")->port(), 8080);
  EXPECT_EQ(ParseListenAddress("localhost:0")->ip(), "127.0.0.1");
  EXPECT_FALSE(ParseListenAddress("0.0.0.0:80").ok());
  EXPECT_FALSE(ParseListenAddress("[::]:80").ok());
  EXPECT_FALSE(ParseListenAddress("192.0.2.1:80").ok());
  EXPECT_FALSE(ParseListenAddress("example.com:80").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseListenAddress("::1:53").ok());
}

TEST(StatsTest, FailShareIsExactOverTime) {
  for (double share : {0.0, 0.05, 0.1, 0.3, 0.5, 0.9, 1.0}) {
    Stats stats;
    stats.BeginGeneration(1, 1);
    int fails = 0;
    for (int n = 1; n <= 200; ++n) {
      if (stats.NextRequestFails(1, 0, share)) {
        ++fails;
      }
      EXPECT_EQ(fails, static_cast<int>(std::llround(n * share))) << share << " at " << n;
    }
  }
}

TEST(StatsTest, CountsOfReplacedGenerationsStayOffRules) {
  Stats stats;
  stats.BeginGeneration(1, 1);
  stats.Add(ListenerKind::kHttp, 1, 0, "requests");
  stats.BeginGeneration(2, 1);
  stats.Add(ListenerKind::kHttp, 1, 0,
            "requests");  // late count of generation 1
  stats.Add(ListenerKind::kHttp, 2, -1, "requests");
  StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.Listener(ListenerKind::kHttp, "requests"), 3u);
  EXPECT_EQ(s.Rule(0, "requests"), 0u);
  EXPECT_EQ(s.Unmatched(ListenerKind::kHttp, "requests"), 1u);
  stats.Reset();
  EXPECT_EQ(stats.Snapshot().Listener(ListenerKind::kHttp, "requests"), 0u);
}

}  // namespace
}  // namespace sonde::faultd
