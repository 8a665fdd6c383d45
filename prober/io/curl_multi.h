// CurlMulti: a curl multi handle driven by the EventLoop (the
// ephiperfifo pattern: CURLMOPT_SOCKETFUNCTION registers curl's sockets with
// epoll, CURLMOPT_TIMERFUNCTION arms a loop timer, curl_multi_socket_action
// runs on readiness). Loop thread only. Callers own their easy handles and
// keep them alive until the done callback ran or they called Remove().
//
// Easy handles are costly to create (curl allocates and initialises its
// per-handle state and buffers), so the multi keeps a small pool of
// Transfers: an easy handle together with what its user keeps beside it
// (buffers, a record of the options it set). Take one with Acquire<T>(),
// give it back with Release(). A pooled handle is NOT reset: it keeps every
// option its last user set (curl_easy_reset frees and re-creates curl's
// option strings, and every user then set the same options again). The
// user type sets the options all its transfers share once, when it is made,
// and per transfer only what differs from what the last transfer on that
// handle left (HttpProbe::Request). A reused handle keeps curl's per-handle
// TLS session cache, so callers that want a full handshake on every
// transfer set CURLOPT_SSL_SESSIONID_CACHE to 0.
#ifndef SONDE_PROBER_IO_CURL_MULTI_H_
#define SONDE_PROBER_IO_CURL_MULTI_H_

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/curl_handles.h"
#include "common/event_loop.h"

namespace sonde::prober {

class CurlMulti {
 public:
  using Done = std::function<void(CURLcode)>;

  // A pooled easy handle and its user's state; users derive from it. Each
  // derived type has its own pool entries (a handle never changes hands
  // between types, whose option records would not know each other's).
  class Transfer {
   public:
    Transfer();  // a new easy handle, every option at curl's default
    virtual ~Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    CURL* easy() const { return easy_.get(); }

   private:
    friend class CurlMulti;
    common::UniqueCurlEasy easy_;
    const void* kind_ = nullptr;  // KindOf<T>() of the derived type
  };

  static absl::StatusOr<std::unique_ptr<CurlMulti>> Create(common::EventLoop* loop);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Starts the transfer. `done` runs on the loop thread once it finished
  // (never from inside Add). The handle is removed from the multi before.
  absl::Status Add(CURL* easy, Done done);
  // Aborts a running transfer without calling its done callback.
  void Remove(CURL* easy);

  // A T (derived from Transfer, default-constructible) from the pool, with
  // the options its last transfer left, or a new one. Never null.
  template <typename T>
  std::unique_ptr<T> Acquire() {
    std::unique_ptr<Transfer> t = TakeIdle(KindOf<T>());
    if (t == nullptr) {
      t = std::make_unique<T>();
      t->kind_ = KindOf<T>();
    }
    return std::unique_ptr<T>(static_cast<T*>(t.release()));
  }
  // Takes a transfer back (removing it first if it is still running): into
  // the pool as it is, or destroyed when the pool is full.
  void Release(std::unique_ptr<Transfer> t);

  size_t running() const { return done_.size(); }

 private:
  explicit CurlMulti(common::EventLoop* loop);
  template <typename T>
  static const void* KindOf() {
    static const char kind = 0;
    return &kind;
  }
  std::unique_ptr<Transfer> TakeIdle(const void* kind);
  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* self);
  void Action(curl_socket_t fd, int ev_bitmask);
  void CollectDone();
  void ArmTimer(common::EventLoop::MonoTime due);
  void OnLoopTimer();

  common::EventLoop* loop_;
  common::UniqueCurlMulti multi_;
  // curl's timeout: `wanted_` at `want_` (its last CURLMOPT_TIMERFUNCTION
  // call). The loop timer `timer_` (at `timer_due_`) is re-armed only when
  // curl wants an earlier time; firing before `want_` just re-arms.
  common::EventLoop::TimerId timer_ = 0;
  common::EventLoop::MonoTime timer_due_;
  bool wanted_ = false;
  common::EventLoop::MonoTime want_;
  // Flat tables: a transfer adds and removes an entry in each, with no
  // node allocated per transfer.
  absl::flat_hash_set<curl_socket_t> fds_;
  absl::flat_hash_map<CURL*, Done> done_;
  std::vector<std::unique_ptr<Transfer>> idle_;  // at most kMaxIdle
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_IO_CURL_MULTI_H_
