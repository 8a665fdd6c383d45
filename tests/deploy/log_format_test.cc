// The log line formats are an interface to journald and log shippers
// (docs/operations.md): journal detection by stderr's device and inode,
// the priority prefix on every line, and json objects one per line.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace sonde::common {
namespace {

// Runs `log` with stderr redirected to a file; returns what it wrote.
template <typename F>
std::string CaptureStderr(F log) {
  const std::string path = ::testing::TempDir() + "/log_format_test.txt";
  int file = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  int saved = dup(2);
  dup2(file, 2);
  close(file);
  log();
  dup2(saved, 2);
  close(saved);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LogFormatTest, JournalIsDetectedOnlyWhenJournalStreamNamesStderr) {
  struct stat st;
  ASSERT_EQ(fstat(2, &st), 0);
  setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(),
         1);
  EXPECT_TRUE(StderrIsJournal());
  setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
  EXPECT_FALSE(StderrIsJournal());
  setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(StderrIsJournal());
  unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
}

TEST(LogFormatTest, FormatNamesParse) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("journal"), LogFormat::kJournal);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("auto"), LogFormat::kAuto);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(LogFormatTest, JournalLinesEachCarryThePriorityAndNoTimestamp) {
  std::string out = CaptureStderr([] {
    InitLogging("journal-test", "info", LogFormat::kJournal);
    spdlog::error("first\nsecond");
    spdlog::warn("w");
    spdlog::info("i");
    spdlog::debug("filtered out by the level");
    spdlog::drop("journal-test");
  });
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  // A record stays one line: the newline inside it is escaped (SafeText).
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "<3>first\\nsecond");
  EXPECT_EQ(lines[1], "<4>w");
  EXPECT_EQ(lines[2], "<6>i");
}

TEST(LogFormatTest, JsonIsOneParsableObjectPerRecord) {
  std::string out = CaptureStderr([] {
    InitLogging("json-test", "info", LogFormat::kJson);
    spdlog::warn("quote \" and\nnewline");
    spdlog::drop("json-test");
  });
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << out;
  google::protobuf::Struct obj;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[0], &obj).ok()) << lines[0];
  EXPECT_EQ(obj.fields().at("level").string_value(), "warning");
  EXPECT_EQ(obj.fields().at("program").string_value(), "json-test");
  // Control characters arrive escaped by SafeText, as in every format.
  EXPECT_EQ(obj.fields().at("message").string_value(), "quote \" and\\nnewline");
  EXPECT_EQ(obj.fields().at("time").string_value().back(), 'Z');
}

}  // namespace
}  // namespace sonde::common
