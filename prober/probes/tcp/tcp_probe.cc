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
    : check_(check), env_(env), connector_(env) {
  if (!check_.tcp().expect_banner().empty()) {
    expect_.emplace(check_.tcp().expect_banner());
  }
}

TcpProbe::~TcpProbe() {
  active_ = false;
  CloseFd();
}

void TcpProbe::CloseFd() {
  if (fd_ >= 0) {
    env_->loop->RemoveFd(fd_);
    close(fd_);
    fd_ = -1;
  }
}

void TcpProbe::Run(common::EventLoop::MonoTime deadline, Done done) {
  active_ = true;
  done_ = std::move(done);
  banner_.clear();
  result_.Clear();
  conn_ = Connection{};
  start_ = common::EventLoop::Now();
  const v1::TcpSpec& t = check_.tcp();
  result_.set_target(checks::TargetOf(check_));
  connector_.Connect(t.host(), t.port(), absl::StrJoin(t.resolvers(), ","), deadline,
                     [this](Connection c) { OnConnected(std::move(c)); });
}

void TcpProbe::OnConnected(Connection c) {
  conn_ = c;
  result_.set_dns_us(c.dns_us);
  result_.set_connect_us(c.connect_us);
  result_.set_resolved_address(c.address);
  result_.set_dns_rcode(c.rcode);
  if (c.failure_class != FC::OK) {
    return Finish(c.failure_class, c.detail);
  }
  fd_ = c.fd;
  const v1::TcpSpec& t = check_.tcp();
  if (!t.send().empty()) {
    ssize_t n = send(fd_, t.send().data(), t.send().size(), MSG_NOSIGNAL);
    if (n < 0) {
      int err = errno;
      return Finish(err == ECONNRESET || err == EPIPE ? FC::TCP_RESET : FC::TCP_UNREACHABLE,
                    absl::StrCat("send: ", strerror(err)));
    }
  }
  if (!expect_) {
    return Finish(FC::OK,
                  absl::StrCat("connected to ", common::FormatHostPort(c.address, t.port())));
  }
  (void)env_->loop->AddFd(fd_, EPOLLIN | EPOLLRDHUP, [this](uint32_t) { OnReadable(); });
}

void TcpProbe::OnReadable() {
  size_t cap = check_.tcp().max_banner_bytes() > 0 ? check_.tcp().max_banner_bytes() : 4096;
  char buf[4096];
  while (banner_.size() < cap) {
    ssize_t n = recv(fd_, buf, std::min(sizeof buf, cap - banner_.size()), 0);
    if (n > 0) {
      banner_.append(buf, n);
      if (std::regex_search(banner_, *expect_)) {
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
                               "\" does not match /", check_.tcp().expect_banner(), "/"));
  }
  Finish(FC::BANNER_MISMATCH,
         absl::StrCat("read ", cap, " bytes; banner \"", PrintableBanner(banner_, 120),
                      "\" does not match /", check_.tcp().expect_banner(), "/"));
}

void TcpProbe::Abort() {
  if (!active_) {
    return;
  }
  if (connector_.resolving()) {
    connector_.Cancel();
    return Finish(FC::DNS_TIMEOUT, absl::StrCat("resolving ", check_.tcp().host(),
                                                ": no answer before the check's timeout"));
  }
  if (fd_ < 0) {
    connector_.Cancel();
    return Finish(FC::TCP_TIMEOUT, absl::StrCat("connect to ", result_.target(),
                                                ": no answer before the check's timeout"));
  }
  // The server spoke, but never what was expected: that is a wrong banner,
  // not a silent server.
  if (!banner_.empty()) {
    return Finish(FC::BANNER_MISMATCH,
                  absl::StrCat("banner \"", PrintableBanner(banner_, 120), "\" does not match /",
                               check_.tcp().expect_banner(), "/ (", banner_.size(),
                               " bytes before the check's timeout)"));
  }
  Finish(FC::TIMEOUT, "connected, but the server sent nothing before the check's timeout");
}

void TcpProbe::Finish(FC::Code fc, std::string detail) {
  if (!active_) {
    return;
  }
  active_ = false;
  CloseFd();
  result_.set_banner(PrintableBanner(banner_, 512));
  result_.set_total_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(common::EventLoop::Now() - start_)
          .count()));
  SetOutcome(conn_.fallback, fc, std::move(detail), /*http_status=*/0, &result_);
  Done done = std::move(done_);
  std::vector<v1::ProbeResult> results;  // moved, not copied: Run() clears result_
  results.push_back(std::move(result_));
  done(std::move(results));
}

}  // namespace sonde::prober
