// TokenSet and Authenticator scopes: the tokens file format (old and new
// forms), errors naming the line, scopes, reload keeping the old tokens on
// a bad file, and the listener rule. Files in a scratch directory; no
// network.
#include "collector/auth/tokens.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "collector/auth/auth.h"

namespace sonde::collector {
namespace {

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-tokens.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/tokens.yaml";
    std::ofstream(path + ".tmp") << text;
    std::filesystem::rename(path + ".tmp", path);
    return path;
  }
  std::string dir_;
};

TEST_F(TokensTest, OldFormatKeepsReadAndAck) {
  absl::StatusOr<TokenSet> set = TokenSet::Load(
      Write("probers:\n  - {token: ber-token-0123456789, prober_id: p-ber, region: ber}\n"
            "query: [query-token-0123456789]\n"));
  ASSERT_TRUE(set.ok()) << set.status();
  const QueryTokenInfo* q = set->FindQuery("query-token-0123456789");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->scope, Scope::kAck);
  EXPECT_EQ(q->name, "");
  EXPECT_EQ(set->FindQuery("query-token-012345678"), nullptr);
  EXPECT_EQ(set->FindQuery(""), nullptr);
  EXPECT_EQ(set->FindQuery("ber-token-0123456789"), nullptr) << "a prober token is no query token";
  const ProberIdentity* p = set->FindProber("ber-token-0123456789");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->region, "ber");
}

TEST_F(TokensTest, NamedTokensWithScopes) {
  absl::StatusOr<TokenSet> set = TokenSet::Load(
      Write("query:\n"
            "  - {name: grafana, token: read-token-0123456789, scopes: [read]}\n"
            "  - {name: oncall, token: ack-token-0123456789, scopes: [ack]}\n"
            "  - {name: root, token: admin-token-0123456789, scopes: [read, admin]}\n"
            "  - {token: unnamed-token-0123456789}\n"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->FindQuery("read-token-0123456789")->scope, Scope::kRead);
  EXPECT_EQ(set->FindQuery("ack-token-0123456789")->name, "oncall");
  EXPECT_EQ(set->FindQuery("ack-token-0123456789")->scope, Scope::kAck);
  EXPECT_EQ(set->FindQuery("admin-token-0123456789")->scope, Scope::kAdmin);
  EXPECT_EQ(set->FindQuery("unnamed-token-0123456789")->name, "");
  EXPECT_EQ(set->FindQuery("unnamed-token-0123456789")->scope, Scope::kAck);
}

TEST_F(TokensTest, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* where;
  };
  const Case cases[] = {
      {"query:\n  - short\n", ":2: a token needs 16+"},
      {"query:\n  - {token: ok-token-0123456789, scopes: [write]}\n", ":2: unknown scope"},
      {"query:\n  - a-token-0123456789\n  - a-token-0123456789\n", ":3: this token is listed"},
      {"query: [x-token-0123456789\n", ":"},  // YAML syntax error
      {"probers:\n  - {token: p-token-0123456789, region: fra}\n", ":2: a prober entry needs"},
      {"quer:\n  - a-token-0123456789\n", ":1: unknown key"},
      {"query:\n  - {name: a, token: a-token-0123456789}\n  - {name: a, token: "
       "b-token-0123456789}\n",
       ":3: the name \"a\" is used twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenSet> set = TokenSet::Load(Write(c.text));
    ASSERT_FALSE(set.ok()) << c.text;
    EXPECT_TRUE(absl::StrContains(set.status().message(), "--tokens " + dir_ + "/tokens.yaml"))
        << set.status();
    EXPECT_TRUE(absl::StrContains(set.status().message(), c.where)) << set.status();
  }
}

TEST_F(TokensTest, ScopesDecideAndAReloadOfABadFileKeepsTheOldTokens) {
  AuthOptions o;
  o.tokens_file = Write(
      "query:\n  - {name: grafana, token: read-token-0123456789, scopes: "
      "[read]}\n  - {name: oncall, token: ack-token-0123456789, scopes: [ack]}\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(o, "127.0.0.1:0");
  ASSERT_TRUE(auth.ok()) << auth.status();
  Authenticator& a = **auth;
  EXPECT_TRUE(a.Authorize("read-token-0123456789", Scope::kRead).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(a.Authorize("read-token-0123456789", Scope::kAck).status()));
  absl::StatusOr<Caller> oncall = a.Authorize("ack-token-0123456789", Scope::kAck);
  ASSERT_TRUE(oncall.ok());
  EXPECT_EQ(oncall->token_name, "oncall");
  EXPECT_TRUE(
      absl::IsPermissionDenied(a.Authorize("ack-token-0123456789", Scope::kAdmin).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authorize("", Scope::kRead).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authorize("nope-token-0123456789", Scope::kRead).status()));

  Write("query:\n  - {name: new, token: new-token-0123456789, scopes: [read]\n");  // broken
  EXPECT_FALSE(a.ReloadTokens().ok());
  EXPECT_EQ(a.token_reload_failures(), 1);
  EXPECT_TRUE(a.Authorize("ack-token-0123456789", Scope::kAck).ok()) << "old tokens stay";
  EXPECT_FALSE(a.Authorize("new-token-0123456789", Scope::kRead).ok());

  Write("query:\n  - {name: new, token: new-token-0123456789, scopes: [read]}\n");
  EXPECT_TRUE(a.ReloadTokens().ok());
  EXPECT_TRUE(a.Authorize("new-token-0123456789", Scope::kRead).ok());
  EXPECT_FALSE(a.Authorize("ack-token-0123456789", Scope::kRead).ok()) << "removed token";
}

TEST_F(TokensTest, EveryListenerFollowsTheLoopbackRule) {
  absl::StatusOr<std::unique_ptr<Authenticator>> open =
      Authenticator::Create(AuthOptions{}, "127.0.0.1:7600");
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE((*open)->CheckListener("--http-listen", "127.0.0.1:7680").ok());
  EXPECT_TRUE((*open)->CheckListener("--http-listen", "[::1]:7680").ok());
  EXPECT_TRUE((*open)->CheckListener("--http-listen", "").ok());
  absl::Status st = (*open)->CheckListener("--http-listen", "0.0.0.0:7680");
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_TRUE(absl::StartsWith(st.message(), "--http-listen")) << st;
  EXPECT_FALSE((*open)->CheckListener("--metrics-listen", "127.corp.example:9464").ok());
  EXPECT_FALSE(Authenticator::Create(AuthOptions{}, "127.corp.example:7600").ok());

  AuthOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE((*Authenticator::Create(insecure, "0.0.0.0:0"))
                  ->CheckListener("--http-listen", "0.0.0.0:7680")
                  .ok());
  AuthOptions tokens;
  tokens.tokens_file = Write("query: [query-token-0123456789]\n");
  EXPECT_TRUE((*Authenticator::Create(tokens, "0.0.0.0:0"))
                  ->CheckListener("--metrics-listen", "0.0.0.0:9464")
                  .ok());
}

}  // namespace
}  // namespace sonde::collector
