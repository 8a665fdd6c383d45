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

namespace sonde::prober {

using FC = v1::FailureClass;

std::string PrintableBanner(const std::string& raw, size_t max) {
  // Trailing line ends are dropped from the raw bytes (not from the escaped
  // text, where a literal backslash-n in the banner would look the same).
  size_t end = raw.size();
  while (end > 0 && (raw[end - 1] == '\n' || raw[end - 1] == '\r')) {
    --end;
  }
  std::string out;
  for (size_t i = 0; i < end && out.size() < max; ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '\r') {
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";  // a literal backslash-n in a banner must not read as a line end
    } else if (absl::ascii_isprint(c)) {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
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
    return Finish(FC::OK,
                  absl::StrCat("connected to ", common::FormatHostPort(address(), t.port())));
  }
  (void)env()->loop->AddFd(fd(), EPOLLIN | EPOLLRDHUP, [this](uint32_t) { OnReadable(); });
}

void TcpProbe::OnReadable() {
  const v1::TcpSpec& t = check().tcp();
  size_t cap = t.max_banner_bytes() > 0 ? t.max_banner_bytes() : 4096;
  char buf[4096];
  while (banner_.size() < cap) {
    ssize_t n = recv(fd(), buf, std::min(sizeof buf, cap - banner_.size()), 0);
    if (n > 0) {
      banner_.append(buf, n);
      if (expect_->Search(banner_)) {
        return Finish(FC::OK, absl::StrCat("banner matches: ", PrintableBanner(banner_, 120)));
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // wait for more
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == ECONNRESET) {
      return Finish(FC::TCP_RESET,
                    absl::StrCat("connection reset after ", banner_.size(), " banner bytes"));
    }
    // EOF (or another error) before the banner matched.
    return Finish(FC::BANNER_MISMATCH,
                  absl::StrCat("connection closed; banner \"", PrintableBanner(banner_, 120),
                               "\" does not match /", t.expect_banner(), "/"));
  }
  Finish(FC::BANNER_MISMATCH,
         absl::StrCat("read ", cap, " bytes; banner \"", PrintableBanner(banner_, 120),
                      "\" does not match /", t.expect_banner(), "/"));
}

void TcpProbe::AbortExchange(FC::Code* fc, std::string* detail) {
  // The server spoke, but never what was expected: that is a wrong banner,
  // not a silent server.
  if (!banner_.empty()) {
    *fc = FC::BANNER_MISMATCH;
    *detail = absl::StrCat("banner \"", PrintableBanner(banner_, 120), "\" does not match /",
                           check().tcp().expect_banner(), "/ (", banner_.size(),
                           " bytes before the check's timeout)");
    return;
  }
  *fc = FC::TIMEOUT;
  *detail = "connected, but the server sent nothing before the check's timeout";
}

void TcpProbe::ReleaseExchange() { result().set_banner(PrintableBanner(banner_, 512)); }

}  // namespace sonde::prober
