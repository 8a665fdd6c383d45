#include "common/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/config/storage_config.h"
#include "common/proto_time.h"

namespace sonde::common {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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
  EXPECT_EQ(ToDuration(login.interval()), absl::Seconds(10));
  EXPECT_EQ(ToDuration(login.timeout()), absl::Seconds(5));
  EXPECT_EQ(login.http().requests_per_run(), 3u);
  EXPECT_EQ(login.http().headers().at("User-Agent"), "sonde");
  EXPECT_THAT(login.http().expect_status(), ::testing::ElementsAre("200", "302", "200-299"));
  EXPECT_TRUE(login.http().follow_redirects());
  // Defaults filled in.
  const v1::Check& tls = config->checks(1);
  EXPECT_EQ(ToDuration(tls.interval()), absl::Seconds(30));
  EXPECT_THAT(tls.regions(), ::testing::ElementsAre("fra", "ams", "ber"));
  EXPECT_EQ(config->checks(3).dns().type(), "A");
  EXPECT_EQ(ToDuration(config->notifiers(0).repeat_every()), absl::Minutes(5));
  EXPECT_EQ(config->checks(2).tcp().expect_banner(), "^SSH-2\\.0");
}

TEST(ConfigTest, ChecksForRegion) {
  auto config = ParseConfig(kGood, "sonde.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(ChecksForRegion(*config, "fra").size(), 4u);
  EXPECT_EQ(ChecksForRegion(*config, "ber").size(), 3u);  // app-login is fra+ams only
}

// One check of service "app" (lines 1-4), for maintenance windows to name.
const std::string kOneCheck =
    "regions: [fra]\nchecks:\n  - {name: app-login, service: app,\n"
    "     tcp: {host: h, port: 1}}\n";

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
                {"bad.yaml:3: checks[0] \"a\": http.expct_status: unknown field",
                 "did you mean \"expect_status\""}},
        BadCase{"UnknownTopLevel", "regoins: [fra]\n", {"bad.yaml:1: regoins: unknown field"}},
        BadCase{"BadDuration",
                "checks:\n  - name: a\n    interval: 10x\n    http: {url: 'http://x/'}\n",
                {"bad.yaml:3: checks[0] \"a\": interval: bad duration \"10x\""}},
        BadCase{"DurationWithoutUnit",
                "defaults: {interval: 30}\n",
                {"defaults.interval: bad duration \"30\""}},
        BadCase{"DuplicateName",
                "checks:\n  - name: a\n    http: {url: 'http://x/'}\n"
                "  - name: a\n    http: {url: 'http://y/'}\n",
                {"checks[1] \"a\": name: duplicate check name (first used by checks[0])"}},
        BadCase{"PortOutOfRange",
                "checks:\n  - name: t\n    tls: {host: h, port: 70000}\n",
                {"bad.yaml:3: checks[0] \"t\": tls.port: must be 1..65535"}},
        BadCase{"TcpPortMissing",
                "checks:\n  - name: t\n    tcp: {host: h}\n",
                {"checks[0] \"t\": tcp.port: must be 1..65535"}},
        BadCase{"NegativePort",
                "checks:\n  - name: t\n    tcp: {host: h, port: -1}\n",
                {"tcp.port: must be 1..65535"}},
        BadCase{"NotAnInteger",
                "checks:\n  - name: t\n    tcp: {host: h, port: ssh}\n",
                {"tcp.port: \"ssh\" is not an integer"}},
        BadCase{"TwoKinds",
                "checks:\n  - name: t\n    tcp: {host: h, port: 1}\n    http: {url: 'http://x/'}\n",
                // The lists grow with each probe type: only their heads are pinned.
                {"checks[0] \"t\": http: only one of http, tls, tcp, dns", "may be set"}},
        BadCase{"NoKind",
                "checks:\n  - name: t\n",
                {"checks[0] \"t\": one of http, tls, tcp, dns", "is required"}},
        BadCase{"UnknownRegion",
                "regions: [fra]\nchecks:\n  - name: t\n    regions: [xyz]\n    http: {url: "
                "'http://x/'}\n",
                {"checks[0] \"t\": regions[0]: \"xyz\" is not one of the regions [fra]"}},
        BadCase{"BadUrl",
                "checks:\n  - name: t\n    http: {url: 'ftp://x/'}\n",
                {"http.url", "unsupported scheme"}},
        BadCase{"BadRegex",
                "checks:\n  - name: t\n    http: {url: 'http://x/', expect_body: '(('}\n",
                {"checks[0] \"t\": http.expect_body: not a valid RE2 pattern: missing )"}},
        // ECMAScript accepts these; RE2 (linear time) does not.
        BadCase{"Backreference",
                "checks:\n  - name: t\n    http: {url: 'http://x/', expect_body: '(a)\\1'}\n",
                {"checks[0] \"t\": http.expect_body: not a valid RE2 pattern: invalid escape"}},
        BadCase{"LookaheadInHeader",
                "checks:\n  - name: t\n    http: {url: 'http://x/', expect_header: {X-V: "
                "'^(?=2)'}}\n",
                {"checks[0] \"t\": http.expect_header.X-V: not a valid RE2 pattern:"}},
        BadCase{"BackreferenceInBanner",
                "checks:\n  - name: t\n    tcp: {host: h, port: 22, expect_banner: '(S)\\1H'}\n",
                {"checks[0] \"t\": tcp.expect_banner: not a valid RE2 pattern: invalid escape"}},
        // Compiles in principle, but not within UserRegex::kMaxMemBytes.
        BadCase{"RegexTooLarge",
                "checks:\n  - name: t\n    http: {url: 'http://x/', expect_body: "
                "'\\pL{1000}'}\n",
                {"checks[0] \"t\": http.expect_body: not a valid RE2 pattern: pattern too large"}},
        BadCase{"CheckNameWithSpace",
                "checks:\n  - name: a b\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"a b\": name: use letters, digits"}},
        BadCase{"CheckNameStartsWithDash",
                "checks:\n  - name: -a\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"-a\": name: use letters, digits"}},
        BadCase{"CheckNameTooLong",
                "checks:\n  - name: " + std::string(129, 'a') + "\n    http: {url: 'http://x/'}\n",
                {"name: use letters, digits, '.', '_' and '-' (at most 128)"}},
        BadCase{"NonAsciiServiceName",
                "checks:\n  - name: a\n    service: caf\u00e9\n    http: {url: 'http://x/'}\n",
                {"checks[0] \"a\": service: use letters, digits"}},
        BadCase{
            "BadRegionName", "regions: [fra, 'a/b']\n", {"regions[1]: bad region name \"a/b\""}},
        BadCase{"BadStatus",
                "checks:\n  - name: t\n    http: {url: 'http://x/', expect_status: [abc]}\n",
                {"http.expect_status[0]"}},
        BadCase{"BadResolver",
                "checks:\n  - name: t\n    dns: {name: x, resolvers: [dns.google]}\n",
                {"dns.resolvers[0]"}},
        BadCase{"TimeoutOverInterval",
                "checks:\n  - name: t\n    interval: 1s\n    timeout: 5s\n    http: {url: "
                "'http://x/'}\n",
                {"checks[0] \"t\": timeout: must not exceed the interval"}},
        BadCase{"ScalarForList", "regions: fra\n", {"regions: must be a list"}},
        BadCase{"NotYaml", "checks: [\n", {"bad.yaml:", "not valid YAML"}},
        // What follows a root indented deeper was silently ignored once.
        BadCase{
            "TextAfterTheRoot", " regions: [fra]\nchecks: []\n", {"bad.yaml:2: not valid YAML"}},
        BadCase{"NotANumber",
                "checks:\n  - name: a\n    slo_target: nan\n    http: {url: 'http://x/'}\n",
                {"bad.yaml:3: checks[0] \"a\": slo_target: \"nan\" is not a number"}},
        BadCase{"HeaderGivenTwice",
                "checks:\n  - name: a\n    http:\n      url: 'http://x/'\n"
                "      headers: {X-A: b, X-A: c}\n",
                {"bad.yaml:5: checks[0] \"a\": http.headers.X-A: \"X-A\" is given twice"}},
        BadCase{
            "DurationBeyondProtobuf",
            "checks:\n  - name: a\n    interval: 100000000000000h\n    http: {url: 'http://x/'}\n",
            {"bad.yaml:3: checks[0] \"a\": interval: duration \"100000000000000h\" is longer"}},
        BadCase{"TimestampBeyondProtobuf",
                kOneCheck + std::string("maintenance:\n  - name: w\n    services: [app]\n"
                                        "    start: 2026-11-21T22:00:00Z\n"
                                        "    end: 10000-01-01T00:00:00Z\n"),
                {"maintenance[0] \"w\": end: must be an RFC 3339 time"}},
        BadCase{"EscalateToUnknown",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    escalate_to: b\n",
                {"notifiers[0] \"a\": escalate_to"}},
        BadCase{"MaintenanceEndBeforeStart",
                kOneCheck + std::string("maintenance:\n  - name: w\n    services: [app]\n"
                                        "    start: 2026-11-21T22:00:00Z\n"
                                        "    end: 2026-11-21T21:00:00Z\n"),
                {"maintenance[0] \"w\": end: must be after start"}},
        BadCase{"MaintenanceEndEqualsStart",
                kOneCheck + std::string("maintenance:\n  - name: w\n"
                                        "    start: 2026-11-21T22:00:00Z\n"
                                        "    end: 2026-11-21T23:00:00+01:00\n"),
                {"maintenance[0] \"w\": end: must be after start"}},
        BadCase{
            "MaintenanceWithoutBounds",
            kOneCheck + std::string("maintenance:\n  - name: w\n    services: [app]\n"),
            {"maintenance[0] \"w\": start: is required", "maintenance[0] \"w\": end: is required"}},
        BadCase{"MaintenanceUnknownService",
                kOneCheck + std::string("maintenance:\n  - name: w\n    services: [app, nope]\n"
                                        "    start: 2026-11-21T22:00:00Z\n"
                                        "    end: 2026-11-21T23:00:00Z\n"),
                {"maintenance[0] \"w\": services[1]: no check has service \"nope\""}},
        BadCase{"MaintenanceUnknownCheck",
                kOneCheck + std::string("maintenance:\n  - name: w\n    checks: [app-logn]\n"
                                        "    start: 2026-11-21T22:00:00Z\n"
                                        "    end: 2026-11-21T23:00:00Z\n"),
                {"maintenance[0] \"w\": checks[0]: no check is named \"app-logn\""}},
        BadCase{"MaintenanceBadTime",
                kOneCheck + std::string("maintenance:\n  - name: w\n"
                                        "    start: tomorrow\n"
                                        "    end: 2026-11-21 23:00\n"),
                {"bad.yaml:7:", "start: must be an RFC 3339 time",
                 "bad.yaml:8:", "end: must be an RFC 3339 time"}},
        BadCase{"EscalateAfterWithoutEscalateTo",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n"
                "    escalate_after: 15m\n",
                {"notifiers[0] \"a\": escalate_to: escalate_after and escalate_to go together"}},
        BadCase{"EscalateToWithoutEscalateAfter",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    escalate_to: b\n"
                "  - name: b\n    webhook: {url: 'http://y/'}\n",
                {"notifiers[0] \"a\": escalate_after: escalate_after and escalate_to go together"}},
        BadCase{"NegativeRepeatEvery",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    repeat_every: -5m\n",
                {"notifiers[0] \"a\": repeat_every"}},
        BadCase{"ZeroRepeatEvery",
                "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    repeat_every: 0s\n",
                {"notifiers[0] \"a\": repeat_every: must be at least 100ms"}},
        BadCase{
            "ZeroHeartbeatEvery",
            "notifiers:\n  - name: a\n    webhook: {url: 'http://x/'}\n    heartbeat_every: 0s\n",
            {"notifiers[0] \"a\": heartbeat_every: must be at least 100ms"}},
        BadCase{"DetectionShareAboveOne",
                "detection: {partial_share: 1.5}\n",
                {"detection.partial_share: must be a share in (0, 1]"}},
        BadCase{"DetectionShareNegative",
                "detection: {dns_share: -0.2}\n",
                {"detection.dns_share: must be a share in (0, 1]"}},
        BadCase{"DetectionPercentAbove100",
                "detection: {flap_enter_percent: 150}\n",
                {"detection.flap_enter_percent: must be in (0, 100]"}},
        BadCase{"DetectionFactorOne",
                "detection: {latency_factor: 1}\n",
                {"detection.latency_factor: must be above 1"}},
        BadCase{"DetectionIntZero",
                "detection: {down_failures: 0}\n",
                {"detection.down_failures: must be 1..1000"}},
        BadCase{"DetectionShareZero",
                "detection: {partial_share: 0}\n",
                {"detection.partial_share: must be a share in (0, 1]"}},
        BadCase{"DetectionIntNegative",
                "detection: {up_successes: -3}\n",
                {"detection.up_successes: must be 1..1000"}},
        BadCase{"DetectionIntTooLarge",
                "detection: {partial_min_probes: 1001}\n",
                {"detection.partial_min_probes: must be 1..1000"}},
        BadCase{"DetectionZeroDuration",
                "detection: {resolve_hold: 0s}\n",
                {"detection.resolve_hold: must be at least 100ms"}},
        BadCase{"DetectionUnknownField",
                "detection: {resolve_hlod: 5m}\n",
                {"detection.resolve_hlod: unknown field"}},
        BadCase{"SmtpCredentialsInUrl",
                "notifiers:\n  - name: m\n    email: {smtp_url: 'smtp://u:hunter2@mail:587', "
                "to: [a@b]}\n",
                {"notifiers[0] \"m\": email.smtp_url: credentials in the URL are refused: use "
                 "email.username and email.password_file"}},
        BadCase{"WebhookCredentialsInUrl",
                "notifiers:\n  - name: w\n    webhook: {url: 'https://u:hunter2@hooks/x'}\n",
                {"notifiers[0] \"w\": webhook.url: credentials in the URL are refused"}},
        BadCase{"SmtpTlsValue",
                "notifiers:\n  - name: m\n    email: {smtp_url: 'smtp://mail', to: [a@b], tls: "
                "maybe}\n",
                {"email.tls: must be required (the default) or optional"}},
        BadCase{"SmtpCredentialsOverOptionalTls",
                "notifiers:\n  - name: m\n    email: {smtp_url: 'smtp://mail', to: [a@b], tls: "
                "optional, username: u, password: p}\n",
                {"notifiers[0] \"m\": email.tls: optional TLS would send the credentials"}},
        BadCase{"SmtpPasswordWithoutUser",
                "notifiers:\n  - name: m\n    email: {smtp_url: 'smtp://mail', to: [a@b], "
                "password: p}\n",
                {"email.username: username and password (or password_file) go together"}},
        BadCase{"SmtpPasswordFileUnreadable",
                "notifiers:\n  - name: m\n    email: {smtp_url: 'smtp://mail', to: [a@b], "
                "username: u, password_file: /nonexistent/pw}\n",
                {"email.password_file: cannot read \"/nonexistent/pw\""}},
        BadCase{"ProbePolicyNotACidr",
                "probe_policy: {deny_networks: [169.254.0.0/16, 'metadata']}\n",
                {"probe_policy.deny_networks[1]: \"metadata\" is not an IP network"}},
        BadCase{"ProbePolicyHostBits",
                "probe_policy: {allow_networks: [10.1.2.3/8]}\n",
                {"probe_policy.allow_networks[0]: \"10.1.2.3/8\" has bits set past its /8"}},
        BadCase{"ProbePolicyPrefix",
                "probe_policy: {deny_networks: ['fd00::/129']}\n",
                {"probe_policy.deny_networks[0]: \"fd00::/129\": the prefix length must be "
                 "0..128"}},
        BadCase{"ManyErrorsAllReported",
                "checks:\n  - name: a\n    tcp: {host: h, port: 0}\n  - name: b\n    tcp: {host: "
                "h, port: 99999}\n",
                {"checks[0] \"a\": tcp.port", "checks[1] \"b\": tcp.port"}}),
    [](const auto& info) { return info.param.name; });

// The notifier, maintenance and detection parts of a config, as proto values.
TEST(ConfigTest, NotifiersMaintenanceAndDetectionParse) {
  constexpr char kYaml[] = R"(
regions: [fra, ams]
checks:
  - {name: app-login, service: app, tcp: {host: h, port: 1}}
  - {name: db-main, service: db, tcp: {host: h, port: 2}}
notifiers:
  - name: oncall
    webhook: {url: "http://127.0.0.1:9099/hook", secret: s3cret}
    repeat_every: 5m
    escalate_after: 15m
    escalate_to: manager
    heartbeat_every: 90s
    services: [app, db]
  - name: manager
    email: {smtp_url: "smtp://127.0.0.1:2525", to: ["lead@example.com"]}
maintenance:
  - name: db-upgrade
    services: [db]
    checks: [app-login]
    start: 2026-11-21T22:00:00Z
    end: 2026-11-21T23:30:00+01:00
    reason: "PostgreSQL 16 upgrade"
  - name: fractional
    start: "2026-11-21T22:00:00.25Z"
    end: "2026-11-22T00:00:00-02:00"
detection:
  reorder_window: 3s
  down_failures: 4
  partial_share: 0.2
  flap_enter_percent: 40
  latency_factor: 2.5
  latency_min_samples: 20
  resolve_hold: 5m
)";
  auto config = ParseConfig(kYaml, "sonde.yaml");
  ASSERT_TRUE(config.ok()) << config.status();

  ASSERT_EQ(config->notifiers_size(), 2);
  const v1::Notifier& oncall = config->notifiers(0);
  EXPECT_EQ(oncall.webhook().secret(), "s3cret");
  EXPECT_EQ(ToDuration(oncall.repeat_every()), absl::Minutes(5));
  EXPECT_EQ(ToDuration(oncall.escalate_after()), absl::Minutes(15));
  EXPECT_EQ(oncall.escalate_to(), "manager");
  EXPECT_EQ(ToDuration(oncall.heartbeat_every()), absl::Seconds(90));
  EXPECT_THAT(oncall.services(), ::testing::ElementsAre("app", "db"));
  EXPECT_FALSE(config->notifiers(1).has_repeat_every());

  ASSERT_EQ(config->maintenance_size(), 2);
  const v1::MaintenanceWindow& w = config->maintenance(0);
  EXPECT_EQ(w.name(), "db-upgrade");
  EXPECT_THAT(w.services(), ::testing::ElementsAre("db"));
  EXPECT_THAT(w.checks(), ::testing::ElementsAre("app-login"));
  EXPECT_EQ(w.reason(), "PostgreSQL 16 upgrade");
  // 2026-11-21T22:00:00Z; 23:30+01:00 is 22:30Z.
  EXPECT_EQ(w.start().seconds(), 1795298400);
  EXPECT_EQ(w.start().nanos(), 0);
  EXPECT_EQ(w.end().seconds(), 1795298400 + 1800);
  const v1::MaintenanceWindow& f = config->maintenance(1);
  EXPECT_EQ(f.start().seconds(), 1795298400);
  EXPECT_EQ(f.start().nanos(), 250000000);
  EXPECT_EQ(f.end().seconds(), 1795298400 + 4 * 3600);  // 00:00-02:00 is 02:00Z

  const v1::DetectionConfig& d = config->detection();
  EXPECT_EQ(ToDuration(d.reorder_window()), absl::Seconds(3));
  EXPECT_EQ(d.down_failures(), 4);
  EXPECT_DOUBLE_EQ(d.partial_share(), 0.2);
  EXPECT_DOUBLE_EQ(d.flap_enter_percent(), 40);
  EXPECT_DOUBLE_EQ(d.latency_factor(), 2.5);
  EXPECT_EQ(d.latency_min_samples(), 20);
  EXPECT_EQ(ToDuration(d.resolve_hold()), absl::Minutes(5));
  EXPECT_FALSE(d.has_partial_window());
  EXPECT_EQ(d.up_successes(), 0);  // unset: the detector's default applies
}

TEST(ConfigTest, NamesAndRe2PatternsAccepted) {
  std::string name(128, 'a');
  name[1] = '.';
  name[2] = '_';
  name[3] = '-';
  std::string yaml = absl::StrCat("regions: [eu-west.1_b]\nchecks:\n  - name: ", name,
                                  "\n    service: 9svc\n    http: {url: 'http://x/', expect_body: "
                                  "'\"status\":\\s*\"up\"', expect_header: {X-V: '^\\d+$'}}\n");
  auto config = ParseConfig(yaml, "ok.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checks(0).name(), name);
  EXPECT_EQ(config->checks(0).http().expect_body(), "\"status\":\\s*\"up\"");
}

TEST(ConfigTest, SecretsAreNotRepeatedInErrors) {
  auto config = ParseConfig(
      "notifiers:\n  - name: m\n    email: {smtp_url: 'smtps://u:hunter2@mail', to: [a@b]}\n",
      "bad.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), Not(HasSubstr("hunter2")));
}

TEST(ConfigTest, EmailTransportAndProbePolicyParse) {
  auto config = ParseConfig(R"(
probe_policy:
  deny_networks: [169.254.0.0/16, 10.0.0.0/8, "fd00::/8"]
  allow_networks: [10.1.2.0/24]
notifiers:
  - name: m
    email: {smtp_url: "smtp://mail:587", to: [a@b], username: sonde, password: p}
  - name: o
    email: {smtp_url: "smtp://relay:25", to: [a@b], tls: optional}
)",
                            "ok.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_policy().deny_networks_size(), 3);
  EXPECT_EQ(config->notifiers(0).email().username(), "sonde");
  EXPECT_EQ(config->notifiers(1).email().tls(), "optional");
}

TEST(ConfigTest, MissingFileNamesThePath) {
  auto config = LoadConfigFile("/nonexistent/sonde.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/sonde.yaml"));
}

TEST(ConfigTest, NumbersKeepEveryDigit) {
  absl::StatusOr<v1::Config> config = ParseConfig(
      "checks:\n  - name: a\n    slo_target: 99.99995\n    http: {url: 'http://x/'}\n", "n.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checks(0).slo_target(), 99.99995);
}

TEST(ConfigTest, AliasesShareFieldsAndErrorsNameEveryUser) {
  absl::StatusOr<v1::Config> config = ParseConfig(
      "checks:\n  - {name: a, http: &h {url: 'http://x/', headers: {A: b}}}\n"
      "  - {name: b, http: *h}\n",
      "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checks(1).http().url(), "http://x/");
  EXPECT_EQ(config->checks(1).http().headers().at("A"), "b");
  absl::StatusOr<v1::Config> bad = ParseConfig(
      "checks:\n  - {name: a, http: &h {url: 'http://x/', method: 7}}\n"
      "  - {name: b, http: *h}\n",
      "a.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("a.yaml:2: checks[1] \"b\": http.method: \"7\" is not an HTTP method"));
}

TEST(ConfigTest, EmptyFileIsAnError) { EXPECT_FALSE(ParseConfig("", "e.yaml").ok()); }

TEST(ConfigTest, StorageBlockParsesAndIsValidated) {
  auto ok = ParseConfig("regions: [fra]\nstorage:\n  raw_retention: 7d\n  minute_retention: 3d\n",
                        "s.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  const StorageSettings s = EffectiveStorage(ok->storage());
  EXPECT_EQ(s.raw, absl::Hours(24 * 7));
  EXPECT_EQ(s.minute, absl::Hours(24 * 3));
  EXPECT_EQ(s.hour, absl::Hours(24 * 400));  // default
  EXPECT_EQ(s.feed, absl::Hours(24));        // default

  auto feed = ParseConfig("regions: [fra]\nstorage:\n  feed_retention: 2h\n", "s.yaml");
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(EffectiveStorage(feed->storage()).feed, absl::Hours(2));
  auto short_feed = ParseConfig("regions: [fra]\nstorage:\n  feed_retention: 10m\n", "s.yaml");
  ASSERT_FALSE(short_feed.ok());
  EXPECT_NE(std::string(short_feed.status().message())
                .find("storage.feed_retention: must be at least 1h"),
            std::string::npos)
      << short_feed.status();

  auto bad = ParseConfig(
      "regions: [fra]\nstorage:\n  minute_retention: 1h\n  hour_retention: 30m\n", "s.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string msg(bad.status().message());
  EXPECT_NE(msg.find("s.yaml:3: storage.minute_retention: must be at least 2h"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("storage.hour_retention: must be at least 2h"), std::string::npos) << msg;

  auto order = ParseConfig("regions: [fra]\nstorage:\n  hour_retention: 10d\n", "s.yaml");
  ASSERT_FALSE(order.ok());
  EXPECT_NE(std::string(order.status().message())
                .find("storage.hour_retention: must not be shorter than storage.minute_retention"),
            std::string::npos)
      << order.status();
}

}  // namespace
}  // namespace sonde::common
