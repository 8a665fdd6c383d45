#include "common/result_json.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "google/protobuf/util/json_util.h"
#include "sonde/v1/result.pb.h"

namespace sonde::common {
namespace {

TEST(ResultJsonTest, PrintsEveryFieldWithProtoNames) {
  v1::ProbeResult r;
  r.set_check_id("app-login");
  r.set_ok(true);
  r.set_failure_class(v1::FailureClass::OK);
  r.set_connect_us(1234);
  std::string line = ToJsonLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  // Proto field names, enum names, defaults present.
  for (const char* s :
       {"\"check_id\":\"app-login\"", "\"failure_class\":\"OK\"", "\"connect_us\":1234",
        "\"http_status\":0", "\"detail\":\"\"", "\"cert_sans\":[]", "\"dns\":[]", "\"tls_us\":0"}) {
    EXPECT_NE(line.find(s), std::string::npos) << s << " missing in " << line;
  }
  // Every field of the message is present.
  const auto* d = v1::ProbeResult::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->message_type() != nullptr && !d->field(i)->is_repeated()) {
      continue;
    }
    EXPECT_NE(line.find("\"" + d->field(i)->name() + "\""), std::string::npos)
        << d->field(i)->name();
  }
}

TEST(ResultJsonTest, RoundTrips) {
  v1::ProbeResult r;
  r.set_check_id("x");
  r.set_failure_class(v1::FailureClass::DNS_NXDOMAIN);
  r.set_detail("tab\there \"quoted\" \xE2\x9C\x93");
  r.mutable_start_time()->set_seconds(1700000000);
  v1::ProbeResult back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ToJsonLine(r), &back).ok());
  EXPECT_EQ(back.SerializeAsString(), r.SerializeAsString());
  EXPECT_NE(ToJsonLine(r).find("DNS_NXDOMAIN"), std::string::npos);
}

TEST(ResultJsonTest, FailureClassDefaultIsUnspecifiedNotOk) {
  v1::ProbeResult r;
  EXPECT_NE(ToJsonLine(r).find("\"failure_class\":\"UNSPECIFIED\""), std::string::npos);
}

// The escaper steps over 8-byte words: a character to escape is found at
// every position of a word and of the tail after the last whole word.
TEST(AppendJsonStringTest, EscapesAtEveryPosition) {
  const std::pair<char, const char*> cases[] = {{'"', "\\\""},       {'\\', "\\\\"},
                                                {'\n', "\\n"},       {'\x01', "\\u0001"},
                                                {'\x1f', "\\u001f"}, {'\0', "\\u0000"}};
  for (const auto& [c, escaped] : cases) {
    for (size_t len = 1; len <= 20; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string in(len, 'a');
        in[at] = c;
        const std::string want =
            "\"" + std::string(at, 'a') + escaped + std::string(len - at - 1, 'a') + "\"";
        std::string got;
        AppendJsonString(in, &got);
        EXPECT_EQ(got, want) << len << " " << at;
        // Inside COPY text: the same with every backslash doubled.
        std::string doubled;
        for (char w : want) {
          doubled += w == '\\' ? std::string("\\\\") : std::string(1, w);
        }
        got.clear();
        AppendJsonStringInCopyText(in, &got);
        EXPECT_EQ(got, doubled) << len << " " << at;
      }
    }
  }
  std::string plain;
  AppendJsonString("0123456789abcdef\xc3\xa9<>", &plain);
  EXPECT_EQ(plain, "\"0123456789abcdef\xc3\xa9<>\"");
}

}  // namespace
}  // namespace sonde::common
