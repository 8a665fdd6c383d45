// BackgroundLoop: one thread that runs a pass, waits, and runs it again
// until Stop(). The shape of the collector's periodic workers (member
// heartbeat, rollup folder, retention, shard status board, SLO gauges),
// written once: each gives its pass and nothing else.
//
// Start() and Stop() from one owner thread; the pass runs on the loop's
// own thread. A stopped loop stays stopped (Start() after Stop() does
// nothing).
#ifndef SONDE_COMMON_BACKGROUND_LOOP_H_
#define SONDE_COMMON_BACKGROUND_LOOP_H_

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace sonde::common {

class BackgroundLoop {
 public:
  // Returns how long to wait before the next pass.
  using Pass = std::function<absl::Duration()>;

  BackgroundLoop() = default;
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;
  // Stops it: declare it after every member its pass reads, so that it is
  // destroyed (and its thread joined) before them.
  ~BackgroundLoop() { Stop(); }

  // Runs `pass` at once on a new thread, then again after each wait it
  // returns, until Stop(). Does nothing while running or once stopped.
  void Start(Pass pass);
  // Ends the wait at once, lets a pass in progress finish, joins the
  // thread. Does nothing when not running.
  void Stop();
  bool running() const { return thread_.joinable(); }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_BACKGROUND_LOOP_H_
