#include "common/config/yaml_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

using ::testing::HasSubstr;
using Kind = YamlDocument::Kind;

YamlDocument MustParse(const std::string& text) {
  absl::StatusOr<YamlDocument> doc = YamlDocument::Parse(text, "t.yaml");
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *std::move(doc) : YamlDocument();
}

TEST(YamlDocumentTest, NodesKeepTheirKindTextAndLine) {
  YamlDocument doc = MustParse(
      "regions: [fra, ams]\n"
      "checks:\n"
      "  - name: a\n"
      "    http:\n"
      "      url: \"http://x/\\x41\"\n");
  ASSERT_FALSE(doc.empty());
  ASSERT_TRUE(doc.IsMapping(doc.root()));
  ASSERT_EQ(doc.size(doc.root()), 2u);
  EXPECT_EQ(doc.scalar(doc.key(doc.root(), 0)), "regions");
  const auto regions = doc.value(doc.root(), 0);
  ASSERT_TRUE(doc.IsSequence(regions));
  ASSERT_EQ(doc.size(regions), 2u);
  EXPECT_EQ(doc.scalar(doc.item(regions, 1)), "ams");
  const auto checks = *doc.Find(doc.root(), "checks");
  const auto check = doc.item(checks, 0);
  EXPECT_EQ(doc.line(check), 3);
  const auto url = *doc.Find(*doc.Find(check, "http"), "url");
  EXPECT_EQ(doc.scalar(url), "http://x/A");  // escapes decoded
  EXPECT_EQ(doc.line(url), 5);
  EXPECT_FALSE(doc.Find(check, "service").has_value());
}

TEST(YamlDocumentTest, PlainNullSpellingsAreNullQuotedOnesAreText) {
  YamlDocument doc = MustParse("a:\nb: ~\nc: null\nd: NULL\ne: ''\nf: 'null'\ng: nil\n");
  const auto root = doc.root();
  for (const char* k : {"a", "b", "c", "d"}) {
    EXPECT_TRUE(doc.IsNull(*doc.Find(root, k))) << k;
  }
  for (const char* k : {"e", "f", "g"}) {
    EXPECT_TRUE(doc.IsScalar(*doc.Find(root, k))) << k;
  }
  EXPECT_EQ(doc.scalar(*doc.Find(root, "f")), "null");
}

TEST(YamlDocumentTest, EmptyAndNullDocumentsAreEmpty) {
  for (const char* text : {"", "# a comment only\n", "~\n", "---\n...\n"}) {
    absl::StatusOr<YamlDocument> doc = YamlDocument::Parse(text, "t.yaml");
    ASSERT_TRUE(doc.ok()) << text << ": " << doc.status();
    EXPECT_TRUE(doc->empty()) << text;
  }
}

TEST(YamlDocumentTest, AliasSharesTheAnchoredNodeAndItsLine) {
  YamlDocument doc = MustParse("a: &h {url: x}\nb: *h\n");
  const auto a = *doc.Find(doc.root(), "a");
  const auto b = *doc.Find(doc.root(), "b");
  EXPECT_EQ(a, b);
  EXPECT_EQ(doc.line(b), 1);
}

TEST(YamlDocumentTest, OnlyTheFirstDocumentIsRead) {
  YamlDocument doc = MustParse("---\na: 1\n---\nb: [\n");
  EXPECT_TRUE(doc.Find(doc.root(), "a").has_value());
}

struct Refused {
  const char* name;
  std::string text;
  std::string expect;  // substring of the error
};

class YamlDocumentRefusedTest : public ::testing::TestWithParam<Refused> {};

TEST_P(YamlDocumentRefusedTest, NamesFileLineAndProblem) {
  absl::StatusOr<YamlDocument> doc = YamlDocument::Parse(GetParam().text, "t.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(doc.status().message()), HasSubstr(GetParam().expect));
}

// Nine levels of ten aliases each: 10^9 nodes when expanded.
std::string Bomb() {
  std::string out = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    absl::StrAppend(&out, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) {
      absl::StrAppend(&out, j > 0 ? ", " : "", "*a", i - 1);
    }
    absl::StrAppend(&out, "]\n");
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, YamlDocumentRefusedTest,
    ::testing::Values(Refused{"UnclosedFlow", "a: [\n", "t.yaml:2: not valid YAML: "},
                      Refused{"Tab", "a:\n\tb: 1\n", "t.yaml:2: not valid YAML: "},
                      Refused{"UndefinedAlias", "a: 1\nb: *nope\n",
                              "t.yaml:2: not valid YAML: alias *nope names no anchor"},
                      Refused{"AliasInsideItsAnchor", "a: &x [1, *x]\n",
                              "t.yaml:1: not valid YAML: alias *x is inside the node it names"},
                      Refused{"Bomb", Bomb(), "not valid YAML: aliases expand to more than"},
                      // yaml-cpp ignored what followed a root indented deeper.
                      Refused{"LessIndentedAfterRoot", " a: 1\nb: 2\n", "t.yaml:2: not valid YAML"},
                      Refused{"TextAfterFlowRoot", "{a: 1}\n}\n", "t.yaml:2: not valid YAML"},
                      Refused{"InvalidUtf8", "a: \xff\n", "t.yaml:1: not valid YAML"}),
    [](const ::testing::TestParamInfo<Refused>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sonde::common
