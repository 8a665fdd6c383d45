// Service notification for systemd (Type=notify units): READY=1 once the
// daemon serves, STOPPING=1 when it begins to stop, WATCHDOG=1 while it is
// alive, STATUS= for `systemctl status`. A thin layer over libsystemd's
// sd_notify: without $NOTIFY_SOCKET (not started by systemd) every call does
// nothing, so the daemons run the same by hand, in tests and under other
// supervisors. Thread-safe (sd_notify opens a datagram socket per call).
#ifndef SONDE_COMMON_SYSTEMD_NOTIFY_H_
#define SONDE_COMMON_SYSTEMD_NOTIFY_H_

#include <string>

#include "absl/time/time.h"

namespace sonde::common {

// The daemon is ready: listening (collector) or holding its config (prober).
void NotifyReady(const std::string& status);
// The daemon began an orderly stop.
void NotifyStopping();
// The daemon is alive; call at WatchdogInterval().
void NotifyWatchdog();

// How often to call NotifyWatchdog(): half of the unit's WatchdogSec, or
// InfiniteDuration() when no watchdog is asked for.
absl::Duration WatchdogInterval();

}  // namespace sonde::common

#endif  // SONDE_COMMON_SYSTEMD_NOTIFY_H_
