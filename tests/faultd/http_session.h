// HttpSession: one HTTP/1.1 connection on the http, https or control
// listener. It parses requests (keep-alive and pipelining honoured, one
// response at a time), asks the rules what to do with each (status,
// fail_share, delays, trickled or endless bodies, reset, close, blackhole,
// redirect) and produces the response without blocking the loop: delays and
// pacing are loop timers, large bodies are generated as the socket drains.
// On the control listener requests go to SessionHost::HandleControl instead.
//
// Owned by the SessionHost (see StreamConnection); loop thread only.
#ifndef SONDE_TESTS_FAULTD_HTTP_SESSION_H_
#define SONDE_TESTS_FAULTD_HTTP_SESSION_H_

#include <cstdint>
#include <string>

#include "tests/faultd/http_request.h"
#include "tests/faultd/stream_connection.h"

namespace sonde::faultd {

class HttpSession : public StreamConnection {
 public:
  using StreamConnection::StreamConnection;

 protected:
  void OnOpen() override;
  void OnSecure() override;
  void OnInput() override;
  void OnOutputDrained() override;
  void OnPeerClosed() override;

 private:
  enum class State { kReadingHead, kReadingBody, kResponding, kBlackhole };

  // A response body generated on demand: `pattern` repeated up to `total`
  // bytes (or forever).
  struct BodyPlan {
    std::string pattern;
    uint64_t total = 0;
    bool endless = false;
    bool chunked = false;
    uint32_t bytes_per_second = 0;  // 0: as fast as the socket takes it
    uint32_t delay_ms = 0;          // between the head and the body
    uint64_t sent = 0;
    Clock::time_point started;
    common::EventLoop::TimerId tick = 0;
  };

  void ProcessInput();
  void Dispatch();
  void HandleFaultRequest();
  void SendError(int status, const std::string& why);
  void SendSimple(int status, const std::string& content_type, const std::string& body,
                  const std::string& extra_headers);
  void StartBody();
  void PumpBody();
  void FinishResponse();

  State state_ = State::kReadingHead;
  size_t scanned_ = 0;
  bool processing_ = false;
  bool continue_sent_ = false;
  HttpRequest request_;
  bool keep_alive_ = true;
  bool body_active_ = false;
  BodyPlan body_;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_HTTP_SESSION_H_
