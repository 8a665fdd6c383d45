// TCP banner and TLS-only sessions (see tcp_session.h). Loop thread only.
#include "tests/faultd/tcp_session.h"

namespace sonde::faultd {
namespace {
constexpr size_t kMaxLine = 4096;
}  // namespace

void TcpBannerSession::OnOpen() {
  MatchContext ctx;
  ctx.listener = listener();
  ctx.phase = Phase::kAccept;
  ctx.source = &peer();
  match_ = host()->Decide(ctx);
  const pb::Rule& s = match_->spec;
  match_.Count("connections");
  if (s.reset() || s.reset_on_accept()) {
    match_.Count("reset");
    Abort(true);
    return;
  }
  if (s.close()) {
    match_.Count("close");
    Abort(false);
    return;
  }
  if (s.blackhole()) {
    match_.Count("blackhole");
    blackhole_ = true;
    return;
  }
  const std::string& banner = match_->banner();
  if (!banner.empty()) {
    auto send_banner = [this, banner] {
      match_.Count("banners");
      Send(banner);
    };
    if (s.banner_delay_ms() > 0) {
      After(std::chrono::milliseconds(s.banner_delay_ms()), send_banner);
    } else {
      send_banner();
    }
  }
  ArmIdleTimer();
}

void TcpBannerSession::OnInput() {
  if (blackhole_) {
    input().clear();
    return;
  }
  ArmIdleTimer();
  const pb::Rule& s = match_->spec;
  std::string& in = input();
  while (!closed()) {
    size_t nl = in.find('\n');
    if (nl == std::string::npos && in.size() < kMaxLine) {
      break;
    }
    size_t len = nl == std::string::npos ? kMaxLine : nl + 1;
    std::string line = in.substr(0, len);
    in.erase(0, len);
    match_.Count("lines");
    if (s.has_respond()) {
      match_.Count("responses");
      Send(s.respond());
    }
    if (s.echo()) {
      Send(line);
    }
  }
}

void TlsOnlySession::OnOpen() {
  MatchContext ctx;
  ctx.listener = listener();
  ctx.phase = Phase::kAccept;
  ctx.source = &peer();
  RuleMatch m = host()->Decide(ctx);
  m.Count("connections");
  if (m->spec.reset_on_accept()) {
    m.Count("reset_on_accept");
    Abort(true);
    return;
  }
  if (m->spec.blackhole()) {
    m.Count("blackhole");
    return;  // no handshake; input is read and dropped (not TLS-decoded)
  }
  ArmIdleTimer();
  StartTls();
}

void TlsOnlySession::OnSecure() { ArmIdleTimer(); }

void TlsOnlySession::OnInput() { input().clear(); }

}  // namespace sonde::faultd
