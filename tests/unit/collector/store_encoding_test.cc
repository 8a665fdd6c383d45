// Store pieces that need no database: connection-string handling and the
// COPY text encoding.
#include <gtest/gtest.h>

#include <string>

#include "collector/store.h"

namespace sonde::collector {
namespace {

TEST(StoreConnectTest, BadSyntaxIsInvalidArgumentAndNoServerIsUnavailable) {
  auto bad = Store::Connect("host=127.0.0.1 port");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  // Port 1 on loopback: nothing listens there.
  auto down = Store::Connect(
      "host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=2");
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  EXPECT_EQ(
      Store::DescribeConnInfo("host=db port=5 user=u password=secret dbname=d"),
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

}  // namespace
}  // namespace sonde::collector
