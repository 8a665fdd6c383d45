#include "common/file_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

// The directory an inotify watch goes on: the file's own (a rename over the
// file replaces its inode, which a watch on the file itself would lose).
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string FileFingerprint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return "";
  }
  return absl::StrCat(st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

FileWatcher::FileWatcher(std::string path, absl::Duration period, std::function<void()> on_change) {
  std::string seen = FileFingerprint(path);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotify_fd_ >= 0 &&
      inotify_add_watch(inotify_fd_, DirectoryOf(path).c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
    close(inotify_fd_);
    inotify_fd_ = -1;
  }
  thread_ = std::thread(&FileWatcher::Run, this, std::move(path), period, std::move(on_change),
                        std::move(seen));
}

void FileWatcher::Run(std::string path, absl::Duration period, std::function<void()> on_change,
                      std::string seen) {
  const int timeout_ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(period)));
  while (true) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);  // poll() skips a -1 descriptor
    if (stop_.HasBeenNotified()) {
      return;
    }
    if (n > 0 && fds[1].revents != 0) {
      // Which entry changed does not matter: the fingerprint decides.
      alignas(inotify_event) char buf[4096];
      while (read(inotify_fd_, buf, sizeof buf) > 0) {
      }
    }
    std::string now = FileFingerprint(path);
    if (now.empty() || now == seen) {
      continue;  // a missing file keeps what the daemon has
    }
    seen = std::move(now);
    on_change();
  }
}

FileWatcher::~FileWatcher() {
  stop_.Notify();
  const uint64_t one = 1;
  if (stop_fd_ >= 0) {
    (void)!write(stop_fd_, &one, sizeof one);
  }
  thread_.join();
  if (inotify_fd_ >= 0) {
    close(inotify_fd_);
  }
  if (stop_fd_ >= 0) {
    close(stop_fd_);
  }
}

}  // namespace sonde::common
