// Progress: a one-line note on standard error while sondectl waits for a
// long answer ("sondectl: report: waiting for the collector, 3s"), only
// when standard error is a terminal, so scripts and pipes never see it.
// It appears after a short delay (a quick answer shows nothing), is
// redrawn in place every 250 ms by a thread of its own, and is erased by
// Stop() (or the destructor) before anything else is printed. Owned by the
// command's main thread.
#ifndef SONDE_SONDECTL_PROGRESS_H_
#define SONDE_SONDECTL_PROGRESS_H_

#include <cstdio>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"

namespace sonde::sondectl {

// True when `stream` is a terminal.
bool IsTerminal(std::FILE* stream);

class Progress {
 public:
  // Shows `what` on `out` when `enabled`; nothing otherwise.
  Progress(std::string what, bool enabled, std::FILE* out = stderr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Erases the line (if it was drawn) and stops; idempotent.
  void Stop();

 private:
  void Run();

  const std::string what_;
  std::FILE* const out_;
  absl::Notification stop_;
  std::thread thread_;
  bool drawn_ = false;  // the thread's until joined
};

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_PROGRESS_H_
