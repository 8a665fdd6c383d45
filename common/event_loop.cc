#include "common/event_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {
constexpr uint64_t kTimerToken = 1;
constexpr uint64_t kWakeToken = 2;

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}
}  // namespace

EventLoop::EventLoop() = default;

EventLoop::~EventLoop() {
  for (int fd : {epoll_fd_, timer_fd_, wake_fd_}) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

absl::Status EventLoop::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Errno("epoll_create1");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) return Errno("timerfd_create");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Errno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTimerToken;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
    return Errno("epoll_ctl(timerfd)");
  }
  ev.data.u64 = kWakeToken;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return Errno("epoll_ctl(eventfd)");
  }
  return absl::OkStatus();
}

void EventLoop::Post(std::function<void()> fn) {
  {
    absl::MutexLock l(&mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;  // EAGAIN means a wake-up is already pending.
}

void EventLoop::Stop() {
  Post([this] { stop_ = true; });
}

absl::Status EventLoop::AddFd(int fd, uint32_t events, FdCallback cb) {
  uint64_t token = next_token_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Errno("epoll_ctl(ADD)");
  }
  by_token_[token] = std::make_shared<FdEntry>(FdEntry{fd, std::move(cb)});
  token_of_fd_[fd] = token;
  return absl::OkStatus();
}

absl::Status EventLoop::ModifyFd(int fd, uint32_t events) {
  auto it = token_of_fd_.find(fd);
  if (it == token_of_fd_.end()) {
    return absl::NotFoundError(absl::StrCat("fd ", fd, " not registered"));
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Errno("epoll_ctl(MOD)");
  }
  return absl::OkStatus();
}

void EventLoop::RemoveFd(int fd) {
  auto it = token_of_fd_.find(fd);
  if (it == token_of_fd_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  by_token_.erase(it->second);
  token_of_fd_.erase(it);
}

EventLoop::TimerId EventLoop::RunAt(MonoTime when, std::function<void()> fn) {
  TimerId id = next_timer_++;
  auto it = timers_.emplace(when, id);
  timer_fns_.emplace(id, std::make_pair(it, std::move(fn)));
  if (when < armed_for_) ArmTimerFd();
  return id;
}

EventLoop::TimerId EventLoop::RunAfter(std::chrono::microseconds delay,
                                       std::function<void()> fn) {
  return RunAt(Now() + delay, std::move(fn));
}

void EventLoop::Cancel(TimerId id) {
  auto it = timer_fns_.find(id);
  if (it == timer_fns_.end()) return;
  timers_.erase(it->second.first);
  timer_fns_.erase(it);
}

void EventLoop::ArmTimerFd() {
  itimerspec spec{};
  if (!timers_.empty()) {
    MonoTime next = timers_.begin()->first;
    auto delta = std::chrono::duration_cast<std::chrono::nanoseconds>(next - Now());
    int64_t ns = std::max<int64_t>(delta.count(), 1);  // 0 would disarm
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = ns % 1000000000;
    armed_for_ = next;
  } else {
    armed_for_ = MonoTime::max();
  }
  timerfd_settime(timer_fd_, 0, &spec, nullptr);
}

void EventLoop::RunDueTimers() {
  uint64_t expirations;
  ssize_t n = read(timer_fd_, &expirations, sizeof expirations);
  (void)n;
  MonoTime now = Now();
  // Timers added by callbacks for "now" run in the next iteration, so a
  // callback that re-arms itself with zero delay cannot starve the loop.
  std::vector<TimerId> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it) {
    due.push_back(it->second);
  }
  for (TimerId id : due) {
    auto it = timer_fns_.find(id);
    if (it == timer_fns_.end()) continue;  // cancelled by an earlier callback
    std::function<void()> fn = std::move(it->second.second);
    timers_.erase(it->second.first);
    timer_fns_.erase(it);
    fn();
  }
  ArmTimerFd();
}

void EventLoop::DrainPosted() {
  uint64_t count;
  ssize_t n = read(wake_fd_, &count, sizeof count);
  (void)n;
  std::vector<std::function<void()>> batch;
  {
    absl::MutexLock l(&mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::Run() {
  stop_ = false;
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stop_) {
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t token = events[i].data.u64;
      if (token == kTimerToken) {
        RunDueTimers();
      } else if (token == kWakeToken) {
        DrainPosted();
      } else {
        auto it = by_token_.find(token);
        if (it == by_token_.end()) continue;  // removed earlier in this batch
        std::shared_ptr<FdEntry> entry = it->second;  // survives RemoveFd in cb
        entry->cb(events[i].events);
      }
    }
  }
}

}  // namespace sonde::common
