#include "common/event_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

uint64_t Token(uint32_t generation, int fd) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}

// Cancelled entries may pile up in the timer heap (a curl transfer re-arms
// its timer many times); past this many dead entries the heap is rebuilt.
constexpr size_t kMinDeadEntriesToCompact = 4096;

}  // namespace

EventLoop::EventLoop(Clock* clock) : clock_(clock) {}

EventLoop::~EventLoop() {
  for (int fd : {epoll_fd_, wake_fd_}) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

absl::Status EventLoop::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    return Errno("epoll_create1");
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return Errno("eventfd");
  }
  return AddFd(wake_fd_, EPOLLIN, [this](uint32_t) { DrainPosted(); });
}

void EventLoop::Post(std::function<void()> fn) {
  if (OnLoopThread()) {
    // The loop looks at this queue before it sleeps: no wake-up needed.
    local_posted_.push_back(std::move(fn));
    return;
  }
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
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad fd ", fd));
  }
  if (static_cast<size_t>(fd) >= fds_.size()) {
    fds_.resize(std::max<size_t>(static_cast<size_t>(fd) + 1, fds_.size() * 2));
  }
  FdSlot& slot = fds_[fd];
  uint32_t generation = slot.generation + 1;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(generation, fd);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Errno("epoll_ctl(ADD)");
  }
  slot.generation = generation;
  slot.registered = true;
  slot.cb = std::move(cb);
  return absl::OkStatus();
}

absl::Status EventLoop::ModifyFd(int fd, uint32_t events) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].registered) {
    return absl::NotFoundError(absl::StrCat("fd ", fd, " not registered"));
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(fds_[fd].generation, fd);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Errno("epoll_ctl(MOD)");
  }
  return absl::OkStatus();
}

void EventLoop::RemoveFd(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].registered) {
    return;
  }
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_[fd].registered = false;
  fds_[fd].cb = nullptr;  // empty while its own callback runs (see Run)
}

void EventLoop::CloseFd(int fd) {
  if (fd < 0) {
    return;
  }
  if (static_cast<size_t>(fd) < fds_.size() && fds_[fd].registered) {
    fds_[fd].registered = false;
    fds_[fd].cb = nullptr;  // empty while its own callback runs (see Run)
  }
  close(fd);
}

EventLoop::TimerId EventLoop::RunAt(MonoTime when, std::function<void()> fn) {
  TimerId id = next_timer_++;
  timers_.emplace(id, Timer{when, std::move(fn)});
  heap_.push_back(HeapEntry{when, id});
  std::push_heap(heap_.begin(), heap_.end());
  return id;
}

EventLoop::TimerId EventLoop::RunAfter(std::chrono::microseconds delay, std::function<void()> fn) {
  return RunAt(Now() + delay, std::move(fn));
}

void EventLoop::Cancel(TimerId id) {
  timers_.erase(id);
  if (heap_.size() > kMinDeadEntriesToCompact && heap_.size() > 2 * timers_.size()) {
    CompactTimerHeap();
  }
}

void EventLoop::CompactTimerHeap() {
  heap_.clear();
  for (const auto& [id, timer] : timers_) {
    heap_.push_back(HeapEntry{timer.when, id});
  }
  std::make_heap(heap_.begin(), heap_.end());
}

const EventLoop::HeapEntry* EventLoop::EarliestTimer() {
  // Cancelled entries at the top would cause wake-ups for nothing.
  while (!heap_.empty() && !timers_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.pop_back();
  }
  return heap_.empty() ? nullptr : &heap_.front();
}

int EventLoop::WaitTimeoutMs() {
  if (!local_posted_.empty()) {
    return 0;
  }
  const HeapEntry* next = EarliestTimer();
  if (next == nullptr) {
    return -1;
  }
  auto wait = next->when - Now();
  if (wait <= MonoTime::duration::zero()) {
    return 0;
  }
  // Round up: waking early would only find nothing due and sleep again.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return static_cast<int>(std::min<int64_t>(ms, 24 * 3600 * 1000));
}

void EventLoop::RunDueTimers() {
  MonoTime now = Now();
  // Timers added by callbacks for "now" run in the next iteration, so a
  // callback that re-arms itself with zero delay cannot starve the loop.
  std::vector<TimerId> due;
  due.swap(due_scratch_);  // reuses its capacity: no allocation per wake-up
  due.clear();
  while (!heap_.empty() && heap_.front().when <= now) {
    due.push_back(heap_.front().id);
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.pop_back();
  }
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) {
      continue;  // cancelled, maybe by an earlier callback
    }
    std::function<void()> fn = std::move(it->second.fn);
    timers_.erase(it);
    fn();
  }
  due_scratch_.swap(due);
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
  for (auto& fn : batch) {
    fn();
  }
}

void EventLoop::DrainLocalPosted() {
  // Work posted by these callbacks runs in the next iteration. The two
  // vectors trade places, so their capacity is reused.
  std::vector<std::function<void()>> batch;
  batch.swap(posted_scratch_);
  batch.swap(local_posted_);
  for (auto& fn : batch) {
    fn();
  }
  batch.clear();
  posted_scratch_.swap(batch);
}

bool EventLoop::Iterate(int timeout_ms) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  if (n < 0 && errno != EINTR) {
    return false;
  }
  for (int i = 0; i < n; ++i) {
    uint64_t token = events[i].data.u64;
    int fd = static_cast<int>(token & 0xffffffffu);
    uint32_t generation = static_cast<uint32_t>(token >> 32);
    if (static_cast<size_t>(fd) >= fds_.size()) {
      continue;
    }
    if (!fds_[fd].registered || fds_[fd].generation != generation) {
      continue;  // removed earlier in this batch
    }
    // Moved out for the call so that the callback may remove its own fd;
    // `fds_` may grow meanwhile, so the slot is looked up again after.
    FdCallback cb = std::move(fds_[fd].cb);
    cb(events[i].events);
    FdSlot& slot = fds_[fd];
    if (slot.registered && slot.generation == generation) {
      slot.cb = std::move(cb);
    }
  }
  RunDueTimers();
  DrainLocalPosted();
  return true;
}

void EventLoop::Run() {
  stop_ = false;
  loop_thread_.store(std::this_thread::get_id());
  while (!stop_ && Iterate(WaitTimeoutMs())) {
  }
  loop_thread_.store(std::thread::id());
}

void EventLoop::RunUntil(FakeClock* clock, MonoTime until) {
  stop_ = false;
  loop_thread_.store(std::this_thread::get_id());
  while (!stop_ && Iterate(/*timeout_ms=*/0)) {
    if (stop_ || !local_posted_.empty()) {
      continue;
    }
    const HeapEntry* next = EarliestTimer();
    if (next == nullptr || next->when > until) {
      break;
    }
    if (next->when > Now()) {
      clock->Advance(absl::FromChrono(next->when - Now()));
    }
  }
  if (!stop_ && Now() < until) {
    clock->Advance(absl::FromChrono(until - Now()));
  }
  loop_thread_.store(std::thread::id());
}

}  // namespace sonde::common
