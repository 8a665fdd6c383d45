// IsLoopbackHost: the loopback-only rule of every listener and of plaintext
// clients is decided by an IP literal, never by a name's prefix.
#include <gtest/gtest.h>

#include "common/tls/credentials.h"

namespace sonde::common {
namespace {

TEST(LoopbackTest, IpLiteralsOfTheLoopbackNetworkOnly) {
  struct Case {
    const char* listen;
    bool loopback;
  };
  const Case cases[] = {
      {"127.0.0.1:7600", true},
      {"127.0.0.1:0", true},
      {"0.0.0.0:0", false},
      {"127.5.6.7:1", true},
      {"[::1]:7680", true},
      {"::1", true},
      {"[::ffff:127.0.0.1]:1", true},
      {"localhost:7600", true},
      {"LOCALHOST:1", true},
      {"127.corp.example:7600", false},
      {"127.0.0.1.nip.io:1", false},
      {"0.0.0.0:7680", false},
      {"[::]:7680", false},
      {"10.0.0.1:1", false},
      {"[::ffff:10.0.0.1]:1", false},
      {"128.0.0.1:1", false},
      {"localhost.evil.example:1", false},
      {"", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsLoopbackHost(c.listen), c.loopback) << c.listen;
  }
}

}  // namespace
}  // namespace sonde::common
