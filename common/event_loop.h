// EventLoop: one thread, epoll + timerfd + eventfd. It owns nothing but its
// own descriptors; callers register file descriptors (they keep ownership and
// must RemoveFd before closing) and timers. Everything except Post() and
// Stop() must be called on the loop thread (the thread inside Run()), or
// before Run() starts. Callbacks run on the loop thread and must not block.
#ifndef SONDE_COMMON_EVENT_LOOP_H_
#define SONDE_COMMON_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace sonde::common {

class EventLoop {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;
  using TimerId = uint64_t;
  using FdCallback = std::function<void(uint32_t epoll_events)>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Must succeed before anything else is used.
  absl::Status Init();

  // Runs until Stop(). Returns on the calling thread.
  void Run();
  // Thread-safe: makes Run() return after the current iteration.
  void Stop();
  // Thread-safe: runs `fn` on the loop thread soon, in posting order.
  void Post(std::function<void()> fn);

  // `events` are EPOLLIN/EPOLLOUT/...; the callback gets what fired.
  absl::Status AddFd(int fd, uint32_t events, FdCallback cb);
  absl::Status ModifyFd(int fd, uint32_t events);
  void RemoveFd(int fd);

  TimerId RunAt(MonoTime when, std::function<void()> fn);
  TimerId RunAfter(std::chrono::microseconds delay, std::function<void()> fn);
  // Cancelling a timer that already ran (or 0) is a no-op.
  void Cancel(TimerId id);

  static MonoTime Now() { return std::chrono::steady_clock::now(); }
  size_t timer_count() const { return timers_.size(); }

 private:
  struct FdEntry {
    int fd;
    FdCallback cb;
  };
  void ArmTimerFd();
  void RunDueTimers();
  void DrainPosted();

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  bool stop_ = false;  // loop thread only; Stop() posts
  uint64_t next_token_ = 16;  // tokens < 16 are reserved for internal fds
  std::unordered_map<uint64_t, std::shared_ptr<FdEntry>> by_token_;
  std::unordered_map<int, uint64_t> token_of_fd_;
  TimerId next_timer_ = 1;
  std::multimap<MonoTime, TimerId> timers_;
  std::unordered_map<TimerId, std::pair<std::multimap<MonoTime, TimerId>::iterator,
                                        std::function<void()>>>
      timer_fns_;
  MonoTime armed_for_ = MonoTime::max();

  absl::Mutex mu_;
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_EVENT_LOOP_H_
