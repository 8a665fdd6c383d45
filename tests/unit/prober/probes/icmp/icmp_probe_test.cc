// The ICMP echo probe: the wire format (encode, decode of replies and of
// unreachable errors, with and without the IPv4 header), the class of a
// run's tally, and real runs against the loopback addresses with each socket
// kind this host allows (a ping socket needs net.ipv4.ping_group_range to
// admit our group, a raw socket CAP_NET_RAW; a kind that cannot be opened is
// skipped with the reason). Every echo goes to 127.0.0.1 or ::1.
#include "prober/probes/icmp/icmp_probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/event_loop.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/icmp/echo_packet.h"
#include "prober/probes/icmp/echo_socket.h"
#include "tests/faultd/fault_server.h"
#include "tests/unit/prober/probes/prober_under_test.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;
using icmp::EchoMessage;
using icmp::Family;

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

// The Internet checksum over a whole message is 0 when it carries a valid
// checksum.
uint16_t Fold(const std::vector<uint8_t>& b) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < b.size(); i += 2) {
    sum += static_cast<uint32_t>(b[i] << 8 | b[i + 1]);
  }
  if (b.size() % 2 == 1) {
    sum += static_cast<uint32_t>(b.back() << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xFFFF) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

std::vector<uint8_t> Ipv4Header(uint8_t proto, size_t payload) {
  std::vector<uint8_t> h(20, 0);
  h[0] = 0x45;
  h[2] = static_cast<uint8_t>((20 + payload) >> 8);
  h[3] = static_cast<uint8_t>((20 + payload) & 0xFF);
  h[8] = 64;
  h[9] = proto;
  return h;
}

TEST(EchoPacketTest, RequestCarriesIdSeqPayloadAndChecksum) {
  std::vector<uint8_t> req = Bytes(icmp::EncodeEchoRequest(Family::kV4, 0x1234, 0xBEEF, 56));
  ASSERT_EQ(req.size(), 64u);
  EXPECT_EQ(req[0], 8);
  EXPECT_EQ(req[1], 0);
  EXPECT_EQ(req[4] << 8 | req[5], 0x1234);
  EXPECT_EQ(req[6] << 8 | req[7], 0xBEEF);
  EXPECT_EQ(Fold(req), 0) << "checksum";
  // Odd payload lengths checksum too.
  EXPECT_EQ(Fold(Bytes(icmp::EncodeEchoRequest(Family::kV4, 1, 2, 7))), 0);
  std::vector<uint8_t> req6 = Bytes(icmp::EncodeEchoRequest(Family::kV6, 7, 9, 0));
  ASSERT_EQ(req6.size(), 8u);
  EXPECT_EQ(req6[0], 128);
  EXPECT_EQ(req6[2] << 8 | req6[3], 0) << "the kernel computes ICMPv6 checksums";
}

TEST(EchoPacketTest, DecodesRepliesWithAndWithoutIpHeader) {
  std::vector<uint8_t> reply = Bytes(icmp::EncodeEchoRequest(Family::kV4, 77, 5, 16));
  reply[0] = 0;  // echo reply
  EchoMessage m = icmp::DecodeEchoMessage(Family::kV4, reply.data(), reply.size(), false);
  EXPECT_EQ(m.kind, EchoMessage::Kind::kReply);
  EXPECT_EQ(m.id, 77);
  EXPECT_EQ(m.seq, 5);

  std::vector<uint8_t> raw = Ipv4Header(1, reply.size());
  raw.insert(raw.end(), reply.begin(), reply.end());
  m = icmp::DecodeEchoMessage(Family::kV4, raw.data(), raw.size(), true);
  EXPECT_EQ(m.kind, EchoMessage::Kind::kReply);
  EXPECT_EQ(m.seq, 5);

  // Our own request (a raw socket sees it on loopback) is not a reply.
  std::vector<uint8_t> req = Bytes(icmp::EncodeEchoRequest(Family::kV4, 77, 5, 16));
  EXPECT_EQ(icmp::DecodeEchoMessage(Family::kV4, req.data(), req.size(), false).kind,
            EchoMessage::Kind::kOther);
  // Truncated messages are not read.
  EXPECT_EQ(icmp::DecodeEchoMessage(Family::kV4, reply.data(), 7, false).kind,
            EchoMessage::Kind::kOther);
  EXPECT_EQ(icmp::DecodeEchoMessage(Family::kV4, raw.data(), 19, true).kind,
            EchoMessage::Kind::kOther);

  std::vector<uint8_t> reply6 = Bytes(icmp::EncodeEchoRequest(Family::kV6, 3, 4, 8));
  reply6[0] = 129;
  m = icmp::DecodeEchoMessage(Family::kV6, reply6.data(), reply6.size(), false);
  EXPECT_EQ(m.kind, EchoMessage::Kind::kReply);
  EXPECT_EQ(m.seq, 4);
}

TEST(EchoPacketTest, DecodesUnreachableErrorsQuotingOurRequest) {
  std::vector<uint8_t> req = Bytes(icmp::EncodeEchoRequest(Family::kV4, 99, 42, 56));
  std::vector<uint8_t> quoted = Ipv4Header(1, req.size());
  quoted.insert(quoted.end(), req.begin(), req.begin() + 8);
  std::vector<uint8_t> err = {3, 1, 0, 0, 0, 0, 0, 0};  // host unreachable
  err.insert(err.end(), quoted.begin(), quoted.end());
  EchoMessage m = icmp::DecodeEchoMessage(Family::kV4, err.data(), err.size(), false);
  EXPECT_EQ(m.kind, EchoMessage::Kind::kUnreachable);
  EXPECT_EQ(m.id, 99);
  EXPECT_EQ(m.seq, 42);
  EXPECT_EQ(m.code, 1);
  EXPECT_EQ(icmp::UnreachableCodeName(Family::kV4, m.code), "host unreachable");
  // An error about something else (a UDP datagram) is not ours.
  std::vector<uint8_t> udp_err = {3, 3, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> udp = Ipv4Header(17, 8);
  udp_err.insert(udp_err.end(), udp.begin(), udp.end());
  udp_err.insert(udp_err.end(), 8, 0);
  EXPECT_EQ(icmp::DecodeEchoMessage(Family::kV4, udp_err.data(), udp_err.size(), false).kind,
            EchoMessage::Kind::kOther);

  std::vector<uint8_t> req6 = Bytes(icmp::EncodeEchoRequest(Family::kV6, 5, 6, 8));
  std::vector<uint8_t> err6 = {1, 3, 0, 0, 0, 0, 0, 0};  // address unreachable
  std::vector<uint8_t> ip6(40, 0);
  ip6[0] = 0x60;
  ip6[6] = 58;  // next header: ICMPv6
  err6.insert(err6.end(), ip6.begin(), ip6.end());
  err6.insert(err6.end(), req6.begin(), req6.end());
  m = icmp::DecodeEchoMessage(Family::kV6, err6.data(), err6.size(), false);
  EXPECT_EQ(m.kind, EchoMessage::Kind::kUnreachable);
  EXPECT_EQ(m.seq, 6);
  EXPECT_EQ(icmp::UnreachableCodeName(Family::kV6, m.code), "address unreachable");
}

TEST(ClassifyEchoesTest, ClassFromTheTally) {
  struct Case {
    int sent, received, unreachable;
    FC::Code want;
  } cases[] = {
      {3, 3, 0, FC::OK},           {3, 2, 0, FC::ICMP_LOSS},        {3, 1, 2, FC::ICMP_LOSS},
      {3, 0, 0, FC::ICMP_TIMEOUT}, {3, 0, 1, FC::ICMP_UNREACHABLE}, {0, 0, 0, FC::ICMP_TIMEOUT},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FC::Code_Name(ClassifyEchoes(c.sent, c.received, c.unreachable)),
              FC::Code_Name(c.want))
        << c.sent << "/" << c.received << "/" << c.unreachable;
  }
}

// A loop and a resolver to run one IcmpProbe on this thread.
class IcmpProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.Init().ok());
    auto resolver = DnsResolver::Create(&loop_, "");
    ASSERT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = *std::move(resolver);
    env_ = ProbeEnv{&loop_, resolver_.get(), nullptr, ""};
  }

  static v1::Check Check(const std::string& host, uint32_t count = 3,
                         const std::string& ip_version = "") {
    v1::Check c;
    c.set_name("ping");
    v1::IcmpSpec* s = c.mutable_icmp();
    s->set_host(host);
    s->set_count(count);
    common::SetDuration(absl::Milliseconds(20), s->mutable_interval_between());
    s->set_payload_bytes(56);
    s->set_ip_version(ip_version);
    return c;
  }

  // Skips the test when this host cannot open `mode` sockets for `family`.
  static bool Available(icmp::SocketMode mode, Family family, std::string* why) {
    auto s = icmp::EchoSocket::Open(family, mode, "");
    if (!s.ok()) {
      *why = std::string(s.status().message());
    }
    return s.ok();
  }

  v1::ProbeResult RunOnce(const v1::Check& check, icmp::SocketMode mode,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    IcmpProbe probe(check, &env_, mode);
    std::vector<v1::ProbeResult> results;
    bool done = false;
    auto start = loop_.Now();
    probe.Run(start + timeout, [&](Probe::Results r) {
      for (const v1::ProbeResult* x : r) {
        results.push_back(*x);
      }
      done = true;
      loop_.Stop();
    });
    auto safety = loop_.RunAfter(timeout + std::chrono::seconds(2), [&] { loop_.Stop(); });
    loop_.Run();
    loop_.Cancel(safety);
    EXPECT_TRUE(done) << "no result by the deadline";
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? v1::ProbeResult() : results[0];
  }

  common::EventLoop loop_;
  std::unique_ptr<DnsResolver> resolver_;
  ProbeEnv env_;
};

void ExpectAllAnswered(const v1::ProbeResult& r, uint32_t count) {
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_EQ(r.icmp_sent(), count);
  EXPECT_EQ(r.icmp_received(), count);
  EXPECT_EQ(r.icmp_loss(), 0.0);
  EXPECT_GT(r.rtt_min_us(), 0u);
  EXPECT_LE(r.rtt_min_us(), r.rtt_avg_us());
  EXPECT_LE(r.rtt_avg_us(), r.rtt_max_us());
  EXPECT_LT(r.rtt_max_us(), 1000000u);
  EXPECT_GE(r.total_us(), r.rtt_max_us());
}

class IcmpProbeModeTest : public IcmpProbeTest,
                          public ::testing::WithParamInterface<icmp::SocketMode> {};

TEST_P(IcmpProbeModeTest, LoopbackV4AnswersEveryEcho) {
  std::string why;
  if (!Available(GetParam(), Family::kV4, &why)) {
    GTEST_SKIP() << why;
  }
  v1::ProbeResult r = RunOnce(Check("127.0.0.1", 3), GetParam());
  ExpectAllAnswered(r, 3);
  EXPECT_EQ(r.resolved_address(), "127.0.0.1");
  EXPECT_EQ(r.target(), "127.0.0.1");
  // Three echoes 20 ms apart: the run takes at least the two gaps.
  EXPECT_GE(r.total_us(), 40000u);
}

TEST_P(IcmpProbeModeTest, LoopbackV6AnswersEveryEcho) {
  std::string why;
  if (!Available(GetParam(), Family::kV6, &why)) {
    GTEST_SKIP() << why;
  }
  v1::ProbeResult r = RunOnce(Check("::1", 2, "6"), GetParam());
  if (r.failure_class() == FC::ICMP_UNREACHABLE) {
    GTEST_SKIP() << "no IPv6 on loopback here: " << r.detail();
  }
  ExpectAllAnswered(r, 2);
  EXPECT_EQ(r.resolved_address(), "::1");
}

INSTANTIATE_TEST_SUITE_P(Sockets, IcmpProbeModeTest,
                         ::testing::Values(icmp::SocketMode::kAuto, icmp::SocketMode::kPing,
                                           icmp::SocketMode::kRaw),
                         [](const ::testing::TestParamInfo<icmp::SocketMode>& info) {
                           switch (info.param) {
                             case icmp::SocketMode::kPing:
                               return std::string("Ping");
                             case icmp::SocketMode::kRaw:
                               return std::string("Raw");
                             default:
                               return std::string("Auto");
                           }
                         });

TEST_F(IcmpProbeTest, AddressOfTheWrongVersionIsNoData) {
  v1::ProbeResult r = RunOnce(Check("127.0.0.1", 1, "6"), icmp::SocketMode::kAuto);
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "DNS_NODATA") << r.detail();
  EXPECT_EQ(r.icmp_sent(), 0u);
}

TEST_F(IcmpProbeTest, NameThatStopsResolvingPingsTheLastKnownAddress) {
  std::string why;
  if (!Available(icmp::SocketMode::kAuto, Family::kV4, &why)) {
    GTEST_SKIP() << why;
  }
  faultd::FaultServerOptions o;
  o.dns_listen = "127.0.0.1:0";
  o.rules_json = R"([{"listener": "dns", "name": "ping.example.test",
                      "records": [{"type": "A", "data": "127.0.0.1"}]}])";
  faultd::FaultServer dns(std::move(o));
  ASSERT_TRUE(dns.Start().ok());
  v1::Check check = Check("ping.example.test", 2);
  check.mutable_icmp()->add_resolvers(absl::StrCat("127.0.0.1:", dns.ports().dns));

  v1::ProbeResult first = RunOnce(check, icmp::SocketMode::kAuto);
  EXPECT_EQ(FC::Code_Name(first.failure_class()), "OK") << first.detail();
  EXPECT_EQ(first.resolved_address(), "127.0.0.1");
  EXPECT_EQ(first.fallback_address(), "");

  ASSERT_TRUE(dns.SetRulesJson(R"([{"listener": "dns", "name": "ping.example.test",
                                    "rcode": "NXDOMAIN"}])")
                  .ok());
  v1::ProbeResult second = RunOnce(check, icmp::SocketMode::kAuto);
  EXPECT_EQ(FC::Code_Name(second.failure_class()), "DNS_NXDOMAIN") << second.detail();
  EXPECT_EQ(second.fallback_address(), "127.0.0.1");
  EXPECT_EQ(FC::Code_Name(second.fallback_class()), "OK");
  EXPECT_EQ(second.icmp_received(), 2u);
}

TEST_F(IcmpProbeTest, NoSocketIsAProberError) {
  std::string why;
  if (Available(icmp::SocketMode::kPing, Family::kV4, &why)) {
    GTEST_SKIP() << "ping sockets are allowed here, so a ping-only probe cannot fail to open one";
  }
  v1::ProbeResult r = RunOnce(Check("127.0.0.1", 1), icmp::SocketMode::kPing);
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "PROBER_ERROR") << r.detail();
  EXPECT_NE(r.detail().find("ping_group_range"), std::string::npos) << r.detail();
}

TEST_F(IcmpProbeTest, AbortBeforeTheEchoesAreDoneCountsWhatWasSent) {
  std::string why;
  if (!Available(icmp::SocketMode::kAuto, Family::kV4, &why)) {
    GTEST_SKIP() << why;
  }
  // 5 echoes 200 ms apart cannot finish in 300 ms: the deadline ends the run
  // with the echoes sent so far, all answered.
  v1::Check check = Check("127.0.0.1", 5);
  common::SetDuration(absl::Milliseconds(200), check.mutable_icmp()->mutable_interval_between());
  v1::ProbeResult r = RunOnce(check, icmp::SocketMode::kAuto, std::chrono::milliseconds(300));
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_EQ(r.icmp_sent(), 2u);
  EXPECT_EQ(r.icmp_received(), 2u);
  EXPECT_NE(r.detail().find("3 not sent"), std::string::npos) << r.detail();
}

TEST(IcmpCheckTest, DefaultsAndTheSchedulerPath) {
  auto config =
      common::ParseConfig("checks:\n  - name: ping\n    icmp: {host: 127.0.0.1}\n", "icmp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const v1::Check& check = config->checks(0);
  EXPECT_EQ(check.icmp().count(), 3u);
  EXPECT_EQ(common::ToDuration(check.icmp().interval_between()), absl::Milliseconds(200));
  EXPECT_EQ(check.icmp().payload_bytes(), 56u);
  EXPECT_EQ(check.icmp().ip_version(), "auto");

  std::string why;
  auto sock = icmp::EchoSocket::Open(Family::kV4, icmp::SocketMode::kAuto, "");
  if (!sock.ok()) {
    GTEST_SKIP() << sock.status().message();
  }
  ProberUnderTest prober;
  std::vector<v1::ProbeResult> results = prober.Run(check);
  ASSERT_EQ(results.size(), 1u);
  const v1::ProbeResult& r = results[0];
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.kind(), "icmp");
  EXPECT_EQ(r.target(), "127.0.0.1");
  EXPECT_EQ(r.icmp_sent(), 3u);
  EXPECT_EQ(r.icmp_received(), 3u);
}

TEST(IcmpCheckTest, ProbePolicyRefusesBeforeTheFirstEcho) {
  auto config =
      common::ParseConfig("checks:\n  - name: ping\n    icmp: {host: 127.0.0.1}\n", "icmp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  v1::ProbePolicy deny;
  deny.add_deny_networks("127.0.0.1");
  ProberUnderTest prober;
  prober.set_policy(*common::ProbePolicy::Create(deny));
  std::vector<v1::ProbeResult> results = prober.Run(config->checks(0));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(FC::Code_Name(results[0].failure_class()), "PROBER_POLICY") << results[0].detail();
  EXPECT_EQ(results[0].icmp_sent(), 0u);
}

TEST(IcmpCheckTest, ConfigErrorsNameTheField) {
  struct Case {
    std::string spec;
    std::string field;
  } cases[] = {
      {"icmp: {}", "icmp.host"},
      {"icmp: {host: h, count: 101}", "icmp.count"},
      {"icmp: {host: h, interval_between: 1ms}", "icmp.interval_between"},
      {"icmp: {host: h, payload_bytes: 70000}", "icmp.payload_bytes"},
      {"icmp: {host: h, ip_version: 5}", "icmp.ip_version"},
      {"icmp: {host: h, resolvers: [nope]}", "icmp.resolvers[0]"},
  };
  for (const Case& c : cases) {
    std::string yaml = absl::StrCat("checks:\n  - name: ping\n    ", c.spec, "\n");
    auto config = common::ParseConfig(yaml, "icmp.yaml");
    ASSERT_FALSE(config.ok()) << c.spec;
    EXPECT_TRUE(absl::StrContains(config.status().message(), c.field))
        << c.spec << " -> " << config.status();
  }
  // Echoes that cannot all be sent within the timeout.
  auto tight = common::ParseConfig(
      "checks:\n  - name: ping\n    timeout: 1s\n"
      "    icmp: {host: h, count: 10, interval_between: 200ms}\n",
      "icmp.yaml");
  ASSERT_FALSE(tight.ok());
  EXPECT_TRUE(absl::StrContains(tight.status().message(), "do not fit")) << tight.status();
}

}  // namespace
}  // namespace sonde::prober
