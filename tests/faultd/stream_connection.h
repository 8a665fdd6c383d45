// StreamConnection: one accepted TCP connection (optionally TLS) on the
// event loop. The base owns the socket, the SSL session, the input and output
// buffers, the epoll registration and the connection's timers; a subclass
// owns one protocol exchange (HTTP, TCP banner, TLS-only, DNS over TCP) and
// reacts to OnOpen/OnInput/OnSecure/OnOutputDrained/OnPeerClosed.
//
// Ownership: the SessionHost holds a shared_ptr until the connection closes
// (ConnectionClosed); every loop callback (I/O, timer) holds a strong
// reference while it runs, so a subclass may close itself anywhere.
// Thread: the loop thread only (construction and destruction may also happen
// while the loop is not running).
#ifndef SONDE_TESTS_FAULTD_STREAM_CONNECTION_H_
#define SONDE_TESTS_FAULTD_STREAM_CONNECTION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/event_loop.h"
#include "tests/faultd/session_host.h"
#include "tests/faultd/sockets.h"
#include "tests/faultd/tls_server_context.h"

namespace sonde::faultd {

class StreamConnection : public std::enable_shared_from_this<StreamConnection>,
                         public ClientHelloHandler {
 public:
  StreamConnection(SessionHost* host, ListenerKind listener, UniqueFd fd, SocketAddress peer);
  ~StreamConnection() override;
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // Registers with the loop and calls OnOpen(). Must be called once, on a
  // shared_ptr-owned object.
  absl::Status Start();
  // Closes now (RST when `reset`). Idempotent; no callback runs afterwards.
  void Abort(bool reset);
  bool closed() const { return closed_; }
  const SocketAddress& peer() const { return peer_; }
  ListenerKind listener() const { return listener_; }

  // ClientHelloHandler: decides the handshake rule (phase kHandshake).
  TlsPlan OnClientHello(std::optional<absl::string_view> sni) final;

 protected:
  using Clock = std::chrono::steady_clock;

  // Hooks, all on the loop thread.
  virtual void OnOpen() = 0;
  virtual void OnInput() = 0;        // input() has new bytes
  virtual void OnSecure() {}         // TLS handshake finished
  virtual void OnOutputDrained() {}  // output is low and SetOutputHungry(true)
  // The client sent FIN (reading stops). Default: close.
  virtual void OnPeerClosed() { Abort(false); }

  // Begins the server side of a TLS handshake (https/tls listeners).
  void StartTls();
  bool tls() const { return ssl_ != nullptr; }
  bool secure() const { return handshake_done_; }
  // SNI of the ClientHello; nullopt before it or when the client sent none.
  const std::optional<std::string>& sni() const { return sni_; }

  std::string& input() { return input_; }
  // Queues `data` and writes what the socket takes now.
  void Send(absl::string_view data);
  size_t output_pending() const { return output_.size() - output_sent_; }
  // While hungry, OnOutputDrained() is called whenever the socket can take
  // more and less than kLowWater bytes are pending.
  void SetOutputHungry(bool hungry);
  // Flushes the output, sends FIN (and close_notify), waits up to
  // limits().linger for the client's FIN while discarding input, then closes.
  void CloseAfterFlush();

  // Runs `fn` after `delay` unless the connection closed before.
  common::EventLoop::TimerId After(std::chrono::milliseconds delay, std::function<void()> fn);
  void CancelTimer(common::EventLoop::TimerId id);
  // (Re)arms the idle timer: the connection is aborted (counter
  // "idle_timeouts") if nothing re-arms or disarms it within
  // limits().idle_timeout.
  void ArmIdleTimer();
  void DisarmIdleTimer();

  SessionHost* host() const { return host_; }
  // Counts on the listener only (not on a rule).
  void CountListener(absl::string_view counter);
  // The decision made at ClientHello time (undecided before).
  const RuleMatch& handshake_match() const { return handshake_match_; }

  // Reading pauses while input() holds this much (default 256 KiB); a
  // session that must buffer more (an HTTP request body) raises it.
  void set_max_input(size_t bytes) { max_input_ = bytes; }

  static constexpr size_t kLowWater = 64 * 1024;

 private:
  void HandleEvents(uint32_t events);
  void DriveHandshake();
  void ReadAvailable();
  void Flush();
  void UpdateInterest();
  void FinishLinger();

  SessionHost* host_;
  ListenerKind listener_;
  UniqueFd fd_;
  SocketAddress peer_;
  common::UniqueSsl ssl_;
  bool registered_ = false;
  bool closed_ = false;
  bool handshake_done_ = false;
  bool tls_wants_write_ = false;
  bool output_hungry_ = false;
  bool read_eof_ = false;   // the client sent FIN; reading stopped
  bool closing_ = false;    // CloseAfterFlush called
  bool lingering_ = false;  // FIN sent, waiting for the client's
  uint32_t interest_ = 0;
  size_t max_input_ = 256 * 1024;
  std::string input_;
  std::string output_;
  size_t output_sent_ = 0;
  std::set<common::EventLoop::TimerId> timers_;
  common::EventLoop::TimerId idle_timer_ = 0;
  std::optional<std::string> sni_;
  TlsPlan tls_plan_;
  RuleMatch handshake_match_;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_STREAM_CONNECTION_H_
