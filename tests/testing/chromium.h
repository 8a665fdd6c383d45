// Headless Chromium for tests that must see a page as a visitor does
// (Debian's `chromium`; tests run as root, hence --no-sandbox): loads a URL,
// saves a screenshot and returns the DOM after the page ran (so a script
// that changed document.title would show). Each call uses its own profile
// directory under `work_dir`, so tests may run side by side. One call per
// thread at a time; blocks up to `timeout`.
#ifndef SONDE_TESTS_TESTING_CHROMIUM_H_
#define SONDE_TESTS_TESTING_CHROMIUM_H_

#include <chrono>
#include <string>

namespace sonde::testing {

struct ChromiumPage {
  int exit_code = -1;  // chromium's; 0 = loaded
  std::string dom;     // --dump-dom output
  std::string log;     // chromium's stderr, for failure messages
};

// The directory tests save artifacts in: $SONDE_TEST_OUTPUT_DIR or
// build/test-output (compiled in), plus `test_name`; created.
std::string TestOutputDir(const std::string& test_name);

// Renders `url` in a 412x2400 window (a phone's width) and writes the PNG
// to `screenshot`.
ChromiumPage RenderInChromium(const std::string& url, const std::string& screenshot,
                              const std::string& work_dir,
                              std::chrono::seconds timeout = std::chrono::seconds(90));

// Elements named `tag` in a dumped DOM ("<script" occurrences, case
// ignored).
int CountTags(const std::string& dom, const std::string& tag);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_CHROMIUM_H_
