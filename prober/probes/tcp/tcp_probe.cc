#include "prober/probes/tcp/tcp_probe.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checks/registry.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "prober/probes/result_text.h"

namespace sonde::prober {

using FC = v1::FailureClass;

std::string ShownBanner(absl::string_view raw, size_t max) {
  // Trailing line ends are dropped: "SSH-2.0-OpenSSH_9.2", not "...\r\n".
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) {
    raw.remove_suffix(1);
  }
  return SafeText(raw, max);
}

TcpProbe::TcpProbe(const v1::Check& check, ProbeEnv* env)
    : ConnectedProbe(check, env,
                     {check.tcp().host(), static_cast<int>(check.tcp().port()),
                      absl::StrJoin(check.tcp().resolvers(), ",")}) {
  expect_ = common::CompileCheckPattern("tcp.expect_banner", check.tcp().expect_banner(),
                                        &pattern_error_);
}

bool TcpProbe::BeginExchange(FC::Code* fc, std::string* detail) {
  banner_.clear();
  searched_ = 0;
  if (!pattern_error_.empty()) {
    *fc = FC::PROBER_ERROR;
    *detail = pattern_error_;
    return false;
  }
  return true;
}

void TcpProbe::OnConnected() {
  const v1::TcpSpec& t = check().tcp();
  if (!t.send().empty()) {
    ssize_t n = send(fd(), t.send().data(), t.send().size(), MSG_NOSIGNAL);
    if (n < 0) {
      int err = errno;
      return Finish(err == ECONNRESET || err == EPIPE ? FC::TCP_RESET : FC::TCP_UNREACHABLE,
                    absl::StrCat("send: ", strerror(err)));
    }
  }
  if (!expect_) {
    // Written into one buffer kept by the loop thread: no string per run.
    static thread_local std::string detail;
    detail.assign("connected to ");
    common::AppendHostPort(&detail, address(), t.port());
    return Finish(FC::OK, detail);
  }
  (void)env()->loop->AddFd(fd(), EPOLLIN | EPOLLRDHUP, [this](uint32_t) { OnReadable(); });
}

bool TcpProbe::BannerMatches(bool final) {
  // RE2 cannot resume a search, so each search reads the whole banner. A
  // banner stays searched on every read while it is small; past that only
  // once it grew by a quarter, and a last time before a verdict: a target
  // that drips a byte per packet costs linear, not quadratic, time.
  constexpr size_t kAlwaysSearchBytes = 4096;
  if (searched_ == banner_.size() || (!final && banner_.size() > kAlwaysSearchBytes &&
                                      banner_.size() < searched_ + searched_ / 4)) {
    return false;
  }
  searched_ = banner_.size();
  return expect_->Search(banner_);
}

std::string TcpProbe::MatchedDetail() const {
  return absl::StrCat("banner matches: ", ShownBanner(banner_, kExcerptMaxBytes));
}

void TcpProbe::OnReadable() {
  const v1::TcpSpec& t = check().tcp();
  size_t cap = t.max_banner_bytes() > 0 ? t.max_banner_bytes() : 4096;
  char buf[4096];
  while (banner_.size() < cap) {
    ssize_t n = recv(fd(), buf, std::min(sizeof buf, cap - banner_.size()), 0);
    if (n > 0) {
      banner_.append(buf, n);
      continue;  // drain what arrived, then search once
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (BannerMatches(/*final=*/false)) {
        return Finish(FC::OK, MatchedDetail());
      }
      return;  // wait for more
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == ECONNRESET) {
      if (BannerMatches(/*final=*/true)) {
        return Finish(FC::OK, MatchedDetail());  // said its piece, then reset
      }
      return Finish(FC::TCP_RESET,
                    absl::StrCat("connection reset after ", banner_.size(), " banner bytes"));
    }
    // EOF (or another error): the bytes that came with it decide.
    if (BannerMatches(/*final=*/true)) {
      return Finish(FC::OK, MatchedDetail());
    }
    return Finish(FC::BANNER_MISMATCH, absl::StrCat("connection closed; banner \"",
                                                    ShownBanner(banner_, kExcerptMaxBytes),
                                                    "\" does not match /", t.expect_banner(), "/"));
  }
  if (BannerMatches(/*final=*/true)) {
    return Finish(FC::OK, MatchedDetail());
  }
  Finish(FC::BANNER_MISMATCH,
         absl::StrCat("read ", cap, " bytes; banner \"", ShownBanner(banner_, kExcerptMaxBytes),
                      "\" does not match /", t.expect_banner(), "/"));
}

void TcpProbe::AbortExchange(FC::Code* fc, std::string* detail) {
  // The server spoke, but never what was expected: that is a wrong banner,
  // not a silent server.
  if (!banner_.empty() && BannerMatches(/*final=*/true)) {
    *fc = FC::OK;
    *detail = MatchedDetail();
    return;
  }
  if (!banner_.empty()) {
    *fc = FC::BANNER_MISMATCH;
    *detail = absl::StrCat("banner \"", ShownBanner(banner_, kExcerptMaxBytes),
                           "\" does not match /", check().tcp().expect_banner(), "/ (",
                           banner_.size(), " bytes before the check's timeout)");
    return;
  }
  *fc = FC::TIMEOUT;
  *detail = "connected, but the server sent nothing before the check's timeout";
}

void TcpProbe::ReleaseExchange() { result().set_banner(ShownBanner(banner_, kTargetTextMaxBytes)); }

}  // namespace sonde::prober
