#include "tests/testing/chromium.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/testing/process.h"

namespace sonde::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string TestOutputDir(const std::string& test_name) {
  const char* env = std::getenv("SONDE_TEST_OUTPUT_DIR");
#ifdef SONDE_TEST_OUTPUT_DIR
  std::string base = env != nullptr && env[0] != '\0' ? env : SONDE_TEST_OUTPUT_DIR;
#else
  std::string base = env != nullptr && env[0] != '\0' ? env : "test-output";
#endif
  const std::string dir = base + "/" + test_name;
  std::filesystem::create_directories(dir);
  return dir;
}

ChromiumPage RenderInChromium(const std::string& url, const std::string& screenshot,
                              const std::string& work_dir, std::chrono::seconds timeout) {
  static int calls = 0;
  const std::string profile =
      work_dir + "/chromium-profile-" + std::to_string(getpid()) + "-" + std::to_string(++calls);
  const std::string dom_path = profile + ".dom";
  const std::string log_path = profile + ".log";
  std::filesystem::create_directories(profile);
  // The DOM goes to stdout and chromium's complaints to stderr: kept apart
  // by the shell. Every argument is a path or URL the test made (no quotes).
  const std::string cmd =
      "exec chromium --headless=new --no-sandbox --disable-gpu"
      " --no-first-run --hide-scrollbars --window-size=412,2400"
      " --user-data-dir='" +
      profile + "' --screenshot='" + screenshot + "' --dump-dom '" + url + "' >'" + dom_path +
      "' 2>'" + log_path + "'";
  ChromiumPage page;
  std::string ignored;
  page.exit_code = RunCommand({"/bin/sh", "-c", cmd}, &ignored,
                              std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  page.dom = ReadFile(dom_path);
  page.log = ReadFile(log_path);
  std::error_code ec;
  std::filesystem::remove_all(profile, ec);
  std::filesystem::remove(dom_path, ec);
  std::filesystem::remove(log_path, ec);
  return page;
}

int CountTags(const std::string& dom, const std::string& tag) {
  std::string lower = dom;
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string needle = "<" + tag;
  int n = 0;
  for (size_t at = lower.find(needle); at != std::string::npos; at = lower.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace sonde::testing
