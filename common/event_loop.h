// EventLoop: one thread, epoll + eventfd. It owns nothing but its own
// descriptors; callers register file descriptors (they keep ownership and
// must RemoveFd before closing) and timers. Everything except Post() and
// Stop() must be called on the loop thread (the thread inside Run()), or
// before Run() starts. Callbacks run on the loop thread and must not block.
//
// Timers live in a binary heap and bound epoll_wait's timeout, with
// millisecond resolution (a timer never fires early and at most ~1 ms late):
// no timerfd, so arming a timer costs no system call, and timers due within
// the same millisecond share one wake-up. Posts from the loop thread itself
// are queued without waking the loop through the eventfd.
//
// Time comes from an injected Clock (its monotonic SteadyNow). On a
// FakeClock, tests drive the loop with RunUntil(), which jumps the clock from
// timer to timer instead of sleeping.
#ifndef SONDE_COMMON_EVENT_LOOP_H_
#define SONDE_COMMON_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace sonde::common {

class EventLoop {
 public:
  using MonoTime = Clock::SteadyTime;
  using TimerId = uint64_t;
  using FdCallback = std::function<void(uint32_t epoll_events)>;

  // `clock` (not owned) must outlive the loop.
  explicit EventLoop(Clock* clock = RealClock());
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Must succeed before anything else is used.
  absl::Status Init();

  // Runs until Stop(). Returns on the calling thread.
  void Run();
  // For tests on a FakeClock (the loop's clock): runs like Run() but never
  // sleeps: whenever nothing is ready it advances `clock` to the next timer,
  // until Stop() or until no timer is due by `until`; without a Stop() the
  // clock then reads at least `until`. Descriptors are polled without waiting, so real I/O
  // only makes progress between timers.
  void RunUntil(FakeClock* clock, MonoTime until);
  // Thread-safe: makes Run() return after the current iteration.
  void Stop();
  // Thread-safe: runs `fn` on the loop thread soon (never inside Post), in
  // posting order per posting thread.
  void Post(std::function<void()> fn);

  // `events` are EPOLLIN/EPOLLOUT/...; the callback gets what fired. A
  // callback may remove its own fd (or any other) while it runs.
  absl::Status AddFd(int fd, uint32_t events, FdCallback cb);
  absl::Status ModifyFd(int fd, uint32_t events);
  void RemoveFd(int fd);
  // Closes `fd` and forgets its registration, if any, without EPOLL_CTL_DEL:
  // close() takes an fd out of the epoll set by itself when no other
  // descriptor refers to its file, so this is for sockets the caller made
  // and never duplicated (the prober does not fork). One system call
  // instead of two per probe socket.
  void CloseFd(int fd);

  TimerId RunAt(MonoTime when, std::function<void()> fn);
  TimerId RunAfter(std::chrono::microseconds delay, std::function<void()> fn);
  // Cancelling a timer that already ran (or 0) is a no-op.
  void Cancel(TimerId id);

  // The loop's monotonic time (its clock's SteadyNow).
  MonoTime Now() const { return clock_->SteadyNow(); }
  size_t timer_count() const { return timers_.size(); }

 private:
  // One per possible fd number. The epoll token is (generation << 32 | fd),
  // so an event for an fd removed (and maybe re-added) earlier in the same
  // epoll batch is recognised as stale and dropped.
  struct FdSlot {
    uint32_t generation = 0;
    bool registered = false;
    FdCallback cb;
  };
  struct Timer {
    MonoTime when;
    std::function<void()> fn;
  };
  // Heap entries; a cancelled timer's entry stays until it reaches the top
  // (or the heap is compacted) and is then skipped.
  struct HeapEntry {
    MonoTime when;
    TimerId id;
    // std::push_heap builds a max-heap: "less" means "later".
    bool operator<(const HeapEntry& o) const { return when != o.when ? when > o.when : id > o.id; }
  };

  bool OnLoopThread() const { return std::this_thread::get_id() == loop_thread_.load(); }
  // epoll_wait's timeout: 0 when work is ready, -1 when there is no timer.
  int WaitTimeoutMs();
  // One iteration: waits up to `timeout_ms` for descriptors, runs their
  // callbacks, the due timers and the local posts. False on an epoll error.
  bool Iterate(int timeout_ms);
  // Drops cancelled entries from the heap's top; the earliest live timer.
  const HeapEntry* EarliestTimer();
  void RunDueTimers();
  void CompactTimerHeap();
  void DrainPosted();
  void DrainLocalPosted();

  Clock* const clock_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool stop_ = false;  // loop thread only; Stop() posts
  std::atomic<std::thread::id> loop_thread_{};
  std::vector<FdSlot> fds_;
  TimerId next_timer_ = 1;
  std::vector<HeapEntry> heap_;
  absl::flat_hash_map<TimerId, Timer> timers_;
  std::vector<std::function<void()>> local_posted_;  // posts from the loop thread
  // Empty vectors kept for their capacity (see RunDueTimers, DrainLocalPosted).
  std::vector<TimerId> due_scratch_;
  std::vector<std::function<void()>> posted_scratch_;

  absl::Mutex mu_;
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_EVENT_LOOP_H_
