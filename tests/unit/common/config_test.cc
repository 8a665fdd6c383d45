#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sonde::common {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"(
regions: [fra, ams, ber]
defaults: {interval: 30s, timeout: 5s}
checks:
  - name: app-login
    service: app
    interval: 10s
    regions: [fra, ams]
    http:
      url: https://app.example.com/login
      method: GET
      expect_status: [200, 302, "200-299"]
      expect_body: "Sign in"
      headers: {User-Agent: sonde}
      follow_redirects: true
      requests_per_run: 3
      resolvers: ["127.0.0.1:5353"]
  - name: app-tls
    service: app
    tls: {host: app.example.com, port: 443, min_days_valid: 14, min_version: "TLS1.2"}
  - name: host1-ssh
    service: hosting
    tcp: {host: host1.example.com, port: 22, expect_banner: "^SSH-2\\.0"}
  - name: app-dns
    service: app
    dns: {name: app.example.com, type: A, resolvers: ["127.0.0.1:5353"],
          expect_rcode: NOERROR, expect_answers: ["192.0.2.10"]}
notifiers:
  - name: oncall
    webhook: {url: "http://127.0.0.1:9099/hook"}
    repeat_every: 5m
    escalate_after: 15m
    escalate_to: manager
  - name: manager
    email: {smtp_url: "smtp://127.0.0.1:2525", to: ["lead@example.com"]}
)";

TEST(ConfigTest, DesignExampleLoadsWithDefaults) {
  auto config = ParseConfig(kGood, "sonde.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->checks_size(), 4);
  const v1::Check& login = config->checks(0);
  EXPECT_EQ(ToAbsl(login.interval()), absl::Seconds(10));
  EXPECT_EQ(ToAbsl(login.timeout()), absl::Seconds(5));
  EXPECT_EQ(login.http().requests_per_run(), 3u);
  EXPECT_EQ(login.http().headers().at("User-Agent"), "sonde");
  EXPECT_THAT(login.http().expect_status(), ::testing::ElementsAre("200", "302", "200-299"));
  EXPECT_TRUE(login.http().follow_redirects());
  // Defaults filled in.
  const v1::Check& tls = config->checks(1);
  EXPECT_EQ(ToAbsl(tls.interval()), absl::Seconds(30));
  EXPECT_THAT(tls.regions(), ::testing::ElementsAre("fra", "ams", "ber"));
  EXPECT_EQ(config->checks(3).dns().type(), "A");
  EXPECT_EQ(ToAbsl(config->notifiers(0).repeat_every()), absl::Minutes(5));
  EXPECT_EQ(config->checks(2).tcp().expect_banner(), "^SSH-2\\.0");
}

TEST(ConfigTest, ChecksForRegion) {
  auto config = ParseConfig(kGood, "sonde.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(ChecksForRegion(*config, "fra").size(), 4u);
  EXPECT_EQ(ChecksForRegion(*config, "ber").size(), 3u);  // app-login is fra+ams only
}

struct BadCase {
  std::string name;
  std::string yaml;
  std::vector<std::string> expect;  // substrings of the error
};

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, RefusedWithFileCheckAndField) {
  auto config = ParseConfig(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& s : GetParam().expect) {
    EXPECT_THAT(config.status().message(), HasSubstr(s));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfigTest,
    ::testing::Values(
        BadCase{"UnknownField",
                "checks:\n  - name: a\n    http: {url: 'http://x/', expct_status: [200]}\n",
                {"bad.yaml:3: checks[0] \"a\": http.expct_status: unknown field", "did you mean \"expect_status\""}},
        BadCase{"UnknownTopLevel", "regoins: [fra]\n", {"bad.yaml:1: regoins: unknown field"}},
        BadCase{"BadDuration",
                "checks:\n  - name: a\n    interval: 10x\n    http: {url: 'http://x/'}\n",
                {"bad.yaml:3: checks[0] \"a\": interval: bad duration \"10x\""}},
        BadCase{"DurationWithoutUnit",
                "defaults: {interval: 30}\n", {"defaults.interval: bad duration \"30\""}},
        BadCase{"DuplicateName",
                "checks:\n  - name: a\n    http: {url: 'http://x/'}\n"
                "  - name: a\n    http: {url: 'http://y/'}\n",
                {"checks[1] \"a\": name: duplicate check name (first used by checks[0])"}},
        BadCase{"PortOutOfRange",
                "checks:\n  - name: t\n    tls: {host: h, port: 70000}\n",
                {"bad.yaml:3: checks[0] \"t\": tls.port: must be 1..65535"}},
        BadCase{"TcpPortMissing",
                "checks:\n  - name: t\n    tcp: {host: h}\n", {"checks[0] \"t\": tcp.port: must be 1..65535"}},
        BadCase{"NegativePort",
                "checks:\n  - name: t\n    tcp: {host: h, port: -1}\n", {"tcp.port: must be 1..65535"}},
        BadCase{"NotAnInteger",
                "checks:\n  - name: t\n    tcp: {host: h, port: ssh}\n", {"tcp.port: \"ssh\" is not an integer"}},
        BadCase{"TwoKinds",
                "checks:\n  - name: t\n    tcp: {host: h, port: 1}\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"t\": http: only one of http, tls, tcp, dns may be set"}},
        BadCase{"NoKind", "checks:\n  - name: t\n", {"checks[0] \"t\": one of http, tls, tcp, dns is required"}},
        BadCase{"UnknownRegion",
                "regions: [fra]\nchecks:\n  - name: t\n    regions: [xyz]\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"t\": regions[0]: \"xyz\" is not one of the regions [fra]"}},
        BadCase{"BadUrl", "checks:\n  - name: t\n    http: {url: 'ftp://x/'}\n", {"http.url", "unsupported scheme"}},
        BadCase{"BadRegex", "checks:\n  - name: t\n    http: {url: 'http://x/', expect_body: '(('}\n",
                {"http.expect_body: bad regular expression"}},
        BadCase{"BadStatus", "checks:\n  - name: t\n    http: {url: 'http://x/', expect_status: [abc]}\n",
                {"http.expect_status[0]"}},
        BadCase{"BadResolver", "checks:\n  - name: t\n    dns: {name: x, resolvers: [dns.google]}\n",
                {"dns.resolvers[0]"}},
        BadCase{"TimeoutOverInterval",
                "checks:\n  - name: t\n    interval: 1s\n    timeout: 5s\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"t\": timeout: must not exceed the interval"}},
        BadCase{"ScalarForList", "regions: fra\n", {"regions: must be a list"}},
        BadCase{"NotYaml", "checks: [\n", {"bad.yaml:", "not valid YAML"}},
        BadCase{"EscalateToUnknown",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    escalate_to: b\n",
                {"notifiers[0] \"a\": escalate_to"}},
        BadCase{"ManyErrorsAllReported",
                "checks:\n  - name: a\n    tcp: {host: h, port: 0}\n  - name: b\n    tcp: {host: h, port: 99999}\n",
                {"checks[0] \"a\": tcp.port", "checks[1] \"b\": tcp.port"}}),
    [](const auto& info) { return info.param.name; });

TEST(ConfigTest, MissingFileNamesThePath) {
  auto config = LoadConfigFile("/nonexistent/sonde.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/sonde.yaml"));
}

TEST(ConfigTest, EmptyFileIsAnError) {
  EXPECT_FALSE(ParseConfig("", "e.yaml").ok());
}

}  // namespace
}  // namespace sonde::common
