// FileWatcher: calls back when a file changes, for config-like files a
// daemon reloads on edit (the tokens file; the same rule as the config
// file's: inode, size and mtime polled every `period`). A file that
// disappears is not a change: the daemon keeps what it has. One thread of
// its own runs the callback; the destructor stops and joins it.
#ifndef SONDE_COMMON_FILE_WATCH_H_
#define SONDE_COMMON_FILE_WATCH_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace sonde::common {

// "inode:size:mtime" of `path`, "" when it cannot be read.
std::string FileFingerprint(const std::string& path);

class FileWatcher {
 public:
  // The fingerprint is taken before the constructor returns: an edit right
  // after it is seen.
  FileWatcher(std::string path, absl::Duration period, std::function<void()> on_change);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_FILE_WATCH_H_
