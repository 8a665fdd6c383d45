#include "common/file_watch.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sonde::common {
namespace {

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-file-watch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/sonde.yaml";
    Write(path_, "a: 1\n");
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".tmp").c_str());
    rmdir(dir_.c_str());
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  // How long until `calls` reaches `n` (at most 10 s).
  static absl::Duration WaitFor(const std::atomic<int>& calls, int n) {
    const absl::Time start = absl::Now();
    while (calls.load() < n && absl::Now() - start < absl::Seconds(10)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::Now() - start;
  }

  std::string dir_, path_;
};

// The poll period is a minute: only inotify can report these edits in time.
TEST_F(FileWatcherTest, EditsInPlaceAndRenamesOverTheFileAreSeenAtOnce) {
  std::atomic<int> calls{0};
  FileWatcher watcher(path_, absl::Minutes(1), [&] { calls.fetch_add(1); });
  Write(path_, "a: 2, edited in place\n");
  EXPECT_LT(WaitFor(calls, 1), absl::Seconds(5));
  EXPECT_EQ(calls.load(), 1);
  Write(path_ + ".tmp", "a: 3, renamed over it\n");  // the tmp file is not the file
  ASSERT_EQ(std::rename((path_ + ".tmp").c_str(), path_.c_str()), 0);
  EXPECT_LT(WaitFor(calls, 2), absl::Seconds(5));
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(FileWatcherTest, RemovalIsNotAChangeAndTheDestructorDoesNotWaitForThePeriod) {
  std::atomic<int> calls{0};
  const absl::Time start = absl::Now();
  {
    FileWatcher watcher(path_, absl::Minutes(1), [&] { calls.fetch_add(1); });
    std::remove(path_.c_str());
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(calls.load(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace sonde::common
