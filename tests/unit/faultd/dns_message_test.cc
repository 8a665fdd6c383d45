// DNS wire format: round trips, compression, hostile input.
#include "tests/faultd/dns_message.h"

#include <random>

#include "gtest/gtest.h"

namespace sonde::faultd::dns {
namespace {

TEST(DnsMessageTest, QueryRoundTrip) {
  Message q;
  q.id = 0xBEEF;
  q.rd = true;
  q.questions.push_back({"App.Example.test", kTypeAAAA, kClassIN});
  q.edns_udp_size = 1232;
  auto parsed = Parse(Serialize(q));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, 0xBEEF);
  EXPECT_TRUE(parsed->rd);
  EXPECT_FALSE(parsed->qr);
  ASSERT_EQ(parsed->questions.size(), 1u);
  EXPECT_EQ(parsed->questions[0].name, "App.Example.test");
  EXPECT_EQ(parsed->questions[0].type, kTypeAAAA);
  ASSERT_TRUE(parsed->edns_udp_size.has_value());
  EXPECT_EQ(*parsed->edns_udp_size, 1232);
  EXPECT_TRUE(parsed->additional.empty());  // OPT is not a normal record
}

TEST(DnsMessageTest, RdataTextRoundTrip) {
  struct Case {
    uint16_t type;
    std::string text;
  } cases[] = {
      {kTypeA, "192.0.2.10"},
      {kTypeAAAA, "2001:db8::1"},
      {kTypeCNAME, "target.example.test"},
      {kTypeNS, "ns1.example.test"},
      {kTypeMX, "10 mail.example.test"},
      {kTypeTXT, "v=spf1 -all"},
      {kTypeSOA, "ns1.example.test hostmaster.example.test 7 3600 600 86400 60"},
  };
  for (const Case& c : cases) {
    auto rdata = EncodeRdata(c.type, c.text);
    ASSERT_TRUE(rdata.ok()) << TypeName(c.type) << ": " << rdata.status();
    EXPECT_EQ(RdataToText(c.type, *rdata), c.text) << TypeName(c.type);
  }
}

TEST(DnsMessageTest, LongTxtIsSplitInto255OctetStrings) {
  std::string text(600, 'a');
  auto rdata = EncodeRdata(kTypeTXT, text);
  ASSERT_TRUE(rdata.ok());
  EXPECT_EQ(rdata->size(), 600u + 3);  // three length octets
  EXPECT_EQ(RdataToText(kTypeTXT, *rdata), text);
}

TEST(DnsMessageTest, BadRdataIsRejected) {
  EXPECT_FALSE(EncodeRdata(kTypeA, "300.1.1.1").ok());
  EXPECT_FALSE(EncodeRdata(kTypeAAAA, "127.0.0.1").ok());
  EXPECT_FALSE(EncodeRdata(kTypeMX, "mail.example.test").ok());
  EXPECT_FALSE(EncodeRdata(kTypeSOA, "a b 1 2 3").ok());
  EXPECT_FALSE(EncodeRdata(kTypeCNAME, "a..b").ok());
}

TEST(DnsMessageTest, NamesAreValidated) {
  EXPECT_TRUE(EncodeName("a.b.c.").ok());
  EXPECT_EQ(*EncodeName(""), std::string(1, '\0'));
  EXPECT_FALSE(EncodeName(std::string(64, 'a') + ".test").ok());
  std::string long_name;
  for (int i = 0; i < 30; ++i) {
    long_name += "abcdefghi.";
  }
  EXPECT_FALSE(EncodeName(long_name).ok());  // > 255 octets
  // Escapes survive a round trip through the wire.
  auto wire = EncodeName("a\\.b.c");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)[0], 3);
}

TEST(DnsMessageTest, CompressedResponseIsDecompressed) {
  // Header: id 1, QR|RD|RA, 1 question, 1 answer.
  std::string m("\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00", 12);
  m += std::string(
      "\x03"
      "www"
      "\x07"
      "example"
      "\x04"
      "test"
      "\x00",
      18);  // at offset 12
  m += std::string("\x00\x05\x00\x01", 4);
  // Answer: name = pointer to 12, CNAME, IN, TTL 300, rdata "cdn" + ptr(16).
  m += std::string(
      "\xC0\x0C\x00\x05\x00\x01\x00\x00\x01\x2C\x00\x06\x03"
      "cdn\xC0\x10",
      18);
  auto parsed = Parse(m);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->answers.size(), 1u);
  EXPECT_EQ(parsed->answers[0].name, "www.example.test");
  EXPECT_EQ(parsed->answers[0].ttl, 300u);
  EXPECT_EQ(RdataToText(kTypeCNAME, parsed->answers[0].rdata), "cdn.example.test");
}

TEST(DnsMessageTest, PointerLoopsAndForwardPointersAreRejected) {
  std::string header("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  // A pointer to itself.
  EXPECT_FALSE(Parse(header + std::string("\xC0\x0C\x00\x01\x00\x01", 6)).ok());
  // A forward pointer.
  EXPECT_FALSE(Parse(header + std::string("\xC0\x20\x00\x01\x00\x01", 6)).ok());
  // A reserved label type.
  EXPECT_FALSE(Parse(header + std::string("\x41"
                                          "a\x00\x00\x01\x00\x01",
                                          7))
                   .ok());
}

TEST(DnsMessageTest, TruncatedMessagesAreRejected) {
  Message q;
  q.questions.push_back({"app.example.test", kTypeA, kClassIN});
  std::string wire = Serialize(q);
  for (size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(Parse(wire.substr(0, n)).ok()) << "prefix " << n;
  }
  EXPECT_TRUE(Parse(wire).ok());
}

TEST(DnsMessageTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 120, '\0');
    for (char& c : junk) {
      c = static_cast<char>(rng());
    }
    if (junk.size() >= 6) {
      junk[5] = static_cast<char>(junk[5] & 3);  // small qdcount
    }
    (void)Parse(junk);
  }
  SUCCEED();
}

TEST(DnsMessageTest, TypeAndRcodeNames) {
  EXPECT_EQ(*TypeFromName("aaaa"), kTypeAAAA);
  EXPECT_FALSE(TypeFromName("SRVX").ok());
  EXPECT_EQ(TypeName(99), "TYPE99");
  EXPECT_EQ(*RcodeFromName("nxdomain"), kNxDomain);
  EXPECT_EQ(RcodeName(kServFail), "SERVFAIL");
  EXPECT_FALSE(RcodeFromName("BOGUS").ok());
}

}  // namespace
}  // namespace sonde::faultd::dns
