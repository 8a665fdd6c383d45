// Config contract 2 without a network: chunk bounds, the digest, deltas and
// the refusals of a broken or mismatched transfer.
#include "common/config/config_transfer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

v1::Check HttpCheck(int i, const std::string& url_suffix = "") {
  v1::Check c;
  c.set_name(absl::StrCat("check-", i));
  c.set_service("svc");
  c.mutable_http()->set_url(
      absl::StrCat("http://127.0.0.1:8080/a/fairly/long/path/", i, url_suffix));
  return c;
}

struct Built {
  std::vector<std::string> bytes;
  std::map<std::string, uint64_t> hashes;
  TransferContent content;
};

// The full transfer of `checks`, as the collector builds it.
Built Full(const std::vector<v1::Check>& checks) {
  Built b;
  for (const v1::Check& c : checks) {
    b.bytes.push_back(CheckBytes(c));
    b.hashes[c.name()] = CheckHash(b.bytes.back());
  }
  b.content.version = VersionOf(b.hashes);
  b.content.checks = checks.size();
  for (const std::string& s : b.bytes) {
    b.content.check_bytes.push_back(s);
  }
  return b;
}

std::vector<v1::Check> Checks(int n) {
  std::vector<v1::Check> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(HttpCheck(i));
  }
  return out;
}

absl::StatusOr<CheckSet> Receive(const CheckSet& running,
                                 const std::vector<v1::ProberConfig>& messages) {
  TransferAssembler a;
  for (size_t i = 0; i < messages.size(); ++i) {
    absl::StatusOr<bool> done = a.Feed(messages[i]);
    if (!done.ok()) {
      return done.status();
    }
    if (*done != (i + 1 == messages.size())) {
      return absl::InternalError(absl::StrCat("complete at message ", i));
    }
  }
  return running.Apply(a.Take());
}

TEST(ConfigTransferTest, EveryMessageIsBoundedAndTheVersionArrivesWhole) {
  Built b = Full(Checks(20000));  // ~1.6 MB of checks: several chunks
  std::vector<v1::ProberConfig> messages = BuildTransfer(b.content);
  ASSERT_GE(messages.size(), 4u);
  EXPECT_TRUE(messages.front().has_header());
  EXPECT_TRUE(messages.back().has_end());
  EXPECT_EQ(messages.front().header().chunks(), messages.size() - 2);
  for (const v1::ProberConfig& m : messages) {
    EXPECT_LE(m.ByteSizeLong(), kMaxConfigMessageBytes);
  }
  absl::StatusOr<CheckSet> got = Receive(CheckSet(), messages);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version(), b.content.version);
  v1::ProberConfig pc = got->ToProberConfig();
  ASSERT_EQ(pc.checks_size(), 20000);
  // The version does not depend on order: a stored config.pb gives it back.
  EXPECT_EQ(CheckSet::FromChecks(pc.checks()).version(), b.content.version);
}

TEST(ConfigTransferTest, ATamperedOrMissingChunkIsRefusedAndNothingApplied) {
  Built b = Full(Checks(20000));
  std::vector<v1::ProberConfig> messages = BuildTransfer(b.content);
  ASSERT_GE(messages.size(), 4u);

  std::vector<v1::ProberConfig> tampered = messages;
  std::string* p = tampered[2].mutable_chunk()->mutable_payload();
  (*p)[p->size() / 2] ^= 1;
  EXPECT_FALSE(Receive(CheckSet(), tampered).ok());

  std::vector<v1::ProberConfig> missing = messages;
  missing.erase(missing.begin() + 2);
  EXPECT_FALSE(Receive(CheckSet(), missing).ok());

  // A stream that breaks mid-transfer leaves nothing complete.
  TransferAssembler a;
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    absl::StatusOr<bool> done = a.Feed(messages[i]);
    ASSERT_TRUE(done.ok());
    EXPECT_FALSE(*done);
  }
  EXPECT_TRUE(a.in_progress());
}

TEST(ConfigTransferTest, ADeltaCarriesOnlyWhatChangedAndAppliesToItsBase) {
  std::vector<v1::Check> v1 = Checks(1000);
  Built full = Full(v1);
  absl::StatusOr<CheckSet> running = Receive(CheckSet(), BuildTransfer(full.content));
  ASSERT_TRUE(running.ok()) << running.status();

  std::vector<v1::Check> v2 = v1;
  v2[7] = HttpCheck(7, "?changed");
  v2.erase(v2.begin() + 9);
  v2.push_back(HttpCheck(5000));
  Built next = Full(v2);
  TransferContent delta;
  delta.version = next.content.version;
  delta.base_version = full.content.version;
  delta.checks = v2.size();
  const std::string changed = CheckBytes(v2[7]), added = CheckBytes(v2.back());
  delta.check_bytes = {changed, added};
  delta.removed = {"check-9"};
  std::vector<v1::ProberConfig> messages = BuildTransfer(delta);
  EXPECT_LT(WireBytes(messages), 1024u);

  absl::StatusOr<CheckSet> after = Receive(*running, messages);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version(), next.content.version);
  EXPECT_EQ(after->size(), v2.size());
  // What config.pb stores is the whole version, made without parsing.
  v1::ProberConfig stored;
  ASSERT_TRUE(stored.ParseFromString(after->ProberConfigBytes()));
  EXPECT_EQ(stored.SerializeAsString(), after->ToProberConfig().SerializeAsString());
  EXPECT_EQ(stored.checks_size(), static_cast<int>(v2.size()));

  // Against another base, or promising another result, it is refused.
  EXPECT_TRUE(absl::IsFailedPrecondition(Receive(CheckSet(), messages).status()));
  delta.removed.clear();
  EXPECT_TRUE(absl::IsDataLoss(Receive(*running, BuildTransfer(delta)).status()));
}

TEST(ConfigLimitsTest, ARegionNearTheLimitWarnsAndOneAboveIsRefused) {
  v1::Config config;
  config.add_regions("fra");
  config.add_regions("ams");
  for (int i = 0; i < 100; ++i) {
    v1::Check c = HttpCheck(i);
    if (i < 90) {
      c.add_regions("fra");  // the other ten run everywhere
    }
    *config.add_checks() = c;
  }
  uint64_t fra = 0;
  for (const v1::Check& c : config.checks()) {
    fra += c.ByteSizeLong() + 4;
  }
  std::vector<std::string> warnings;
  EXPECT_TRUE(CheckConfigLimits(config, &warnings, fra * 2).ok());
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(CheckConfigLimits(config, &warnings, fra + 1).ok());
  ASSERT_EQ(warnings.size(), 1u);  // fra only: ams has a tenth of it
  EXPECT_NE(warnings[0].find("\"fra\""), std::string::npos) << warnings[0];
  absl::Status st = CheckConfigLimits(config, nullptr, fra - 1);
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(st.message().find("\"fra\""), std::string::npos) << st;

  v1::Config huge;
  v1::Check c = HttpCheck(1);
  c.mutable_http()->set_body(std::string(kMaxCheckBytes, 'x'));
  *huge.add_checks() = c;
  EXPECT_TRUE(absl::IsInvalidArgument(CheckConfigLimits(huge, nullptr)));
}

}  // namespace
}  // namespace sonde::common
