#include "prober/io/curl_multi.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace sonde::prober {

using common::EventLoop;

namespace {
struct GlobalInit {
  GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

// Enough for the transfers that run at once on a busy prober; each idle
// handle holds a few tens of KiB.
constexpr size_t kMaxIdle = 64;
}  // namespace

CurlMulti::Transfer::Transfer() : easy_(curl_easy_init()) {
  if (easy_ == nullptr) {
    std::abort();  // out of memory
  }
}

CurlMulti::CurlMulti(EventLoop* loop) : loop_(loop) {}

absl::StatusOr<std::unique_ptr<CurlMulti>> CurlMulti::Create(EventLoop* loop) {
  static GlobalInit init;
  std::unique_ptr<CurlMulti> m(new CurlMulti(loop));
  m->multi_.reset(curl_multi_init());
  if (m->multi_ == nullptr) {
    return absl::InternalError("curl_multi_init failed");
  }
  CURLM* multi = m->multi_.get();
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &CurlMulti::OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, m.get());
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &CurlMulti::OnTimer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, m.get());
  return m;
}

CurlMulti::~CurlMulti() {
  for (auto& [easy, done] : done_) {
    curl_multi_remove_handle(multi_.get(), easy);
  }
  for (curl_socket_t fd : fds_) {
    loop_->RemoveFd(fd);
  }
  loop_->Cancel(timer_);
}

std::unique_ptr<CurlMulti::Transfer> CurlMulti::TakeIdle(const void* kind) {
  // Newest first: its handle's memory is the likeliest still in cache.
  for (size_t i = idle_.size(); i-- > 0;) {
    if (idle_[i]->kind_ == kind) {
      std::unique_ptr<Transfer> t = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<ptrdiff_t>(i));
      return t;
    }
  }
  return nullptr;
}

void CurlMulti::Release(std::unique_ptr<Transfer> t) {
  if (t == nullptr) {
    return;
  }
  Remove(t->easy());
  if (idle_.size() >= kMaxIdle) {
    return;  // `t` and its handle are destroyed here
  }
  idle_.push_back(std::move(t));
}

absl::Status CurlMulti::Add(CURL* easy, Done done) {
  CURLMcode rc = curl_multi_add_handle(multi_.get(), easy);
  if (rc != CURLM_OK) {
    return absl::InternalError(absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(rc)));
  }
  done_[easy] = std::move(done);
  return absl::OkStatus();
}

void CurlMulti::Remove(CURL* easy) {
  if (done_.erase(easy) > 0) {
    curl_multi_remove_handle(multi_.get(), easy);
  }
}

int CurlMulti::OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (what == CURL_POLL_REMOVE) {
    self->loop_->RemoveFd(fd);
    self->fds_.erase(fd);
    return 0;
  }
  uint32_t events = ((what & CURL_POLL_IN) ? uint32_t{EPOLLIN} : 0u) |
                    ((what & CURL_POLL_OUT) ? uint32_t{EPOLLOUT} : 0u);
  if (self->fds_.count(fd) > 0) {
    (void)self->loop_->ModifyFd(fd, events);
    return 0;
  }
  self->fds_.insert(fd);
  (void)self->loop_->AddFd(fd, events, [self, fd](uint32_t ev) {
    int mask = 0;
    if (ev & EPOLLIN) {
      mask |= CURL_CSELECT_IN;
    }
    if (ev & EPOLLOUT) {
      mask |= CURL_CSELECT_OUT;
    }
    if (ev & (EPOLLERR | EPOLLHUP)) {
      mask |= CURL_CSELECT_ERR;
    }
    self->Action(fd, mask);
  });
  return 0;
}

int CurlMulti::OnTimer(CURLM* multi, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (timeout_ms < 0) {
    self->wanted_ = false;  // a timer still armed fires once for nothing
    return 0;
  }
  self->wanted_ = true;
  self->want_ = self->loop_->Now() + std::chrono::milliseconds(timeout_ms);
  // curl moves its timeout on several times per transfer, mostly later: a
  // loop timer (heap entry, hash slot) per move is avoided by keeping one
  // that fires no later than wanted.
  if (self->timer_ == 0 || self->timer_due_ > self->want_) {
    self->ArmTimer(self->want_);
  }
  return 0;
}

void CurlMulti::ArmTimer(common::EventLoop::MonoTime due) {
  loop_->Cancel(timer_);
  timer_due_ = due;
  // Never act from inside curl's own callback: let the loop call back.
  timer_ = loop_->RunAt(due, [this] { OnLoopTimer(); });
}

void CurlMulti::OnLoopTimer() {
  timer_ = 0;
  if (!wanted_) {
    return;
  }
  if (loop_->Now() < want_) {
    ArmTimer(want_);  // armed for an earlier want, since moved on
    return;
  }
  wanted_ = false;  // curl calls OnTimer again when it wants another
  Action(CURL_SOCKET_TIMEOUT, 0);
}

void CurlMulti::Action(curl_socket_t fd, int ev_bitmask) {
  int running = 0;
  curl_multi_socket_action(multi_.get(), fd, ev_bitmask, &running);
  CollectDone();
}

void CurlMulti::CollectDone() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) {
      continue;
    }
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;
    curl_multi_remove_handle(multi_.get(), easy);
    auto it = done_.find(easy);
    if (it == done_.end()) {
      continue;
    }
    Done done = std::move(it->second);
    done_.erase(it);
    done(code);
  }
}

}  // namespace sonde::prober
