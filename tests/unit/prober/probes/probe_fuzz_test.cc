// Bounded-time fuzzing of the response paths the prober parses itself
// (acceptance 5 of issue 3): the DNS packet parser with random bytes and
// with mutations of valid packets (compression-pointer loops, huge counts,
// truncated records), JudgeDnsAnswer, ShownBanner, and the TCP banner
// and SMTP STARTTLS reading paths against a loopback server that sends
// random bytes. Seeds are fixed, so iteration i always sees the same input;
// the in-memory fuzzers stop after their iteration or time budget, whichever
// comes first; the socket ones run a fixed number of connections. Asserts: no crash or hang,
// outputs bounded, classes sane. tests/fuzz/dns_packet_fuzz.cc is the libFuzzer counterpart (clang
// only).
#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "gtest/gtest.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/dns/dns_packet.h"
#include "prober/probes/dns/dns_probe.h"
#include "prober/probes/tcp/tcp_probe.h"
#include "tests/unit/prober/probes/prober_under_test.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

// Runs `body(i)` for i = 0.. until `max_iterations` or `budget` is spent.
template <typename Fn>
int FuzzFor(std::chrono::milliseconds budget, int max_iterations, Fn body) {
  auto end = Clock::now() + budget;
  int i = 0;
  for (; i < max_iterations && Clock::now() < end; ++i) {
    body(i);
    if (::testing::Test::HasFatalFailure()) {
      break;
    }
  }
  return i;
}

// ------------------------------------------------------------ packets ---

// Builds DNS messages by hand, compression pointers included.
class PacketBuilder {
 public:
  PacketBuilder& U8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  PacketBuilder& U16(uint16_t v) { return U8(v >> 8).U8(v & 0xFF); }
  PacketBuilder& U32(uint32_t v) { return U16(v >> 16).U16(v & 0xFFFF); }
  PacketBuilder& Raw(const std::string& s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  // "a.example.test" as labels, ending in the root or in a pointer.
  PacketBuilder& Name(const std::string& dotted, int pointer = -1) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) {
        dot = dotted.size();
      }
      U8(static_cast<uint8_t>(dot - start)).Raw(dotted.substr(start, dot - start));
      start = dot + 1;
    }
    return pointer >= 0 ? Pointer(pointer) : U8(0);
  }
  PacketBuilder& Pointer(int offset) { return U16(static_cast<uint16_t>(0xC000 | offset)); }
  PacketBuilder& Header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return U16(0x1234).U16(flags).U16(qd).U16(an).U16(ns).U16(ar);
  }
  // Starts a record: owner, type, class IN, ttl; returns where RDLENGTH is.
  size_t Record(int owner_pointer, uint16_t type, uint32_t ttl) {
    Pointer(owner_pointer).U16(type).U16(1).U32(ttl);
    size_t at = b_.size();
    U16(0);
    return at;
  }
  void EndRecord(size_t rdlength_at) {
    size_t len = b_.size() - rdlength_at - 2;
    b_[rdlength_at] = static_cast<uint8_t>(len >> 8);
    b_[rdlength_at + 1] = static_cast<uint8_t>(len & 0xFF);
  }
  size_t size() const { return b_.size(); }
  const Bytes& bytes() const { return b_; }

 private:
  Bytes b_;
};

// A NOERROR answer with one record of every type the prober decodes, all
// names compressed against the question, and an SOA in authority.
Bytes EveryTypeAnswer() {
  PacketBuilder p;
  p.Header(0x8180, 1, 10, 1, 0);
  p.Name("a.example.test").U16(1).U16(1);  // question at 12; "example.test" at 14
  size_t r = p.Record(12, 1, 300);
  p.U8(192).U8(0).U8(2).U8(10);
  p.EndRecord(r);
  r = p.Record(12, 28, 600);
  p.Raw(std::string("\x20\x01\x0d\xb8", 4)).Raw(std::string(11, '\0')).U8(0x10);
  p.EndRecord(r);
  r = p.Record(12, 5, 60);
  p.Name("www", 14);  // www.example.test.
  p.EndRecord(r);
  r = p.Record(12, 15, 3600);
  p.U16(10).Name("mail", 14);
  p.EndRecord(r);
  r = p.Record(12, 16, 120);
  p.U8(11).Raw("v=spf1 -all").U8(4).Raw("a\"b\x01");
  p.EndRecord(r);
  r = p.Record(12, 2, 86400);
  p.Name("ns1", 14);
  p.EndRecord(r);
  r = p.Record(12, 6, 900);
  p.Name("ns1", 14).Name("hostmaster", 14).U32(2024010101).U32(7200).U32(900).U32(1209600).U32(300);
  p.EndRecord(r);
  r = p.Record(12, 12, 5);
  p.Name("ptr", 14);
  p.EndRecord(r);
  r = p.Record(12, 99, 1);
  for (int i = 0; i < 70; ++i) {
    p.U8(static_cast<uint8_t>(i));
  }
  p.EndRecord(r);
  r = p.Record(12, 1, 300);
  p.U8(192).U8(0).U8(2).U8(11);
  p.EndRecord(r);
  r = p.Record(14, 6, 60);  // authority: SOA of example.test
  p.Name("ns1", 14).Name("hostmaster", 14).U32(1).U32(2).U32(3).U32(4).U32(5);
  p.EndRecord(r);
  return p.bytes();
}

Bytes NxdomainAnswer() {
  PacketBuilder p;
  p.Header(0x8183, 1, 0, 1, 0);
  p.Name("nx.example.test").U16(1).U16(1);
  size_t r = p.Record(15, 6, 60);
  p.Name("ns1", 15).Name("hostmaster", 15).U32(1).U32(2).U32(3).U32(4).U32(60);
  p.EndRecord(r);
  return p.bytes();
}

TEST(DnsPacketTest, DecodesEveryTypeWithCompression) {
  auto p = ParseDnsPacket(EveryTypeAnswer());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->rcode, 0);
  EXPECT_FALSE(p->truncated);
  std::vector<std::string> got;
  for (const DnsRecordData& r : p->answers) {
    got.push_back(absl::StrCat(r.name, " ", TypeName(r.type), " ", r.ttl, " ", r.data));
  }
  std::string hex;
  for (int i = 0; i < 64; ++i) {
    absl::StrAppend(&hex, absl::Hex(i, absl::kZeroPad2));
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "a.example.test. A 300 192.0.2.10",
                     "a.example.test. AAAA 600 2001:db8::10",
                     "a.example.test. CNAME 60 www.example.test.",
                     "a.example.test. MX 3600 10 mail.example.test.",
                     "a.example.test. TXT 120 \"v=spf1 -all\" \"a\\\"b\\001\"",
                     "a.example.test. NS 86400 ns1.example.test.",
                     "a.example.test. SOA 900 ns1.example.test. hostmaster.example.test. "
                     "2024010101 7200 900 1209600 300",
                     "a.example.test. PTR 5 ptr.example.test.",
                     absl::StrCat("a.example.test. TYPE99 1 \\# 70 ", hex),
                     "a.example.test. A 300 192.0.2.11",
                 }));
  ASSERT_EQ(p->authority.size(), 1u);
  EXPECT_EQ(p->authority[0].name, "example.test.");
  auto nx = ParseDnsPacket(NxdomainAnswer());
  ASSERT_TRUE(nx.ok()) << nx.status();
  EXPECT_EQ(nx->rcode, 3);
  EXPECT_TRUE(nx->answers.empty());
}

// An A record's text is what inet_ntop writes, for every byte value in
// every position (one, two and three digits, zeros).
TEST(DnsPacketTest, ARecordsReadAsInetNtopWritesThem) {
  for (int i = 0; i < 256; ++i) {
    const uint8_t addr[4] = {static_cast<uint8_t>(i), static_cast<uint8_t>(255 - i),
                             static_cast<uint8_t>(i % 10), static_cast<uint8_t>(i * 7 + 3)};
    PacketBuilder p;
    p.Header(0x8180, 1, 1, 0, 0);
    p.Name("a.example.test").U16(1).U16(1);
    size_t r = p.Record(12, 1, 60);
    p.U8(addr[0]).U8(addr[1]).U8(addr[2]).U8(addr[3]);
    p.EndRecord(r);
    auto parsed = ParseDnsPacket(p.bytes());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_EQ(parsed->answers.size(), 1u);
    char want[INET_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET, addr, want, sizeof want), nullptr);
    EXPECT_EQ(parsed->answers[0].data, want) << i;
  }
}

TEST(DnsPacketTest, RejectsHostileStructures) {
  struct Case {
    std::string name;
    Bytes packet;
  };
  auto header = [](uint16_t qd, uint16_t an) {
    PacketBuilder p;
    p.Header(0x8180, qd, an, 0, 0);
    return p;
  };
  std::vector<Case> cases;
  {
    PacketBuilder p = header(1, 0);
    p.Pointer(12).U16(1).U16(1);  // the question's name points at itself
    cases.push_back({"pointer to itself", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 0);
    p.Pointer(14).Pointer(12).U16(1).U16(1);  // 12 -> 14 -> 12
    cases.push_back({"forward pointer / two-pointer loop", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 0);
    p.U8(1).Raw("a").Pointer(12).U16(1).U16(1);  // "a" then back to "a" ...
    cases.push_back({"label-and-pointer loop", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 0xFFFF);
    p.Name("a.test").U16(1).U16(1);
    size_t r = p.Record(12, 1, 1);
    p.U8(1).U8(2).U8(3).U8(4);
    p.EndRecord(r);
    cases.push_back({"65535 answers announced, one present", p.bytes()});
  }
  {
    PacketBuilder p = header(0xFFFF, 0);
    cases.push_back({"65535 questions announced, none present", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 1);
    p.Name("a.test").U16(1).U16(1);
    p.Pointer(12).U16(1).U16(1).U32(1).U16(400).U8(1).U8(2).U8(3).U8(4);
    cases.push_back({"RDLENGTH beyond the end", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 1);
    p.Name("a.test").U16(1).U16(1);
    size_t r = p.Record(12, 1, 1);
    p.U8(1).U8(2).U8(3);
    p.EndRecord(r);
    cases.push_back({"A record of 3 bytes", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 1);
    p.Name("a.test").U16(1).U16(1);
    size_t r = p.Record(12, 16, 1);
    p.U8(200).Raw("short");
    p.EndRecord(r);
    cases.push_back({"TXT string longer than its record", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 1);
    p.Name("a.test").U16(1).U16(1);
    size_t r = p.Record(12, 6, 1);
    p.Name("ns1", 14).Name("h", 14).U32(1);
    p.EndRecord(r);
    cases.push_back({"SOA without its numbers", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 1);
    p.Name("a.test").U16(1).U16(1);
    size_t r = p.Record(12, 15, 1);
    p.U16(10).Name("mail.example.test");
    p.EndRecord(r);
    Bytes b = p.bytes();
    b[r + 1] = 5;  // RDLENGTH cuts the MX name short
    cases.push_back({"MX name runs past RDLENGTH", b});
  }
  {
    PacketBuilder p = header(1, 0);
    std::string long_name;
    for (int i = 0; i < 5; ++i) {
      long_name += std::string(63, 'x') + ".";
    }
    long_name.pop_back();
    p.Name(long_name).U16(1).U16(1);
    cases.push_back({"name of 321 octets (limit 255)", p.bytes()});
  }
  {
    PacketBuilder p = header(1, 0);
    p.U8(0x40).U8(1).U16(1).U16(1);  // reserved label type 01
    cases.push_back({"reserved label type", p.bytes()});
  }
  cases.push_back({"shorter than a header", {0x12, 0x34, 0x81}});
  {
    PacketBuilder p;
    p.Header(0x0100, 0, 0, 0, 0);
    cases.push_back({"a query, not a response", p.bytes()});
  }
  for (const Case& c : cases) {
    auto p = ParseDnsPacket(c.packet);
    EXPECT_FALSE(p.ok()) << c.name;
  }
}

// What every successful parse must respect, whatever the input.
void ExpectBounded(const Bytes& in, const DnsPacket& p) {
  ASSERT_LE(p.answers.size(), 512u);
  ASSERT_LE(p.authority.size(), 512u);
  for (const auto* section : {&p.answers, &p.authority}) {
    for (const DnsRecordData& r : *section) {
      // 255 wire octets, at most 4 characters each ("\ddd").
      ASSERT_LE(r.name.size(), 1020u);
      ASSERT_LE(r.data.size(), 4 * in.size() + 2 * 1020 + 64);
    }
  }
}

Bytes Mutate(std::mt19937& rng, const std::vector<Bytes>& seeds) {
  Bytes b = seeds[rng() % seeds.size()];
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  int rounds = 1 + rng() % 4;
  for (int k = 0; k < rounds; ++k) {
    switch (rng() % 8) {
      case 0:  // flip bytes
        for (int i = 0, n = 1 + rng() % 8; i < n && !b.empty(); ++i) {
          b[pick(b.size())] ^= 1 << (rng() % 8);
        }
        break;
      case 1:  // random bytes
        for (int i = 0, n = 1 + rng() % 8; i < n && !b.empty(); ++i) {
          b[pick(b.size())] = rng();
        }
        break;
      case 2:  // truncate
        b.resize(pick(b.size() + 1));
        break;
      case 3:  // huge or random section counts
        if (b.size() >= 12) {
          size_t at = 4 + 2 * pick(4);
          uint16_t v = rng() % 2 ? 0xFFFF : rng();
          b[at] = v >> 8;
          b[at + 1] = v & 0xFF;
        }
        break;
      case 4:  // a compression pointer somewhere: backwards, to itself or forwards
        if (b.size() >= 14) {
          size_t at = 12 + pick(b.size() - 13);
          size_t target = rng() % 3 == 0 ? at : rng() % 3 == 0 ? at + 2 : pick(at);
          b[at] = 0xC0 | ((target >> 8) & 0x3F);
          b[at + 1] = target & 0xFF;
        }
        break;
      case 5: {  // splice a chunk of another seed in
        const Bytes& other = seeds[rng() % seeds.size()];
        size_t from = pick(other.size());
        size_t len = std::min<size_t>(other.size() - from, 1 + rng() % 32);
        b.insert(b.begin() + pick(b.size() + 1), other.begin() + from, other.begin() + from + len);
        break;
      }
      case 6:  // random tail
        for (int i = 0, n = rng() % 64; i < n; ++i) {
          b.push_back(rng());
        }
        break;
      case 7:  // big RDLENGTH / label length somewhere
        if (!b.empty()) {
          b[pick(b.size())] = rng() % 2 ? 0xFF : 0x3F;
        }
        break;
    }
  }
  if (b.size() > 65535) {
    b.resize(65535);
  }
  return b;
}

std::vector<Bytes> Seeds() {
  PacketBuilder trunc;
  trunc.Header(0x8380, 1, 0, 0, 0);
  trunc.Name("big.example.test").U16(1).U16(1);
  return {EveryTypeAnswer(), NxdomainAnswer(), trunc.bytes()};
}

TEST(DnsPacketFuzzTest, RandomBytes) {
  std::mt19937 rng(20240601);
  int parsed = 0;
  int n = FuzzFor(std::chrono::milliseconds(1500), 300000, [&](int) {
    Bytes b(rng() % 700);
    for (auto& c : b) {
      c = rng();
    }
    if (b.size() > 3 && rng() % 2) {
      b[2] |= 0x80;  // a response, so parsing goes on
    }
    if (b.size() > 11 && rng() % 2) {
      for (int at : {4, 6, 8, 10}) {
        b[at] = 0, b[at + 1] = rng() % 4;  // small counts
      }
    }
    auto p = ParseDnsPacket(b);
    if (p.ok()) {
      ++parsed;
      ExpectBounded(b, *p);
    }
  });
  std::cout << "ParseDnsPacket random bytes: " << n << " inputs, " << parsed << " parsed\n";
  EXPECT_GT(n, 1000);
}

TEST(DnsPacketFuzzTest, MutatedValidPackets) {
  std::mt19937 rng(7);
  std::vector<Bytes> seeds = Seeds();
  int parsed = 0;
  int n = FuzzFor(std::chrono::milliseconds(2000), 300000, [&](int) {
    Bytes b = Mutate(rng, seeds);
    auto p = ParseDnsPacket(b);
    if (p.ok()) {
      ++parsed;
      ExpectBounded(b, *p);
    }
  });
  std::cout << "ParseDnsPacket mutations: " << n << " inputs, " << parsed << " parsed\n";
  EXPECT_GT(n, 1000);
  EXPECT_GT(parsed, 0);  // the mutator does not only produce garbage
}

TEST(DnsPacketFuzzTest, JudgeDnsAnswerStaysInItsClasses) {
  std::mt19937 rng(99);
  std::vector<Bytes> seeds = Seeds();
  const std::vector<std::string> types = {"", "A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA"};
  const std::vector<std::string> rcodes = {"", "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"};
  const std::vector<int> statuses = {
      ARES_SUCCESS,  ARES_ENODATA,  ARES_EFORMERR, ARES_ESERVFAIL,    ARES_ENOTFOUND,
      ARES_EREFUSED, ARES_EBADRESP, ARES_ETIMEOUT, ARES_ECONNREFUSED, ARES_ECANCELLED};
  int n = FuzzFor(std::chrono::milliseconds(1500), 200000, [&](int) {
    v1::DnsSpec spec;
    spec.set_type(types[rng() % types.size()]);
    spec.set_expect_rcode(rcodes[rng() % rcodes.size()]);
    if (rng() % 2) {
      spec.set_answers_match("contains");
    }
    for (int i = 0, k = rng() % 3; i < k; ++i) {
      spec.add_expect_answers(rng() % 2 ? "192.0.2.10" : "10 mail.example.test");
    }
    DnsResolver::RawAnswer a;
    a.status = statuses[rng() % statuses.size()];
    if (rng() % 4 != 0) {
      a.packet = Mutate(rng, seeds);
    }
    v1::DnsResolverResult r = JudgeDnsAnswer(spec, "127.0.0.1:53", a);
    ASSERT_NE(r.failure_class(), FC::UNSPECIFIED);
    ASSERT_NE(r.failure_class(), FC::PROBER_ERROR)
        << "a server's answer is never the prober's fault";
    std::string name = FC::Code_Name(r.failure_class());
    ASSERT_TRUE(name == "OK" || name.rfind("DNS_", 0) == 0) << name;
    ASSERT_LE(r.answers_size(), 512);
    ASSERT_LE(r.rcode().size(), 16u);
    ASSERT_EQ(r.resolver(), "127.0.0.1:53");
  });
  std::cout << "JudgeDnsAnswer: " << n << " inputs\n";
  EXPECT_GT(n, 1000);
}

// ------------------------------------------------------------- banners ---

TEST(ShownBannerTest, Examples) {
  EXPECT_EQ(ShownBanner("SSH-2.0-OpenSSH_9.2\r\n", 512), "SSH-2.0-OpenSSH_9.2");
  EXPECT_EQ(ShownBanner("220-a\r\n220 b\r\n", 512), "220-a\\r\\n220 b");
  EXPECT_EQ(ShownBanner(std::string("a\0b\x7f", 4), 512), "a\\x00b\\x7f");
  EXPECT_EQ(ShownBanner("SSH-2.0-\xff\xfe", 512), "SSH-2.0-\\xff\\xfe");  // not UTF-8
  EXPECT_EQ(ShownBanner("caf\xc3\xa9", 512), "caf\xc3\xa9");              // UTF-8 stays
  EXPECT_EQ(ShownBanner("abcdef", 5), "ab\xe2\x80\xa6");  // capped, with an ellipsis
  EXPECT_EQ(ShownBanner("", 10), "");
}

TEST(ShownBannerFuzzTest, BoundedCleanAndPrintable) {
  std::mt19937 rng(4242);
  int n = FuzzFor(std::chrono::milliseconds(1000), 200000, [&](int) {
    std::string raw(rng() % 300, '\0');
    const char alphabet[] = "\\nx\r\n0aZ";
    for (char& c : raw) {
      c = rng() % 2 ? alphabet[rng() % 8] : static_cast<char>(rng());
    }
    size_t max = rng() % 200;
    std::string out = ShownBanner(raw, max);
    ASSERT_LE(out.size(), max);
    ASSERT_TRUE(IsCleanUtf8(out)) << out;
    for (unsigned char c : out) {
      ASSERT_TRUE(c >= 0x20 && c != 0x7f) << static_cast<int>(c);  // no control characters
    }
  });
  EXPECT_GT(n, 1000);
}

// A loopback server that answers each connection with the bytes the test
// queued for it, then closes, resets or holds the connection. Own thread;
// every wait bounded.
class RandomBytesServer {
 public:
  enum class End { kClose, kReset, kHold };

  RandomBytesServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RandomBytesServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  void Next(std::string bytes, End end) {
    std::lock_guard<std::mutex> l(mu_);
    bytes_ = std::move(bytes);
    end_ = end;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) {
        continue;
      }
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) {
        continue;
      }
      std::string bytes;
      End end;
      {
        std::lock_guard<std::mutex> l(mu_);
        bytes = bytes_;
        end = end_;
      }
      timeval tv{1, 0};
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      // In a few pieces, so the reader sees partial banners.
      for (size_t at = 0; at < bytes.size();) {
        size_t n = std::min<size_t>(bytes.size() - at, 1 + bytes.size() / 3);
        if (send(c, bytes.data() + at, n, MSG_NOSIGNAL) <= 0) {
          break;
        }
        at += n;
      }
      if (end == End::kReset) {
        linger l{1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      } else if (end == End::kHold) {
        // Until the client leaves (bounded), reading and dropping.
        char buf[512];
        for (int i = 0; i < 40 && !stop_; ++i) {
          pollfd q{c, POLLIN, 0};
          if (poll(&q, 1, 50) == 1 && recv(c, buf, sizeof buf, 0) <= 0) {
            break;
          }
        }
      }
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string bytes_;
  End end_ = End::kClose;
  std::thread thread_;
};

std::string RandomBanner(std::mt19937& rng) {
  static const std::vector<std::string> prefixes = {
      "", "SSH-2.0-", "220 ", "220-mail\r\n", "250 ", "SSH-1.99-", "\r\n", std::string(1, '\0')};
  std::string s = prefixes[rng() % prefixes.size()];
  size_t n = rng() % 5 == 0 ? 4096 + rng() % 8192 : rng() % 200;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(static_cast<char>(rng() % 3 == 0 ? 'a' + rng() % 26 : rng()));
  }
  if (rng() % 2) {
    s += "\r\n";
  }
  return s;
}

RandomBytesServer::End RandomEnd(std::mt19937& rng) {
  switch (rng() % 10) {
    case 0:
      return RandomBytesServer::End::kHold;
    case 1:
    case 2:
      return RandomBytesServer::End::kReset;
    default:
      return RandomBytesServer::End::kClose;
  }
}

// The prober does not ignore SIGPIPE (and must not need to): a target that
// vanishes while a probe writes must not kill it. faultd's Start() ignores
// SIGPIPE process-wide, so put the default back for these tests.
void DefaultSigPipe() { signal(SIGPIPE, SIG_DFL); }

TEST(TcpBannerFuzzTest, RandomBytesFromTheServer) {
  DefaultSigPipe();
  RandomBytesServer server;
  ProberUnderTest prober;
  std::mt19937 rng(31337);
  const std::vector<std::string> regexes = {"^SSH-2\\.0", "^220 ", ".*ESMTP", "[^\\x00]{10}$"};
  std::map<std::string, int> classes;
  // A fixed number of connections (the time cap only guards against hangs).
  constexpr int kConnections = 150;
  int n = FuzzFor(std::chrono::milliseconds(20000), kConnections, [&](int i) {
    server.Next(RandomBanner(rng), RandomEnd(rng));
    v1::Check c;
    c.set_name(absl::StrCat("banner-", i));
    common::SetDuration(absl::Seconds(30), c.mutable_interval());
    common::SetDuration(absl::Milliseconds(300), c.mutable_timeout());
    v1::TcpSpec* t = c.mutable_tcp();
    t->set_host("127.0.0.1");
    t->set_port(server.port());
    t->set_expect_banner(regexes[rng() % regexes.size()]);
    t->set_max_banner_bytes(rng() % 3 == 0 ? 0 : 1 + rng() % 600);
    if (rng() % 4 == 0) {
      t->set_send("EHLO sonde\r\n");
    }
    auto start = Clock::now();
    std::vector<v1::ProbeResult> r = prober.Run(c);
    auto took = Clock::now() - start;
    ASSERT_EQ(r.size(), 1u);
    FC::Code fc = r[0].failure_class();
    classes[FC::Code_Name(fc)]++;
    ASSERT_TRUE(fc == FC::OK || fc == FC::BANNER_MISMATCH || fc == FC::TCP_RESET ||
                fc == FC::TIMEOUT)
        << FC::Code_Name(fc) << ": " << r[0].detail();
    ASSERT_LE(r[0].banner().size(), kTargetTextMaxBytes);
    ASSERT_LE(r[0].detail().size(), kDetailMaxBytes);
    ASSERT_TRUE(IsCleanUtf8(r[0].banner()));
    for (unsigned char ch : r[0].banner()) {
      ASSERT_TRUE(ch >= 0x20 && ch != 0x7f) << static_cast<int>(ch);
    }
    ASSERT_LT(took, std::chrono::milliseconds(300 + 1000));
  });
  std::cout << "TCP banner reads: " << n << " connections;";
  for (const auto& [name, count] : classes) {
    std::cout << " " << name << "=" << count;
  }
  std::cout << "\n";
  EXPECT_EQ(n, kConnections);
}

// The SIGPIPE case made deterministic: the server has closed (FIN) before
// the probe writes its ClientHello, so that write draws an RST, the read
// sees EOF and OpenSSL's fatal alert is a second write into a reset
// connection: SIGPIPE, unless the probe's writes use MSG_NOSIGNAL.
TEST(TlsSigPipeTest, ServerGoneBeforeClientHello) {
  DefaultSigPipe();
  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listen_fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<bool> closed{false};
  std::thread server([&] {
    pollfd p{listen_fd, POLLIN, 0};
    if (poll(&p, 1, 5000) == 1) {
      int c = accept(listen_fd, nullptr, nullptr);
      if (c >= 0) {
        close(c);  // FIN, before the client wrote anything
      }
    }
    closed = true;
  });
  ProberUnderTest prober;
  v1::Check c;
  c.set_name("tls-peer-gone");
  common::SetDuration(absl::Seconds(30), c.mutable_interval());
  common::SetDuration(absl::Seconds(2), c.mutable_timeout());
  c.mutable_tls()->set_host("127.0.0.1");
  c.mutable_tls()->set_port(ntohs(addr.sin_port));
  std::vector<v1::ProbeResult> r = prober.Run(c, [&] {
    // Runs after the probe's connect() (posted earlier): hold the loop until
    // the server has closed, so the ClientHello goes to a closed peer.
    prober.loop().Post([&] {
      for (int i = 0; i < 500 && !closed; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the FIN lands
    });
  });
  server.join();
  close(listen_fd);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].failure_class() == FC::TLS_HANDSHAKE || r[0].failure_class() == FC::TCP_RESET)
      << FC::Code_Name(r[0].failure_class()) << ": " << r[0].detail();
}

TEST(TcpBannerFuzzTest, RandomSmtpRepliesDuringStartTls) {
  DefaultSigPipe();
  RandomBytesServer server;
  ProberUnderTest prober;
  std::mt19937 rng(2525);
  constexpr int kConnections = 40;
  int n = FuzzFor(std::chrono::milliseconds(20000), kConnections, [&](int i) {
    std::string bytes = rng() % 2 ? "220 mail.test ESMTP\r\n" : "";
    if (rng() % 2) {
      bytes += "250-mail.test\r\n250 STARTTLS\r\n";
    }
    if (rng() % 2) {
      bytes += "220 go ahead\r\n";
    }
    bytes += RandomBanner(rng);
    server.Next(bytes, RandomEnd(rng));
    v1::Check c;
    c.set_name(absl::StrCat("starttls-", i));
    common::SetDuration(absl::Seconds(30), c.mutable_interval());
    common::SetDuration(absl::Milliseconds(300), c.mutable_timeout());
    v1::TlsSpec* t = c.mutable_tls();
    t->set_host("127.0.0.1");
    t->set_port(server.port());
    t->set_starttls("smtp");
    std::vector<v1::ProbeResult> r = prober.Run(c);
    ASSERT_EQ(r.size(), 1u);
    FC::Code fc = r[0].failure_class();
    ASSERT_TRUE(fc == FC::TLS_HANDSHAKE || fc == FC::TCP_RESET || fc == FC::TLS_VERSION)
        << FC::Code_Name(fc) << ": " << r[0].detail();
    ASSERT_LE(r[0].detail().size(), 1024u);
  });
  EXPECT_EQ(n, kConnections);
}

}  // namespace
}  // namespace sonde::prober
