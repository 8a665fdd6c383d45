#include "common/background_loop.h"

#include <utility>

namespace sonde::common {

void BackgroundLoop::Start(Pass pass) {
  if (thread_.joinable() || stop_.HasBeenNotified()) {
    return;
  }
  thread_ = std::thread([this, pass = std::move(pass)] {
    while (!stop_.WaitForNotificationWithTimeout(pass())) {
    }
  });
}

void BackgroundLoop::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  stop_.Notify();
  thread_.join();
}

}  // namespace sonde::common
