#include "common/systemd/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

#include "spdlog/spdlog.h"

namespace sonde::common {
namespace {

void Send(const std::string& state) {
  // unset_environment = 0: children (none today) and later calls keep it.
  int r = sd_notify(0, state.c_str());
  if (r < 0) {
    spdlog::debug("sd_notify({}): error {}", state, r);
  }
}

}  // namespace

void NotifyReady(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void NotifyStopping() { Send("STOPPING=1\nSTATUS=stopping"); }

void NotifyWatchdog() { Send("WATCHDOG=1"); }

absl::Duration WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    return absl::InfiniteDuration();
  }
  return absl::Microseconds(usec) / 2;
}

}  // namespace sonde::common
