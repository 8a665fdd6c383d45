// UserRegex: RE2 search semantics, refusals and linear-time matching of the
// texts that crashed std::regex.
#include "common/user_regex.h"

#include <gtest/gtest.h>

#include <string>

namespace sonde::common {
namespace {

bool Search(const std::string& pattern, const std::string& text) {
  auto re = UserRegex::Compile(pattern);
  EXPECT_TRUE(re.ok()) << re.status();
  return re.ok() && re->Search(text);
}

TEST(UserRegexTest, SearchesAnywhereUnlessAnchored) {
  EXPECT_TRUE(Search("Sign in", "<h1>Please Sign in</h1>"));
  EXPECT_FALSE(Search("^Sign in", "<h1>Please Sign in</h1>"));
  EXPECT_TRUE(Search(R"(^SSH-2\.0-)", "SSH-2.0-OpenSSH_9.2"));
  EXPECT_FALSE(Search(R"(^2$)", "2.1"));
  EXPECT_TRUE(Search(R"("status":\s*"up")", "{\"status\":  \"up\"}"));
  EXPECT_TRUE(Search(R"(\d{3} \w+)", "HTTP 503 down"));
  // '.' stops at a line end, as it did with ECMAScript; (?s) lets it cross.
  EXPECT_FALSE(Search("a.b", "a\nb"));
  EXPECT_TRUE(Search("(?s)a.b", "a\nb"));
}

TEST(UserRegexTest, TextMayHoldAnyBytes) {
  const std::string text("\xff\xfe\0 ok \x80", 8);
  EXPECT_TRUE(Search(" ok ", text));
  EXPECT_FALSE(Search("^ok", text));
}

TEST(UserRegexTest, RefusesWhatRe2CannotMatchInLinearTime) {
  for (const char* pattern : {"(a)\\1", "^(?=2)", "x(?!y)", "(?<=a)b", "((", "a{1001}"}) {
    auto re = UserRegex::Compile(pattern);
    ASSERT_FALSE(re.ok()) << pattern;
    EXPECT_EQ(re.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(re.status().message().rfind("not a valid RE2 pattern: ", 0), 0u)
        << re.status().message();
  }
}

TEST(UserRegexTest, RefusesAPatternOverTheMemoryLimit) {
  // Within RE2's repetition limit, but each \pL is a large UTF-8 automaton.
  auto re = UserRegex::Compile(R"(\pL{1000})");
  ASSERT_FALSE(re.ok());
  EXPECT_EQ(re.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(re.status().message(), "not a valid RE2 pattern: pattern too large - compile failed");
  EXPECT_TRUE(UserRegex::Compile(R"(\pL{100})").ok());
}

// std::regex recursed once per character here and overflowed the stack.
TEST(UserRegexTest, HugeRunOfSpacesNeitherCrashesNorMatches) {
  std::string text = "\"status\":" + std::string(4 << 20, ' ');
  EXPECT_FALSE(Search(R"("status":\s*"up")", text));
  EXPECT_TRUE(Search(R"("status":\s*"up")", text + "\"up\""));
  EXPECT_TRUE(Search(R"((\s|x)*$)", text));
}

}  // namespace
}  // namespace sonde::common
