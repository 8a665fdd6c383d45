#include "sondectl/progress.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sonde::sondectl {

constexpr absl::Duration kShowAfter = absl::Milliseconds(500);
constexpr absl::Duration kRedraw = absl::Milliseconds(250);

bool IsTerminal(std::FILE* stream) { return isatty(fileno(stream)) == 1; }

Progress::Progress(std::string what, bool enabled, std::FILE* out)
    : what_(std::move(what)), out_(out) {
  if (enabled) {
    thread_ = std::thread([this] { Run(); });
  }
}

Progress::~Progress() { Stop(); }

void Progress::Stop() {
  if (!stop_.HasBeenNotified()) {
    stop_.Notify();
  }
  if (thread_.joinable()) {
    thread_.join();
    if (drawn_) {
      std::fputs("\r\x1b[K", out_);  // erase the line
      std::fflush(out_);
    }
  }
}

void Progress::Run() {
  const absl::Time start = absl::Now();
  if (stop_.WaitForNotificationWithTimeout(kShowAfter)) {
    return;
  }
  do {
    const int64_t seconds = absl::ToInt64Seconds(absl::Now() - start);
    std::fputs(absl::StrCat("\r\x1b[Ksondectl: ", what_, ", ", seconds, "s").c_str(), out_);
    std::fflush(out_);
    drawn_ = true;
  } while (!stop_.WaitForNotificationWithTimeout(kRedraw));
}

}  // namespace sonde::sondectl
