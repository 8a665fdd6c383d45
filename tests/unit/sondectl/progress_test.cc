// Progress (progress.h): nothing at all when not enabled (standard error is
// not a terminal) or when the answer comes quickly; otherwise a line that
// is redrawn in place and erased before the report is printed.
#include "sondectl/progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace sonde::sondectl {
namespace {

std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  return out;
}

TEST(ProgressTest, DisabledOrQuickWritesNothing) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("report", /*enabled=*/false, f);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  {
    Progress p("report", /*enabled=*/true, f);  // answered at once
  }
  EXPECT_EQ(Contents(f), "");
  std::fclose(f);
}

TEST(ProgressTest, ALongWaitIsShownAndErased) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Progress p("report over 30d: waiting for the collector", /*enabled=*/true, f);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  p.Stop();
  const std::string out = Contents(f);
  EXPECT_EQ(out.rfind("\r\x1b[Ksondectl: report over 30d: waiting for the collector, 0s", 0), 0u)
      << out;
  EXPECT_NE(out.find(", 1s"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 4), "\r\x1b[K");  // erased last
  p.Stop();                                           // idempotent
  EXPECT_EQ(Contents(f), out);
  std::fclose(f);
}

}  // namespace
}  // namespace sonde::sondectl
