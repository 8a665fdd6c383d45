#include "common/probe_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace sonde::common {
namespace {

ProbePolicy Make(std::vector<std::string> deny, std::vector<std::string> allow) {
  v1::ProbePolicy spec;
  for (const auto& d : deny) {
    spec.add_deny_networks(d);
  }
  for (const auto& a : allow) {
    spec.add_allow_networks(a);
  }
  absl::StatusOr<ProbePolicy> p = ProbePolicy::Create(spec);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : ProbePolicy();
}

TEST(ProbePolicyTest, OffAllowsEverything) {
  ProbePolicy off;
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.Check("169.254.169.254").ok());
  EXPECT_TRUE(off.Check("not an address").ok());
}

TEST(ProbePolicyTest, DenyListRefusesItsNetworksOnly) {
  ProbePolicy p = Make({"169.254.0.0/16", "127.0.0.2/32", "fd00::/8"}, {});
  EXPECT_TRUE(p.enabled());
  absl::Status st = p.Check("169.254.169.254");
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_EQ(st.message(), "probe policy refuses 169.254.169.254: in deny_networks 169.254.0.0/16");
  EXPECT_FALSE(p.Check("127.0.0.2").ok());
  EXPECT_TRUE(p.Check("127.0.0.1").ok());
  EXPECT_TRUE(p.Check("192.0.2.1").ok());
  EXPECT_FALSE(p.Check("fd12:3456::1").ok());
  EXPECT_TRUE(p.Check("2001:db8::1").ok());
  // The IPv4-mapped spelling of a denied address is the same address.
  EXPECT_FALSE(p.Check("::ffff:169.254.169.254").ok());
  EXPECT_FALSE(p.Check("localhost").ok());  // not an IP literal: refused
}

TEST(ProbePolicyTest, MostSpecificNetworkDecides) {
  ProbePolicy p = Make({"10.0.0.0/8", "10.1.2.128/25"}, {"10.1.2.0/24", "0.0.0.0/0"});
  EXPECT_FALSE(p.Check("10.9.9.9").ok());    // /8 deny beats /0 allow
  EXPECT_TRUE(p.Check("10.1.2.3").ok());     // /24 allow beats /8 deny
  EXPECT_FALSE(p.Check("10.1.2.200").ok());  // /25 deny beats /24 allow
  EXPECT_TRUE(p.Check("198.51.100.7").ok());
  EXPECT_FALSE(p.Check("2001:db8::1").ok());  // outside allow_networks (IPv4 only)
}

TEST(ProbePolicyTest, AllowListAloneIsAnAllowList) {
  ProbePolicy p = Make({}, {"192.0.2.0/24"});
  EXPECT_TRUE(p.Check("192.0.2.10").ok());
  absl::Status st = p.Check("198.51.100.1");
  EXPECT_EQ(st.message(), "probe policy refuses 198.51.100.1: outside allow_networks");
}

TEST(ProbePolicyTest, ChecksSocketAddresses) {
  ProbePolicy p = Make({"169.254.169.254"}, {});
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "169.254.169.254", &v4.sin_addr);
  EXPECT_FALSE(p.Check(reinterpret_cast<sockaddr*>(&v4)).ok());
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:169.254.169.254", &v6.sin6_addr);
  EXPECT_FALSE(p.Check(reinterpret_cast<sockaddr*>(&v6)).ok());
  inet_pton(AF_INET, "169.254.169.253", &v4.sin_addr);
  EXPECT_TRUE(p.Check(reinterpret_cast<sockaddr*>(&v4)).ok());
}

TEST(ProbePolicyTest, DenyAllFailsClosed) {
  ProbePolicy p = ProbePolicy::DenyAll("unreadable");
  EXPECT_TRUE(p.enabled());
  EXPECT_FALSE(p.Check("192.0.2.1").ok());
}

TEST(ProbePolicyTest, NetworksAreValidated) {
  EXPECT_TRUE(ParseNetwork("10.0.0.0/8").ok());
  EXPECT_TRUE(ParseNetwork("::ffff:10.0.0.0/104").ok());
  EXPECT_FALSE(ParseNetwork("10.0.0.1/8").ok());
  EXPECT_FALSE(ParseNetwork("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseNetwork("10.0.0.0/").ok());
  EXPECT_FALSE(ParseNetwork("example.com").ok());
  v1::ProbePolicy spec;
  spec.add_allow_networks("nope");
  absl::StatusOr<ProbePolicy> p = ProbePolicy::Create(spec);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "allow_networks[0]: \"nope\" is not an IP network (e.g. 10.0.0.0/8, fd00::/8)");
}

}  // namespace
}  // namespace sonde::common
