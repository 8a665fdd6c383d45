// Store pieces that need no database: connection-string handling and the
// COPY text encoding.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/storage/copy_rows.h"
#include "collector/storage/extra_json.h"
#include "collector/storage/store.h"
#include "collector/storage/utf8.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace sonde::collector {
namespace {

TEST(StoreConnectTest, BadSyntaxIsInvalidArgumentAndNoServerIsUnavailable) {
  auto bad = Store::Connect("host=127.0.0.1 port");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  // Port 1 on loopback: nothing listens there.
  auto down = Store::Connect("host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=2");
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  EXPECT_EQ(Store::DescribeConnInfo("host=db port=5 user=u password=secret dbname=d"),
            "user=u dbname=d host=db port=5");
}

TEST(CopyTextTest, SanitizeAndEscape) {
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), "ab");
  EXPECT_EQ(SanitizeUtf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xe2\x9c"),
            "\xEF\xBF\xBD\xEF\xBF\xBD");       // truncated sequence
  EXPECT_EQ(SanitizeUtf8("\xf4\x90\x80\x80"),  // above U+10FFFF
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string out;
  AppendCopyField("a\\b\tc\nd\re", &out);
  EXPECT_EQ(out, "a\\\\b\\tc\\nd\\re");
}

// COPY escaping steps over 8-byte words: a byte to escape is found at every
// position of a word and of the tail.
TEST(CopyTextTest, EscapesAtEveryPosition) {
  const std::pair<char, std::string> cases[] = {{'\\', "\\\\"}, {'\t', "\\t"}, {'\n', "\\n"},
                                                {'\r', "\\r"},  {'\0', ""},    {'\x01', "\x01"}};
  for (const auto& [c, escaped] : cases) {
    for (size_t len = 1; len <= 20; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string in(len, 'a');
        in[at] = c;
        std::string out;
        AppendCopyField(in, &out);
        EXPECT_EQ(out, std::string(at, 'a') + escaped + std::string(len - at - 1, 'a'))
            << len << " " << at;
      }
    }
  }
}

// The `extra` column's printer must say what protobuf's JSON printer says:
// compared as parsed JSON, over results with every kind of field.
TEST(ResultJsonTest, MatchesProtobufJsonPrinter) {
  std::vector<v1::ProbeResult> cases;
  cases.emplace_back();  // nothing set
  v1::ProbeResult full;
  full.set_check_id("app-login");
  full.set_service("app");
  full.set_kind("http");
  full.set_prober_id("p-fra");
  full.set_region("fra");
  full.set_seq(18446744073709551615ull);  // 64-bit: a JSON string
  full.mutable_start_time()->set_seconds(1795245906);
  full.mutable_start_time()->set_nanos(123000000);
  full.set_ok(false);
  full.set_failure_class(v1::FailureClass::TLS_CERT_EXPIRED);
  full.set_detail(
      "quote \" backslash \\ tab \t newline \n bell \x07 del \x7f <&> \xc3\xa9 \xe2\x9c\x93");
  full.set_dns_us(4294967295u);
  full.set_total_us(1);
  full.set_target("https://app.example.test/login?a=1&b=2");
  full.set_http_status(-1);
  full.set_request_index(2);
  full.set_tls_version("TLSv1.3");
  full.add_cert_sans("a.test");
  full.add_cert_sans("b.test");
  full.set_cert_not_after("2026-12-30T00:00:00Z");
  full.set_cert_days_left(-3);
  full.set_dns_rcode("NOERROR");
  v1::DnsResolverResult* dns = full.add_dns();
  dns->set_resolver("127.0.0.1:5353");
  dns->set_rcode("NXDOMAIN");
  dns->set_failure_class(v1::FailureClass::DNS_NXDOMAIN);
  v1::DnsRecord* rec = dns->add_answers();
  rec->set_name("x.test");
  rec->set_type("A");
  rec->set_ttl(60);
  rec->set_data("192.0.2.1");
  full.add_dns()->set_resolver("system");
  full.set_body_bytes(1ull << 40);
  cases.push_back(full);
  for (int32_t nanos : {0, 1, 1000, 999999999}) {  // 0, 9, 6 and 9 digits
    v1::ProbeResult r;
    r.mutable_start_time()->set_seconds(-62135596800);  // 0001-01-01
    r.mutable_start_time()->set_nanos(nanos);
    r.set_failure_class(static_cast<v1::FailureClass::Code>(999));  // unknown enum value
    cases.push_back(r);
  }
  v1::ProbeResult lossy;  // a float field set
  lossy.set_kind("icmp");
  lossy.set_icmp_sent(3);
  lossy.set_icmp_loss(1.0 / 3);
  cases.push_back(lossy);
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  for (const v1::ProbeResult& r : cases) {
    std::string want;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(r, &want, opts).ok());
    const std::string got = ResultJson(r);
    google::protobuf::Value want_value, got_value;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(want, &want_value).ok()) << want;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got, &got_value).ok()) << got;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want_value, got_value))
        << "protobuf: " << want << "\nours:     " << got;
    // The COPY row prints it escaped for COPY in the same pass.
    std::string field, want_field;
    AppendResultJsonCopyField(r, &field);
    AppendCopyField(got, &want_field);
    EXPECT_EQ(field, want_field);
  }
}

// Every result takes the direct printer: a ProbeResult field it was not
// written for would send all of ingest through protobuf's printer, several
// times slower (it did once: icmp_loss, a double, turned a reflection
// printer off).
TEST(ResultJsonTest, DirectPrinterCoversProbeResult) {
  EXPECT_TRUE(DirectJsonCovers(v1::ProbeResult::descriptor()));
  EXPECT_FALSE(DirectJsonCovers(v1::DnsRecord::descriptor()));
}

// Sets every field of `m` (found by reflection, so a field added to the
// proto is set too): plain text, non-zero numbers, the last enum value, two
// elements of each repeated field, every nested message filled the same way.
void SetEveryField(google::protobuf::Message* m) {
  namespace pb = google::protobuf;
  const pb::Descriptor* d = m->GetDescriptor();
  const pb::Reflection* r = m->GetReflection();
  if (d->full_name() == "google.protobuf.Timestamp") {
    r->SetInt64(m, d->FindFieldByName("seconds"), 1795245906);
    r->SetInt32(m, d->FindFieldByName("nanos"), 123456000);
    return;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    const int n = f->number();
    for (int k = 0; k < (f->is_repeated() ? 2 : 1); ++k) {
      const std::string text = absl::StrCat(f->name(), "-", k);
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, -n) : r->SetInt32(m, f, -n);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(m, f, -n) : r->SetInt64(m, f, -n);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(m, f, 4000000000u + n)
                           : r->SetUInt32(m, f, 4000000000u + n);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(m, f, (1ull << 63) + n)
                           : r->SetUInt64(m, f, (1ull << 63) + n);
          break;
        case pb::FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(m, f, 1.0 / n) : r->SetDouble(m, f, 1.0 / n);
          break;
        case pb::FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(m, f, 0.5f) : r->SetFloat(m, f, 0.5f);
          break;
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
          break;
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const pb::EnumDescriptor* e = f->enum_type();
          const int v = e->value(e->value_count() - 1)->number();
          f->is_repeated() ? r->AddEnumValue(m, f, v) : r->SetEnumValue(m, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_STRING:
          f->is_repeated() ? r->AddString(m, f, text) : r->SetString(m, f, text);
          break;
        case pb::FieldDescriptor::CPPTYPE_MESSAGE:
          SetEveryField(f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f));
          break;
      }
    }
  }
}

std::string ProtobufJson(const v1::ProbeResult& r) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(r, &json, opts).ok());
  return json;
}

// A result with every field set prints byte for byte what protobuf's
// printer prints (the strings are plain text, which both escape alike): a
// field the direct printer drops, misnames, misorders or misformats fails
// here, including one added to the proto later.
TEST(ResultJsonTest, EveryFieldSetMatchesProtobufByteForByte) {
  v1::ProbeResult full;
  SetEveryField(&full);
  const std::string want = ProtobufJson(full);
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(want, &parsed).ok()) << want;
  ASSERT_EQ(parsed.fields_size(), v1::ProbeResult::descriptor()->field_count()) << want;
  EXPECT_EQ(ResultJson(full), want);
}

// Doubles: protobuf's 15 or 17 digits, quoted non-finite values, and -0.0
// is set (its bits are not zero).
TEST(ResultJsonTest, DoublesPrintProtobufsDigits) {
  for (double loss :
       {1.0 / 3, 0.5, 1e-300, 123456789.125, -0.0, std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    v1::ProbeResult r;
    r.set_kind("icmp");
    r.set_icmp_loss(loss);
    EXPECT_EQ(ResultJson(r), ProtobufJson(r)) << loss;
  }
}

// Replaces every string of `m` (however deep, found by reflection) in turn
// with a NUL byte and with a bad UTF-8 byte: ResultIsClean(root) must see
// each, so a string field it does not read fails here.
void ExpectEveryStringChecked(const v1::ProbeResult& root, google::protobuf::Message* m,
                              int* checked) {
  namespace pb = google::protobuf;
  const pb::Reflection* r = m->GetReflection();
  for (int i = 0; i < m->GetDescriptor()->field_count(); ++i) {
    const pb::FieldDescriptor* f = m->GetDescriptor()->field(i);
    const int n = f->is_repeated() ? r->FieldSize(*m, f) : 1;
    for (int k = 0; k < n; ++k) {
      if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
        const std::string kept =
            f->is_repeated() ? r->GetRepeatedString(*m, f, k) : r->GetString(*m, f);
        for (const std::string& bad : {std::string("a\0b", 3), std::string("a\xff")}) {
          f->is_repeated() ? r->SetRepeatedString(m, f, k, bad) : r->SetString(m, f, bad);
          EXPECT_FALSE(ResultIsClean(root)) << f->full_name() << " " << k;
        }
        f->is_repeated() ? r->SetRepeatedString(m, f, k, kept) : r->SetString(m, f, kept);
        ++*checked;
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        ExpectEveryStringChecked(
            root, f->is_repeated() ? r->MutableRepeatedMessage(m, f, k) : r->MutableMessage(m, f),
            checked);
      }
    }
  }
}

TEST(ResultIsCleanTest, ReadsEveryStringField) {
  v1::ProbeResult full;
  SetEveryField(&full);
  EXPECT_TRUE(ResultIsClean(full));
  EXPECT_TRUE(MessageIsClean(full));
  int checked = 0;
  ExpectEveryStringChecked(full, &full, &checked);
  EXPECT_GE(checked, 25);
  EXPECT_TRUE(ResultIsClean(full));
}

}  // namespace
}  // namespace sonde::collector
