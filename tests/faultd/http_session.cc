// HttpSession: one HTTP(S) connection on the loop (see http_session.h).
#include "tests/faultd/http_session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sonde::faultd {
namespace {

constexpr size_t kBodyChunk = 16 * 1024;
constexpr uint64_t kBodyBudgetPerPump = 1024 * 1024;
constexpr size_t kMaxQueuedOutput = 256 * 1024;
constexpr std::chrono::milliseconds kTrickleTick(50);
constexpr absl::string_view kInjectedFailureBody = "sonde-faultd: injected failure\n";

bool HasHeader(const pb::Rule& spec, absl::string_view name) {
  for (const auto& [n, v] : spec.headers()) {
    if (absl::EqualsIgnoreCase(n, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void HttpSession::OnOpen() {
  // Room for one whole request (head + body) plus a pipelined head.
  const HttpLimits& http = host()->limits().http;
  set_max_input(std::max<size_t>(256 * 1024, http.max_body_bytes + 2 * http.max_head_bytes));
  if (listener() == ListenerKind::kControl) {
    CountListener("connections");
    ArmIdleTimer();
    return;
  }
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
  ArmIdleTimer();
  if (listener() == ListenerKind::kHttps) {
    StartTls();
  }
}

void HttpSession::OnSecure() { ArmIdleTimer(); }

void HttpSession::OnInput() {
  if (state_ == State::kBlackhole) {
    input().clear();
    return;
  }
  ProcessInput();
}

void HttpSession::OnPeerClosed() {
  if (state_ == State::kResponding) {
    keep_alive_ = false;  // half-closed client: finish this response, then close
    return;
  }
  Abort(false);
}

void HttpSession::OnOutputDrained() {
  if (body_active_ && body_.bytes_per_second == 0) {
    PumpBody();
  }
}

void HttpSession::ProcessInput() {
  if (processing_) {
    return;
  }
  processing_ = true;
  while (!closed() && (state_ == State::kReadingHead || state_ == State::kReadingBody)) {
    if (state_ == State::kReadingHead) {
      if (input().empty()) {
        break;
      }
      HeadParse p = ParseRequestHead(input(), host()->limits().http, &scanned_);
      if (p.state == HeadParse::State::kIncomplete) {
        break;
      }
      if (p.state == HeadParse::State::kError) {
        CountListener("bad_requests");
        SendError(p.error_status, p.error);
        break;
      }
      request_ = std::move(p.request);
      input().erase(0, p.head_bytes);
      scanned_ = 0;
      continue_sent_ = false;
      if (request_.content_length == 0) {
        Dispatch();
      } else {
        state_ = State::kReadingBody;
      }
      continue;
    }
    if (input().size() < request_.content_length) {
      if (request_.expect_continue && !continue_sent_) {
        continue_sent_ = true;
        Send("HTTP/1.1 100 Continue\r\n\r\n");
      }
      break;
    }
    request_.body = input().substr(0, request_.content_length);
    input().erase(0, request_.content_length);
    Dispatch();
  }
  processing_ = false;
}

void HttpSession::Dispatch() {
  DisarmIdleTimer();
  state_ = State::kResponding;
  keep_alive_ = request_.keep_alive;
  if (listener() == ListenerKind::kControl) {
    CountListener("requests");
    ControlResponse r = host()->HandleControl(request_);
    SendSimple(r.status, r.content_type, r.body, "");
    FinishResponse();
    return;
  }
  HandleFaultRequest();
}

void HttpSession::HandleFaultRequest() {
  MatchContext ctx;
  ctx.listener = listener();
  ctx.phase = Phase::kRequest;
  ctx.source = &peer();
  ctx.path = request_.path;
  if (const std::string* h = request_.Header("host")) {
    ctx.host = *h;
  }
  if (tls()) {
    ctx.sni = sni() ? absl::string_view(*sni()) : absl::string_view();
  }
  RuleMatch m = host()->Decide(ctx);
  const pb::Rule& s = m->spec;
  m.Count("requests");
  if (s.reset()) {
    m.Count("reset");
    Abort(true);
    return;
  }
  if (s.close()) {
    m.Count("close");
    Abort(false);
    return;
  }
  if (s.blackhole()) {
    m.Count("blackhole");
    state_ = State::kBlackhole;
    input().clear();
    return;
  }

  std::optional<uint64_t> seed;
  if (s.has_fail_seed()) {
    seed = s.fail_seed();
  }
  bool failing = s.has_fail_share() && m.NextRequestFails(s.fail_share(), seed);
  int status = failing ? m->fail_status() : m->status();
  std::string location;
  if (!failing && s.has_redirect()) {
    location = s.redirect();
    if (!(s.has_status() && status >= 300 && status < 400)) {
      status = 302;
    }
  }
  m.Count(absl::StrCat("status_", status));
  if (failing) {
    m.Count("injected_failures");
  }

  body_ = BodyPlan();
  if (failing) {
    body_.pattern = std::string(kInjectedFailureBody);
    body_.total = body_.pattern.size();
  } else {
    body_.pattern = m->body();
    if (s.endless_body()) {
      body_.endless = true;
    } else if (s.has_body_bytes()) {
      body_.total = s.body_bytes();
    } else {
      body_.total = body_.pattern.size();
    }
    if (body_.pattern.empty()) {
      body_.pattern = "x";
    }
  }
  body_.bytes_per_second = s.trickle_bps();
  body_.delay_ms = s.delay_body_ms();
  bool no_body = request_.method == "HEAD" || status == 204 || status == 304;
  if (body_.endless) {
    if (request_.minor_version >= 1) {
      body_.chunked = true;
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends when the connection does
    }
  }

  std::string head = absl::StrCat("HTTP/1.", request_.minor_version, " ", status, " ",
                                  ReasonPhrase(status), "\r\nServer: sonde-faultd\r\n");
  if (!HasHeader(s, "content-type")) {
    absl::StrAppend(&head, "Content-Type: text/plain; charset=utf-8\r\n");
  }
  if (!location.empty()) {
    absl::StrAppend(&head, "Location: ", location, "\r\n");
  }
  // A rule may set Content-Length or Transfer-Encoding itself (to produce a
  // broken response on purpose); then faultd adds neither.
  if (!HasHeader(s, "content-length") && !HasHeader(s, "transfer-encoding") && status != 204 &&
      status != 304) {
    if (body_.chunked) {
      absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n");
    } else if (!body_.endless) {
      absl::StrAppend(&head, "Content-Length: ", body_.total, "\r\n");
    }
  }
  absl::StrAppend(&head, "Connection: ", keep_alive_ ? "keep-alive" : "close", "\r\n");
  for (const auto& [name, value] : s.headers()) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head, "\r\n");
  if (no_body) {
    body_.total = 0;
    body_.endless = false;
    body_.chunked = false;
  }

  auto send_head = [this, head = std::move(head)] {
    Send(head);
    StartBody();
  };
  if (s.delay_headers_ms() > 0) {
    After(std::chrono::milliseconds(s.delay_headers_ms()), std::move(send_head));
  } else {
    send_head();
  }
}

void HttpSession::StartBody() {
  if (closed()) {
    return;
  }
  if (body_.total == 0 && !body_.endless) {
    FinishResponse();
    return;
  }
  body_active_ = true;
  auto begin = [this] {
    body_.started = Clock::now();
    PumpBody();
  };
  if (body_.delay_ms > 0) {
    After(std::chrono::milliseconds(body_.delay_ms), begin);
  } else {
    begin();
  }
}

void HttpSession::PumpBody() {
  if (closed() || !body_active_) {
    return;
  }
  uint64_t budget = kBodyBudgetPerPump;
  if (body_.bytes_per_second > 0) {
    double elapsed = std::chrono::duration<double>(Clock::now() - body_.started).count();
    uint64_t allowed = static_cast<uint64_t>(elapsed * body_.bytes_per_second);
    budget = allowed > body_.sent ? std::min(budget, allowed - body_.sent) : 0;
  }
  // A tile of the pattern long enough to cut any chunk from any offset.
  const std::string& pattern = body_.pattern;
  std::string tile;
  while (budget > 0 && (body_.endless || body_.sent < body_.total) &&
         output_pending() < kMaxQueuedOutput) {
    uint64_t n = std::min<uint64_t>(kBodyChunk, budget);
    if (!body_.endless) {
      n = std::min<uint64_t>(n, body_.total - body_.sent);
    }
    if (tile.empty()) {
      while (tile.size() < kBodyChunk + pattern.size()) {
        tile += pattern;
      }
    }
    absl::string_view chunk(tile.data() + body_.sent % pattern.size(), n);
    if (body_.chunked) {
      Send(absl::StrCat(absl::Hex(n), "\r\n", chunk, "\r\n"));
    } else {
      Send(chunk);
    }
    if (closed()) {
      return;
    }
    body_.sent += n;
    budget -= n;
  }
  if (!body_.endless && body_.sent >= body_.total) {
    body_active_ = false;
    SetOutputHungry(false);
    FinishResponse();
    return;
  }
  if (body_.bytes_per_second > 0) {
    SetOutputHungry(false);
    if (body_.tick == 0) {
      body_.tick = After(kTrickleTick, [this] {
        body_.tick = 0;
        PumpBody();
      });
    }
  } else {
    SetOutputHungry(true);
  }
}

void HttpSession::FinishResponse() {
  body_active_ = false;
  SetOutputHungry(false);
  if (closed()) {
    return;
  }
  if (!keep_alive_) {
    CloseAfterFlush();
    return;
  }
  state_ = State::kReadingHead;
  request_ = HttpRequest();
  ArmIdleTimer();
  if (!processing_) {
    ProcessInput();
  }
}

void HttpSession::SendError(int status, const std::string& why) {
  keep_alive_ = false;
  state_ = State::kResponding;
  SendSimple(status, "text/plain; charset=utf-8", why + "\n", "");
  FinishResponse();
}

void HttpSession::SendSimple(int status, const std::string& content_type, const std::string& body,
                             const std::string& extra_headers) {
  std::string out = absl::StrCat(
      "HTTP/1.", request_.minor_version, " ", status, " ", ReasonPhrase(status),
      "\r\nServer: sonde-faultd\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(), "\r\nConnection: ", keep_alive_ ? "keep-alive" : "close",
      "\r\n", extra_headers, "\r\n");
  if (request_.method != "HEAD") {
    out += body;
  }
  Send(out);
}

}  // namespace sonde::faultd
