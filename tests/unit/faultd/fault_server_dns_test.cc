// FaultServer's DNS listener over UDP and TCP with hand-made queries.
#include <sys/socket.h>

#include <random>

#include "gtest/gtest.h"
#include "tests/faultd/dns_message.h"
#include "tests/unit/faultd/server_fixture.h"
#include "tests/unit/faultd/test_clients.h"

namespace sonde::faultd::testing {
namespace {

constexpr ListenerKind kDns = ListenerKind::kDns;
constexpr char kZone[] = R"([
  {"id": "nx-from-2", "listener": "dns", "name": "app.example.test", "source": "127.0.0.2",
   "rcode": "NXDOMAIN", "negative_ttl": 900},
  {"id": "app", "listener": "dns", "name": "app.example.test",
   "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30},
               {"type": "A", "data": "127.0.0.5", "ttl": 30},
               {"type": "MX", "data": "10 mail.example.test"},
               {"type": "TXT", "data": "v=spf1 -all"}]},
  {"id": "www", "listener": "dns", "name": "www.example.test",
   "records": [{"type": "CNAME", "data": "app.example.test", "ttl": 120}]},
  {"id": "broken", "listener": "dns", "name": "broken.example.test", "rcode": "SERVFAIL"},
  {"id": "refused", "listener": "dns", "name": "closed.example.test", "rcode": "REFUSED"},
  {"id": "empty", "listener": "dns", "name": "empty.example.test", "nodata": true},
  {"id": "gone", "listener": "dns", "name": "gone.example.test", "drop": true},
  {"id": "slow", "listener": "dns", "name": "slow.example.test", "delay_ms": 300,
   "records": [{"type": "A", "data": "127.0.0.1"}]},
  {"id": "big", "listener": "dns", "name": "big.example.test", "truncate": true,
   "records": [{"type": "A", "data": "127.0.0.7"}]}])";

std::vector<std::string> Answers(const dns::Message& m, uint16_t type) {
  std::vector<std::string> out;
  for (const auto& rr : m.answers) {
    if (rr.type == type) {
      out.push_back(dns::RdataToText(rr.type, rr.rdata));
    }
  }
  return out;
}

class DnsTest : public FaultServerTest {
 protected:
  void SetUp() override { StartServer(kZone); }
};

TEST_F(DnsTest, AnswersRecordsWithTtl) {
  for (bool tcp : {false, true}) {
    auto m = DnsQuery(addr(kDns), "APP.example.test", dns::kTypeA, tcp);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->qr);
    EXPECT_TRUE(m->aa);
    EXPECT_EQ(m->rcode, dns::kNoError);
    EXPECT_EQ(Answers(*m, dns::kTypeA), (std::vector<std::string>{"127.0.0.1", "127.0.0.5"}));
    EXPECT_EQ(m->answers[0].ttl, 30u);
    EXPECT_EQ(m->answers[0].name,
              "APP.example.test");  // the question's spelling
  }
  auto mx = DnsQuery(addr(kDns), "app.example.test", dns::kTypeMX, false);
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(Answers(*mx, dns::kTypeMX), std::vector<std::string>{"10 mail.example.test"});
  auto txt = DnsQuery(addr(kDns), "app.example.test", dns::kTypeTXT, false);
  ASSERT_TRUE(txt.ok());
  EXPECT_EQ(Answers(*txt, dns::kTypeTXT), std::vector<std::string>{"v=spf1 -all"});
}

TEST_F(DnsTest, CnameIsFollowedThroughOtherRules) {
  auto m = DnsQuery(addr(kDns), "www.example.test", dns::kTypeA, false);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Answers(*m, dns::kTypeCNAME), std::vector<std::string>{"app.example.test"});
  EXPECT_EQ(Answers(*m, dns::kTypeA).size(), 2u);
}

TEST_F(DnsTest, NodataHasSoaInAuthority) {
  // A name with records but none of the type, and an explicit nodata rule.
  for (const char* name : {"app.example.test", "empty.example.test"}) {
    auto m = DnsQuery(addr(kDns), name, dns::kTypeAAAA, false);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->rcode, dns::kNoError) << name;
    EXPECT_TRUE(m->answers.empty()) << name;
    ASSERT_EQ(m->authority.size(), 1u) << name;
    EXPECT_EQ(m->authority[0].type, dns::kTypeSOA);
  }
  EXPECT_EQ(server_->stats().Listener(kDns, "nodata"), 2u);
}

TEST_F(DnsTest, NxdomainOnlyForOneSource) {
  auto nx = DnsQuery(addr(kDns), "app.example.test", dns::kTypeA, false, "127.0.0.2");
  ASSERT_TRUE(nx.ok());
  EXPECT_EQ(nx->rcode, dns::kNxDomain);
  EXPECT_TRUE(nx->answers.empty());
  ASSERT_EQ(nx->authority.size(), 1u);
  EXPECT_EQ(nx->authority[0].ttl, 900u);
  auto ok = DnsQuery(addr(kDns), "app.example.test", dns::kTypeA, false, "127.0.0.3");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->rcode, dns::kNoError);
  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Rule(0, "rcode_NXDOMAIN"), 1u);
  EXPECT_EQ(s.Rule(1, "queries"), 1u);
}

TEST_F(DnsTest, ServfailRefusedAndUnknownNames) {
  auto sf = DnsQuery(addr(kDns), "broken.example.test", dns::kTypeA, false);
  ASSERT_TRUE(sf.ok());
  EXPECT_EQ(sf->rcode, dns::kServFail);
  auto rf = DnsQuery(addr(kDns), "closed.example.test", dns::kTypeA, true);
  ASSERT_TRUE(rf.ok());
  EXPECT_EQ(rf->rcode, dns::kRefused);
  auto unknown = DnsQuery(addr(kDns), "nobody.invalid", dns::kTypeA, false);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->rcode, dns::kRefused);
  EXPECT_EQ(server_->stats().Unmatched(kDns, "rcode_REFUSED"), 1u);
}

TEST_F(DnsTest, DropAndDelay) {
  auto dropped = DnsQuery(addr(kDns), "gone.example.test", dns::kTypeA, false, "127.0.0.1",
                          std::chrono::milliseconds(300));
  EXPECT_EQ(dropped.status().code(), absl::StatusCode::kDeadlineExceeded);
  auto start = std::chrono::steady_clock::now();
  auto slow = DnsQuery(addr(kDns), "slow.example.test", dns::kTypeA, false);
  ASSERT_TRUE(slow.ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(280));
  EXPECT_EQ(server_->stats().Rule(6, "dropped"), 1u);
}

TEST_F(DnsTest, HalfClosedTcpClientStillGetsDelayedAnswer) {
  dns::Message q;
  q.id = 77;
  q.questions.push_back({"slow.example.test", dns::kTypeA, dns::kClassIN});
  std::string wire = dns::Serialize(q);
  auto fd = ConnectFrom("127.0.0.1", addr(kDns));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(SendAll(
      fd->get(), std::string(1, '\0') + std::string(1, static_cast<char>(wire.size())) + wire));
  shutdown(fd->get(), SHUT_WR);
  ReadResult r = ReadAll(fd->get());
  EXPECT_EQ(r.end, ReadEnd::kEof);  // answered, then closed
  ASSERT_GT(r.data.size(), 2u);
  auto m = dns::Parse(r.data.substr(2));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->id, 77);
  EXPECT_EQ(m->answers.size(), 1u);
}

TEST_F(DnsTest, TruncatedOverUdpCompleteOverTcp) {
  auto udp = DnsQuery(addr(kDns), "big.example.test", dns::kTypeA, false);
  ASSERT_TRUE(udp.ok());
  EXPECT_TRUE(udp->tc);
  EXPECT_TRUE(udp->answers.empty());
  auto tcp = DnsQuery(addr(kDns), "big.example.test", dns::kTypeA, true);
  ASSERT_TRUE(tcp.ok());
  EXPECT_FALSE(tcp->tc);
  EXPECT_EQ(Answers(*tcp, dns::kTypeA), std::vector<std::string>{"127.0.0.7"});
}

TEST_F(DnsTest, OversizedAnswersTruncateNaturallyAndEdnsIsEchoed) {
  std::string records;
  for (int i = 0; i < 40; ++i) {
    records += (i ? "," : "") + std::string(R"({"type": "A", "data": "127.0.1.)") +
               std::to_string(i) + "\"}";
  }
  SetRules(R"([{"listener": "dns", "name": "many.test", "records": [)" + records + "]}]");
  auto plain = DnsQuery(addr(kDns), "many.test", dns::kTypeA, false);  // 40*25 > 512
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->tc);
  auto edns = DnsQuery(addr(kDns), "many.test", dns::kTypeA, false, "127.0.0.1", kClientTimeout,
                       /*edns=*/true);  // fits in 1232
  ASSERT_TRUE(edns.ok());
  EXPECT_FALSE(edns->tc);
  EXPECT_EQ(edns->answers.size(), 40u);
  EXPECT_TRUE(edns->edns_udp_size.has_value());
}

TEST_F(DnsTest, MalformedQueriesGetFormerrOrAreDroppedAndNeverCrash) {
  const SocketAddress& server = addr(kDns);
  // Readable header, broken question: FORMERR with the same id.
  std::string bad_question(
      "\xAB\xCD\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05"
      "ab",
      15);
  auto formerr = DnsRawUdp(server, bad_question, kClientTimeout);
  ASSERT_TRUE(formerr.ok()) << formerr.status();
  auto parsed = dns::Parse(*formerr);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->id, 0xABCD);
  EXPECT_EQ(parsed->rcode, dns::kFormErr);
  // Too short for a header: dropped.
  EXPECT_FALSE(DnsRawUdp(server, "\x01\x02", std::chrono::milliseconds(150)).ok());
  // Two questions: FORMERR.
  dns::Message two;
  two.questions = {{"a.test", dns::kTypeA, dns::kClassIN}, {"b.test", dns::kTypeA, dns::kClassIN}};
  auto r2 = DnsRawUdp(server, dns::Serialize(two), kClientTimeout);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(dns::Parse(*r2)->rcode, dns::kFormErr);
  // A flood of random datagrams, then a normal query still works.
  std::mt19937 rng(7);
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 600, '\0');
    for (char& c : junk) {
      c = static_cast<char>(rng());
    }
    sendto(fd.get(), junk.data(), junk.size(), 0, server.sa(), server.len);
  }
  // Junk over TCP: a bogus length prefix and garbage.
  auto tcp = ConnectFrom("127.0.0.1", server);
  ASSERT_TRUE(tcp.ok());
  SendAll(tcp->get(), std::string("\x00\x05\xff\xff\xff\xff\xff\x00\x00", 9));
  // The flood may have filled the socket buffer when the query arrived (the
  // kernel then drops it), so retry like a resolver would.
  absl::StatusOr<dns::Message> m;
  for (int attempt = 0; attempt < 5; ++attempt) {
    m = DnsQuery(server, "app.example.test", dns::kTypeA, false, "127.0.0.1",
                 std::chrono::milliseconds(300));
    if (m.ok()) {
      break;
    }
  }
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->rcode, dns::kNoError);
  EXPECT_GE(server_->stats().Listener(kDns, "formerr"), 2u);
}

}  // namespace
}  // namespace sonde::faultd::testing
