// The DNS listener's UDP endpoint and TCP sessions (see dns_endpoints.h).
// Loop thread only.
#include "tests/faultd/dns_endpoints.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "spdlog/spdlog.h"
#include "tests/faultd/dns_message.h"

namespace sonde::faultd {
namespace {
constexpr int kMaxDatagramsPerEvent = 64;
}  // namespace

void CountDnsReply(SessionHost* host, const RuleSet& rules, const DnsReply& reply) {
  for (const std::string& c : reply.counters) {
    host->counters().Add(ListenerKind::kDns, rules.generation(), reply.rule->index, c);
  }
}

DnsUdpEndpoint::DnsUdpEndpoint(SessionHost* host, UniqueFd fd, size_t max_pending)
    : host_(host), fd_(std::move(fd)), max_pending_(max_pending) {}

DnsUdpEndpoint::~DnsUdpEndpoint() {
  *alive_ = false;
  if (registered_) {
    host_->loop().RemoveFd(fd_.get());
  }
}

absl::Status DnsUdpEndpoint::Start() {
  absl::Status s = host_->loop().AddFd(fd_.get(), EPOLLIN, [this](uint32_t) { OnReadable(); });
  if (s.ok()) {
    registered_ = true;
  }
  return s;
}

void DnsUdpEndpoint::OnReadable() {
  // One buffer larger than any DNS message, so nothing is silently cut.
  static thread_local char buf[dns::kMaxMessageSize + 1];
  for (int i = 0; i < kMaxDatagramsPerEvent; ++i) {
    SocketAddress from;
    from.len = sizeof from.storage;
    ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, 0, from.sa(), &from.len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;  // EAGAIN, or an ICMP error from an earlier reply: nothing to do
    }
    std::shared_ptr<const RuleSet> rules = host_->CurrentRules();
    DnsReply reply = AnswerDnsQuery(absl::string_view(buf, n), false, &from, *rules);
    if (reply.send && reply.delay_ms > 0 && pending_ >= max_pending_) {
      reply.send = false;
      reply.counters.push_back("overload_dropped");
    }
    CountDnsReply(host_, *rules, reply);
    if (!reply.send) {
      continue;
    }
    if (reply.delay_ms == 0) {
      sendto(fd_.get(), reply.wire.data(), reply.wire.size(), 0, from.sa(), from.len);
      continue;
    }
    ++pending_;
    host_->loop().RunAfter(std::chrono::milliseconds(reply.delay_ms),
                           [this, alive = alive_, from, wire = std::move(reply.wire)] {
                             if (!*alive) {
                               return;
                             }
                             --pending_;
                             sendto(fd_.get(), wire.data(), wire.size(), 0, from.sa(), from.len);
                           });
  }
}

void DnsTcpSession::OnOpen() {
  CountListener("tcp_connections");
  ArmIdleTimer();
}

void DnsTcpSession::OnInput() {
  ArmIdleTimer();
  std::string& in = input();
  while (!closed() && in.size() >= 2) {
    size_t len =
        (static_cast<size_t>(static_cast<uint8_t>(in[0])) << 8) | static_cast<uint8_t>(in[1]);
    if (len == 0) {
      CountListener("malformed_dropped");
      Abort(false);
      return;
    }
    if (in.size() < 2 + len) {
      break;
    }
    std::string query = in.substr(2, len);
    in.erase(0, 2 + len);
    std::shared_ptr<const RuleSet> rules = host()->CurrentRules();
    DnsReply reply = AnswerDnsQuery(query, true, &peer(), *rules);
    CountDnsReply(host(), *rules, reply);
    if (!reply.send) {
      continue;
    }
    std::string framed;
    framed.push_back(static_cast<char>(reply.wire.size() >> 8));
    framed.push_back(static_cast<char>(reply.wire.size() & 0xFF));
    framed += reply.wire;
    if (reply.delay_ms == 0) {
      Send(framed);
    } else {
      ++delayed_replies_;
      After(std::chrono::milliseconds(reply.delay_ms), [this, framed] {
        --delayed_replies_;
        Send(framed);
        if (peer_closed_) {
          CloseWhenAnswered();
        }
      });
    }
  }
}

void DnsTcpSession::OnPeerClosed() {
  peer_closed_ = true;
  CloseWhenAnswered();
}

void DnsTcpSession::CloseWhenAnswered() {
  if (delayed_replies_ == 0) {
    CloseAfterFlush();
  }
}

}  // namespace sonde::faultd
