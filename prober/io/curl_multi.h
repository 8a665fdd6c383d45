// CurlMulti: a curl multi handle driven by the EventLoop (the
// ephiperfifo pattern: CURLMOPT_SOCKETFUNCTION registers curl's sockets with
// epoll, CURLMOPT_TIMERFUNCTION arms a loop timer, curl_multi_socket_action
// runs on readiness). Loop thread only. Callers own their easy handles and
// keep them alive until the done callback ran or they called Remove().
//
// Easy handles are costly to create (curl allocates and initialises its
// per-handle state and buffers), so the multi keeps a small pool: take one
// with AcquireEasy(), give it back with ReleaseEasy(), which resets every
// option. A reused handle keeps curl's per-handle TLS session cache, so
// callers that want a full handshake on every transfer set
// CURLOPT_SSL_SESSIONID_CACHE to 0.
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

  static absl::StatusOr<std::unique_ptr<CurlMulti>> Create(common::EventLoop* loop);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Starts the transfer. `done` runs on the loop thread once it finished
  // (never from inside Add). The handle is removed from the multi before.
  absl::Status Add(CURL* easy, Done done);
  // Aborts a running transfer without calling its done callback.
  void Remove(CURL* easy);

  // A handle with every option at its default: from the pool, or new.
  // Never null (curl_easy_init only fails when out of memory, which aborts).
  common::UniqueCurlEasy AcquireEasy();
  // Takes the handle back (removing it first if it is still running):
  // resets it into the pool, or cleans it up when the pool is full.
  void ReleaseEasy(common::UniqueCurlEasy easy);

  size_t running() const { return done_.size(); }

 private:
  explicit CurlMulti(common::EventLoop* loop);
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
  std::vector<common::UniqueCurlEasy> idle_easy_;  // reset handles, at most kMaxIdleEasy
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_IO_CURL_MULTI_H_
