// StreamConnection: socket/TLS I/O, buffers and timers of one session
// (see stream_connection.h). Loop thread only.
#include "tests/faultd/stream_connection.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace sonde::faultd {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr int kMaxReadsPerEvent = 16;

// Sent instead of a ServerHello by handshake_fail "garbage": not TLS at all,
// so clients report a protocol error ("wrong version number" or similar).
constexpr absl::string_view kGarbage =
    "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\nsonde-faultd: this "
    "is not TLS\r\n";

absl::string_view HandshakeFailName(HandshakeFail f) {
  switch (f) {
    case HandshakeFail::kAlert:
      return "alert";
    case HandshakeFail::kClose:
      return "close";
    case HandshakeFail::kGarbage:
      return "garbage";
    case HandshakeFail::kNone:
      break;
  }
  return "none";
}

}  // namespace

StreamConnection::StreamConnection(SessionHost* host, ListenerKind listener, UniqueFd fd,
                                   SocketAddress peer)
    : host_(host), listener_(listener), fd_(std::move(fd)), peer_(peer) {}

StreamConnection::~StreamConnection() {
  if (!closed_) {
    // Only when the server shuts down with the loop stopped.
    for (auto id : timers_) {
      host_->loop().Cancel(id);
    }
    if (registered_) {
      host_->loop().RemoveFd(fd_.get());
    }
  }
}

absl::Status StreamConnection::Start() {
  std::weak_ptr<StreamConnection> weak = weak_from_this();
  interest_ = EPOLLIN | EPOLLRDHUP;
  absl::Status s = host_->loop().AddFd(fd_.get(), interest_, [weak](uint32_t events) {
    if (auto self = weak.lock()) {
      self->HandleEvents(events);
    }
  });
  if (!s.ok()) {
    return s;
  }
  registered_ = true;
  auto self = shared_from_this();  // OnOpen may close the connection
  OnOpen();
  if (!closed_) {
    UpdateInterest();
  }
  return absl::OkStatus();
}

void StreamConnection::Abort(bool reset) {
  if (closed_) {
    return;
  }
  closed_ = true;
  for (auto id : timers_) {
    host_->loop().Cancel(id);
  }
  timers_.clear();
  if (registered_) {
    host_->loop().RemoveFd(fd_.get());
  }
  if (reset) {
    SetLingerZero(fd_.get());
  }
  fd_.Reset();
  host_->ConnectionClosed(this);
}

void StreamConnection::CountListener(absl::string_view counter) {
  host_->counters().AddListener(listener_, counter);
}

TlsPlan StreamConnection::OnClientHello(std::optional<absl::string_view> sni) {
  if (sni) {
    sni_ = std::string(*sni);
  }
  MatchContext ctx;
  ctx.listener = listener_;
  ctx.phase = Phase::kHandshake;
  ctx.source = &peer_;
  ctx.sni = sni_ ? absl::string_view(*sni_) : absl::string_view();
  handshake_match_ = host_->Decide(ctx);
  const Rule& rule = *handshake_match_;
  tls_plan_ = TlsPlan{rule.cert, rule.cert_days, rule.max_tls_version, rule.handshake_fail};
  handshake_match_.Count("handshakes");
  if (tls_plan_.fail != HandshakeFail::kNone) {
    handshake_match_.Count(absl::StrCat("handshake_fail_", HandshakeFailName(tls_plan_.fail)));
  } else if (tls_plan_.cert_days > 0) {
    handshake_match_.Count(absl::StrCat("cert_days_", tls_plan_.cert_days));
  } else {
    handshake_match_.Count(absl::StrCat("cert_", CertKindName(tls_plan_.cert)));
  }
  return tls_plan_;
}

void StreamConnection::StartTls() {
  auto ssl = host_->NewTlsSession(fd_.get(), this);
  if (!ssl.ok()) {
    spdlog::error("TLS session for {}: {}", peer_.ToString(), ssl.status().ToString());
    CountListener("internal_errors");
    Abort(false);
    return;
  }
  ssl_ = std::move(*ssl);
  DriveHandshake();
  if (!closed_) {
    UpdateInterest();
  }
}

void StreamConnection::DriveHandshake() {
  tls_wants_write_ = false;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    handshake_done_ = true;
    if (handshake_match_.decided()) {
      handshake_match_.Count("handshake_ok");
    } else {
      CountListener("handshake_ok");
    }
    OnSecure();
    return;
  }
  int err = SSL_get_error(ssl_.get(), r);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return;
    case SSL_ERROR_WANT_WRITE:
      tls_wants_write_ = true;
      return;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
      // handshake_fail close/garbage: the ClientHello callback suspended
      // the handshake so the connection can misbehave on its own terms.
      if (tls_plan_.fail == HandshakeFail::kGarbage) {
        ssize_t n = send(fd_.get(), kGarbage.data(), kGarbage.size(), MSG_NOSIGNAL);
        (void)n;
      }
      Abort(false);
      return;
    default:
      ERR_clear_error();
      if (handshake_match_.decided()) {
        handshake_match_.Count("handshake_errors");
      } else {
        CountListener("handshake_errors");
      }
      Abort(false);
      return;
  }
}

void StreamConnection::HandleEvents(uint32_t events) {
  if (closed_) {
    return;
  }
  if (events & EPOLLERR) {
    CountListener("client_gone");
    Abort(false);
    return;
  }
  if (lingering_) {
    char buf[kReadChunk];
    for (int i = 0; i < kMaxReadsPerEvent; ++i) {
      ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
      }
      Abort(false);  // the client's FIN (or an error): done
      return;
    }
    return;
  }
  if (ssl_ && !handshake_done_) {
    DriveHandshake();
    if (closed_) {
      return;
    }
    if (!handshake_done_) {
      UpdateInterest();
      return;
    }
    events |= EPOLLIN;  // application data may follow the handshake
  }
  if (output_pending() > 0 || tls_wants_write_) {
    Flush();
  }
  if (closed_) {
    return;
  }
  if (output_hungry_ && output_pending() < kLowWater && (events & EPOLLOUT)) {
    OnOutputDrained();
    if (closed_) {
      return;
    }
  }
  if (read_eof_) {
    if (events & EPOLLHUP) {
      Abort(false);  // both directions gone
    }
  } else if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
    if (input_.size() >= max_input_ && (events & EPOLLHUP)) {
      Abort(false);  // cannot read the EOF behind the backlog; the peer is gone
      return;
    }
    ReadAvailable();
    if (closed_) {
      return;
    }
  }
  UpdateInterest();
}

void StreamConnection::ReadAvailable() {
  char buf[kReadChunk];
  bool got = false;
  bool eof = false;
  for (int i = 0; i < kMaxReadsPerEvent && input_.size() < max_input_; ++i) {
    if (ssl_) {
      ERR_clear_error();
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) {
        input_.append(buf, n);
        got = true;
        continue;
      }
      int err = SSL_get_error(ssl_.get(), n);
      if (err == SSL_ERROR_WANT_READ) {
        break;
      }
      if (err == SSL_ERROR_WANT_WRITE) {
        tls_wants_write_ = true;
        break;
      }
      if (err == SSL_ERROR_ZERO_RETURN) {
        eof = true;
        break;
      }
      ERR_clear_error();
      CountListener("client_gone");
      Abort(false);
      return;
    }
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n > 0) {
      input_.append(buf, n);
      got = true;
      continue;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    }
    CountListener("client_gone");
    Abort(false);
    return;
  }
  if (got) {
    OnInput();
  }
  if (closed_) {
    return;
  }
  if (eof) {
    read_eof_ = true;
    OnPeerClosed();
  }
}

void StreamConnection::Send(absl::string_view data) {
  if (closed_ || closing_ || data.empty()) {
    return;
  }
  output_.append(data.data(), data.size());
  if (ssl_ && !handshake_done_) {
    return;
  }
  Flush();
  if (!closed_) {
    UpdateInterest();
  }
}

void StreamConnection::Flush() {
  tls_wants_write_ = false;
  while (output_pending() > 0) {
    const char* p = output_.data() + output_sent_;
    size_t n = output_pending();
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_write(ssl_.get(), p, static_cast<int>(std::min<size_t>(n, INT_MAX)));
      if (r > 0) {
        output_sent_ += r;
        continue;
      }
      int err = SSL_get_error(ssl_.get(), r);
      if (err == SSL_ERROR_WANT_WRITE) {
        tls_wants_write_ = true;
        break;
      }
      if (err == SSL_ERROR_WANT_READ) {
        break;
      }
      ERR_clear_error();
      CountListener("client_gone");
      Abort(false);
      return;
    }
    ssize_t r = send(fd_.get(), p, n, MSG_NOSIGNAL);
    if (r > 0) {
      output_sent_ += r;
      continue;
    }
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    CountListener("client_gone");
    Abort(false);
    return;
  }
  if (output_sent_ == output_.size()) {
    output_.clear();
    output_sent_ = 0;
  } else if (output_sent_ > (1 << 20)) {
    output_.erase(0, output_sent_);
    output_sent_ = 0;
  }
  if (closing_ && !lingering_ && output_pending() == 0) {
    FinishLinger();
  }
}

void StreamConnection::SetOutputHungry(bool hungry) {
  output_hungry_ = hungry;
  if (!closed_) {
    UpdateInterest();
  }
}

void StreamConnection::CloseAfterFlush() {
  if (closed_ || closing_) {
    return;
  }
  closing_ = true;
  output_hungry_ = false;
  DisarmIdleTimer();
  if (output_pending() == 0) {
    FinishLinger();
  } else {
    UpdateInterest();
  }
}

void StreamConnection::FinishLinger() {
  lingering_ = true;
  if (ssl_ && handshake_done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // close_notify; its result does not matter
    ERR_clear_error();
  }
  shutdown(fd_.get(), SHUT_WR);
  input_.clear();
  After(std::chrono::duration_cast<std::chrono::milliseconds>(
            absl::ToChronoMilliseconds(host_->limits().linger)),
        [this] { Abort(false); });
  UpdateInterest();
}

common::EventLoop::TimerId StreamConnection::After(std::chrono::milliseconds delay,
                                                   std::function<void()> fn) {
  std::weak_ptr<StreamConnection> weak = weak_from_this();
  auto id_holder = std::make_shared<common::EventLoop::TimerId>(0);
  *id_holder = host_->loop().RunAfter(delay, [weak, id_holder, fn = std::move(fn)] {
    auto self = weak.lock();
    if (!self || self->closed_) {
      return;
    }
    self->timers_.erase(*id_holder);
    fn();
    if (!self->closed_) {
      self->UpdateInterest();
    }
  });
  timers_.insert(*id_holder);
  return *id_holder;
}

void StreamConnection::CancelTimer(common::EventLoop::TimerId id) {
  if (id == 0) {
    return;
  }
  host_->loop().Cancel(id);
  timers_.erase(id);
}

void StreamConnection::ArmIdleTimer() {
  CancelTimer(idle_timer_);
  idle_timer_ = After(std::chrono::duration_cast<std::chrono::milliseconds>(
                          absl::ToChronoMilliseconds(host_->limits().idle_timeout)),
                      [this] {
                        idle_timer_ = 0;
                        CountListener("idle_timeouts");
                        Abort(false);
                      });
}

void StreamConnection::DisarmIdleTimer() {
  CancelTimer(idle_timer_);
  idle_timer_ = 0;
}

void StreamConnection::UpdateInterest() {
  if (closed_ || !registered_) {
    return;
  }
  uint32_t want = 0;
  if (lingering_) {
    want = EPOLLIN | EPOLLRDHUP;
  } else {
    bool handshaking = ssl_ && !handshake_done_;
    if (!read_eof_ && (handshaking || input_.size() < max_input_)) {
      want |= EPOLLIN | EPOLLRDHUP;
    }
    if (output_pending() > 0 || tls_wants_write_ || (output_hungry_ && !handshaking)) {
      want |= EPOLLOUT;
    }
  }
  if (want != interest_) {
    interest_ = want;
    (void)host_->loop().ModifyFd(fd_.get(), want);
  }
}

}  // namespace sonde::faultd
