#include "common/file_watch.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace sonde::common {

std::string FileFingerprint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return "";
  }
  return absl::StrCat(st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

FileWatcher::FileWatcher(std::string path, absl::Duration period, std::function<void()> on_change) {
  std::string seen = FileFingerprint(path);
  thread_ = std::thread([this, path = std::move(path), period, on_change = std::move(on_change),
                         seen = std::move(seen)]() mutable {
    while (!stop_.WaitForNotificationWithTimeout(period)) {
      std::string now = FileFingerprint(path);
      if (now.empty() || now == seen) {
        continue;
      }
      seen = now;
      on_change();
    }
  });
}

FileWatcher::~FileWatcher() {
  stop_.Notify();
  thread_.join();
}

}  // namespace sonde::common
