// FileWatcher: calls back when a file changes, for config-like files a
// daemon reloads on edit (the collector's config file, the tokens file).
// A change is a new "inode:size:mtime" fingerprint. The watcher looks when
// inotify reports that something in the file's directory was written and
// closed, renamed, created or had its attributes changed (so an edit is
// seen within milliseconds, whether saved in place or renamed over the
// file, or a symlink swapped), and in any case every `period` (file systems
// without inotify, a directory that did not exist yet). A file that
// disappears is not a change: the daemon keeps what it has. One thread of
// its own runs the callback; the destructor stops and joins it (after a
// callback in progress returns).
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
  void Run(std::string path, absl::Duration period, std::function<void()> on_change,
           std::string seen);

  absl::Notification stop_;
  int stop_fd_ = -1;     // eventfd that wakes the thread at once (-1: within `period`)
  int inotify_fd_ = -1;  // -1 without inotify: polling only
  std::thread thread_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_FILE_WATCH_H_
