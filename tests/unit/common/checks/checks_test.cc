// The check-type registry: every proto spec has a descriptor named after its
// oneof field, and each descriptor's rules, defaults and target.
#include <set>
#include <string>

#include "common/checks/registry.h"
#include "gtest/gtest.h"

namespace sonde::checks {
namespace {

// Records what a descriptor reports.
class RecordedErrors : public SpecErrors {
 public:
  void Add(const std::string& field, const std::string& message) override { fields.insert(field); }
  std::set<std::string> fields;
};

TEST(CheckTypesTest, EveryProtoSpecHasOneDescriptorNamedAfterItsField) {
  const google::protobuf::OneofDescriptor* spec = v1::Check::descriptor()->FindOneofByName("spec");
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(AllCheckTypes().size(), static_cast<size_t>(spec->field_count()));
  for (int i = 0; i < spec->field_count(); ++i) {
    v1::Check check;
    const google::protobuf::FieldDescriptor* f = spec->field(i);
    check.GetReflection()->MutableMessage(&check, f);
    const CheckType* type = FindCheckType(check);
    ASSERT_NE(type, nullptr) << f->name();
    EXPECT_EQ(type->kind, f->name());
    EXPECT_EQ(KindOf(check), f->name());
  }
  EXPECT_EQ(FindCheckType(v1::Check()), nullptr);
  EXPECT_EQ(KindOf(v1::Check()), "");
  EXPECT_EQ(TargetOf(v1::Check()), "");
}

TEST(CheckTypesTest, TargetNamesWhatTheResultIsAbout) {
  struct Row {
    std::string name;
    v1::Check check;
    std::string target;
  };
  std::vector<Row> rows(4);
  rows[0].name = "http";
  rows[0].check.mutable_http()->set_url("https://example.com:8443/x");
  rows[0].target = "https://example.com:8443/x";
  rows[1].name = "tls";
  rows[1].check.mutable_tls()->set_host("::1");
  rows[1].check.mutable_tls()->set_port(8443);
  rows[1].target = "[::1]:8443";
  rows[2].name = "tcp";
  rows[2].check.mutable_tcp()->set_host("mail.example.com");
  rows[2].check.mutable_tcp()->set_port(25);
  rows[2].target = "mail.example.com:25";
  rows[3].name = "dns";
  rows[3].check.mutable_dns()->set_name("example.com");
  rows[3].target = "example.com A";
  for (const Row& row : rows) {
    EXPECT_EQ(TargetOf(row.check), row.target) << row.name;
  }
}

TEST(CheckTypesTest, DefaultsFillOnlyUnsetFields) {
  v1::Check tls;
  tls.mutable_tls()->set_host("example.com");
  FindCheckType(tls)->apply_defaults(&tls);
  EXPECT_EQ(tls.tls().port(), 443u);
  EXPECT_EQ(TargetOf(tls), "example.com:443");

  v1::Check http;
  http.mutable_http()->set_url("http://example.com/");
  http.mutable_http()->set_method("HEAD");
  FindCheckType(http)->apply_defaults(&http);
  EXPECT_EQ(http.http().method(), "HEAD");
  EXPECT_EQ(http.http().requests_per_run(), 1u);
  EXPECT_EQ(http.http().max_redirects(), 10u);

  v1::Check dns;
  dns.mutable_dns()->set_name("example.com");
  FindCheckType(dns)->apply_defaults(&dns);
  EXPECT_EQ(dns.dns().type(), "A");
  EXPECT_EQ(dns.dns().expect_rcode(), "NOERROR");
  EXPECT_EQ(dns.dns().answers_match(), "exact");
}

TEST(CheckTypesTest, ValidateReportsFieldsRelativeToTheSpec) {
  v1::Check tcp;
  tcp.mutable_tcp()->set_host("a b");
  tcp.mutable_tcp()->set_expect_banner("(");
  tcp.mutable_tcp()->add_resolvers("127.0.0.1");
  tcp.mutable_tcp()->add_resolvers("resolver.example");
  tcp.mutable_tcp()->set_max_banner_bytes(65537);  // kept and searched in memory: capped
  RecordedErrors errors;
  FindCheckType(tcp)->validate(tcp, &errors);
  EXPECT_EQ(errors.fields, (std::set<std::string>{"host", "port", "expect_banner", "resolvers[1]",
                                                  "max_banner_bytes"}));

  v1::Check good;
  good.mutable_tcp()->set_host("example.com");
  good.mutable_tcp()->set_port(22);
  good.mutable_tcp()->set_max_banner_bytes(65536);
  RecordedErrors none;
  FindCheckType(good)->validate(good, &none);
  EXPECT_TRUE(none.fields.empty());
}

TEST(CheckTypesTest, IcmpDefaultsAndTarget) {
  v1::Check icmp;
  icmp.mutable_icmp()->set_host("db.example.com");
  icmp.mutable_icmp()->set_count(5);
  RecordedErrors none;
  FindCheckType(icmp)->validate(icmp, &none);
  EXPECT_TRUE(none.fields.empty());
  FindCheckType(icmp)->apply_defaults(&icmp);
  EXPECT_EQ(icmp.icmp().count(), 5u);
  EXPECT_EQ(icmp.icmp().interval_between().nanos(), 200000000);
  EXPECT_EQ(icmp.icmp().payload_bytes(), 56u);
  EXPECT_EQ(icmp.icmp().ip_version(), "auto");
  EXPECT_EQ(TargetOf(icmp), "db.example.com");

  v1::Check bad;
  bad.mutable_icmp()->set_count(1000);
  bad.mutable_icmp()->set_ip_version("ipv7");
  RecordedErrors errors;
  FindCheckType(bad)->validate(bad, &errors);
  EXPECT_EQ(errors.fields, (std::set<std::string>{"host", "count", "ip_version"}));
}

TEST(CheckTypesTest, GrpcRulesAndTarget) {
  v1::Check grpc;
  grpc.mutable_grpc()->set_target("[::1]:50051");
  RecordedErrors none;
  FindCheckType(grpc)->validate(grpc, &none);
  EXPECT_TRUE(none.fields.empty());
  FindCheckType(grpc)->apply_defaults(&grpc);
  EXPECT_FALSE(grpc.grpc().tls());
  EXPECT_EQ(TargetOf(grpc), "[::1]:50051");

  v1::Check bad;
  bad.mutable_grpc()->set_target("api.example.com");
  bad.mutable_grpc()->set_server_name("api.example.com");
  RecordedErrors errors;
  FindCheckType(bad)->validate(bad, &errors);
  EXPECT_EQ(errors.fields, (std::set<std::string>{"target", "server_name"}));
}

}  // namespace
}  // namespace sonde::checks
