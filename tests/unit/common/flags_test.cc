#include "common/flags.h"

#include <gtest/gtest.h>

namespace sonde::common {
namespace {

TEST(FlagsTest, ParsesAllForms) {
  std::string s;
  int64_t n = 0;
  bool b = false;
  absl::Duration d;
  std::vector<std::string> l;
  FlagSet f("p", "usage");
  f.String("name", &s, "");
  f.Int("n", &n, "");
  f.Bool("b", &b, "");
  f.Duration("d", &d, "");
  f.List("l", &l, "");
  auto pos = f.Parse(
      {"--name=x", "-n", "42", "--b", "--d", "1m30s", "--l=a", "--l", "b", "pos", "--", "--raw"});
  ASSERT_TRUE(pos.ok()) << pos.status();
  EXPECT_EQ(s, "x");
  EXPECT_EQ(n, 42);
  EXPECT_TRUE(b);
  EXPECT_EQ(d, absl::Seconds(90));
  EXPECT_EQ(l, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*pos, (std::vector<std::string>{"pos", "--raw"}));
}

TEST(FlagsTest, Errors) {
  int64_t n = 0;
  FlagSet f("p", "usage");
  f.Int("n", &n, "");
  EXPECT_FALSE(f.Parse({"--unknown"}).ok());
  EXPECT_FALSE(f.Parse({"--n=abc"}).ok());
  EXPECT_FALSE(f.Parse({"--n"}).ok());
}

TEST(FlagsTest, HelpListsFlags) {
  std::string s = "dflt";
  FlagSet f("p", "usage text");
  f.String("collector", &s, "where results go");
  ASSERT_TRUE(f.Parse({"--help"}).ok());
  EXPECT_TRUE(f.help_requested());
  std::string help = f.Help();
  EXPECT_NE(help.find("usage text"), std::string::npos);
  EXPECT_NE(help.find("--collector"), std::string::npos);
  EXPECT_NE(help.find("(default: dflt)"), std::string::npos);
}

TEST(FlagsTest, SecretValueNeverInHelp) {
  std::string token = "tok-from-environment-123";
  FlagSet f("p", "usage");
  f.Secret("token", &token, "query token");
  ASSERT_TRUE(f.Parse({"--help"}).ok());
  const std::string help = f.Help();
  EXPECT_EQ(help.find("tok-from-environment-123"), std::string::npos) << help;
  EXPECT_NE(help.find("--token"), std::string::npos);
  EXPECT_NE(help.find("(default: set, not shown)"), std::string::npos) << help;
  ASSERT_TRUE(f.Parse({"--token", "given"}).ok());
  EXPECT_EQ(token, "given");

  std::string unset;
  FlagSet g("p", "usage");
  g.Secret("token", &unset, "query token");
  EXPECT_EQ(g.Help().find("default"), std::string::npos);
}

TEST(DurationTest, Parse) {
  EXPECT_EQ(*ParseDuration("10s"), absl::Seconds(10));
  EXPECT_EQ(*ParseDuration("5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("2d"), absl::Hours(48));
  EXPECT_EQ(*ParseDuration("1d12h"), absl::Hours(36));
  EXPECT_EQ(*ParseDuration("0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("abc").ok());
  EXPECT_FALSE(ParseDuration("").ok());
}

}  // namespace
}  // namespace sonde::common
