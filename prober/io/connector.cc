#include "prober/io/connector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/code_table.h"
#include "common/net.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/spare_pool.h"

namespace sonde::prober {

using FC = v1::FailureClass;

FC::Code ClassifyConnectErrno(int err) {
  static constexpr common::CodeRow<FC::Code> kClasses[] = {{0, FC::OK},
                                                           {ECONNREFUSED, FC::TCP_REFUSED},
                                                           {ETIMEDOUT, FC::TCP_TIMEOUT},
                                                           {ECONNRESET, FC::TCP_RESET}};
  // ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL and
  // whatever else kept the connection from being made.
  return common::ValueOfCode(err, kClasses, FC::TCP_UNREACHABLE);
}

namespace {
bool FillSockaddr(const std::string& ip, int port, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return true;
  }
  return false;
}

uint32_t MicrosSince(const common::EventLoop& loop, common::EventLoop::MonoTime t) {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(loop.Now() - t).count());
}
}  // namespace

void Connector::Connect(const std::string& host, int port, const std::string& resolvers,
                        common::EventLoop::MonoTime deadline, bool connect_only, Callback cb) {
  Cancel();
  // A finished run's state (of any Connector) that no callback holds any
  // more: no allocation per run, and none kept per check (spare_pool.h).
  std::shared_ptr<State> s = SparePool<State>::Take();
  *s = State();
  s->cb = std::move(cb);
  s->connect_only = connect_only;
  s->port = port;
  state_ = s;
  if (FillSockaddr(host, port, &s->addr, &s->addr_len)) {
    // Nothing to resolve (and so no rcode): connect now, without a trip
    // through the resolver and the loop's queue. A connect that ends at once
    // calls back from the loop (Finish), never inside Connect().
    s->resolving = false;
    s->conn.address = host;
    s->starting = true;
    StartConnect(s);
    s->starting = false;
    return;
  }
  auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - env_->loop->Now());
  env_->resolver->ResolveHost(host, resolvers, std::max(remaining, std::chrono::milliseconds(1)),
                              [this, s, host](DnsResolver::HostAnswer a) {
                                if (s->cancelled) {
                                  return;
                                }
                                s->resolving = false;
                                s->conn.dns_us = static_cast<uint32_t>(a.elapsed.count());
                                s->conn.rcode = a.rcode;
                                s->conn.address =
                                    env_->resolver->AddressToTry(host, a, &s->conn.fallback);
                                if (s->conn.address.empty()) {
                                  s->conn.failure_class = a.failure_class;
                                  s->conn.detail = a.detail;
                                  Finish(s);
                                  return;
                                }
                                StartConnect(s);
                              });
}

void Connector::StartConnect(std::shared_ptr<State> s) {
  const sockaddr_storage& ss = s->addr;
  const socklen_t& len = s->addr_len;
  auto fail = [&](FC::Code fc, std::string detail) {
    s->conn.failure_class = fc;
    s->conn.detail = std::move(detail);
    Finish(s);
  };
  if (absl::Status allowed = CheckProbePolicy(*env_, s->conn.address); !allowed.ok()) {
    return fail(FC::PROBER_POLICY, std::string(allowed.message()));
  }
  if (len == 0 && !FillSockaddr(s->conn.address, s->port, &s->addr, &s->addr_len)) {
    return fail(FC::PROBER_ERROR, absl::StrCat("bad address ", s->conn.address));
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    return fail(FC::PROBER_ERROR, absl::StrCat("socket: ", strerror(errno)));
  }
  s->fd = fd;
  if (!s->connect_only) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (!env_->source_address.empty()) {
    sockaddr_storage src;
    socklen_t src_len;
    if (FillSockaddr(env_->source_address, 0, &src, &src_len) && src.ss_family == ss.ss_family &&
        bind(fd, reinterpret_cast<sockaddr*>(&src), src_len) != 0) {
      return fail(FC::PROBER_ERROR, absl::StrCat("bind to source address ", env_->source_address,
                                                 ": ", strerror(errno)));
    }
  }
  s->connect_start = env_->loop->Now();
  if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0) {
    s->conn.connect_us = MicrosSince(*env_->loop, s->connect_start);
    return Finish(s);
  }
  if (errno != EINPROGRESS) {
    int err = errno;
    return fail(ClassifyConnectErrno(err),
                absl::StrCat("connect to ", common::FormatHostPort(s->conn.address, s->port), ": ",
                             strerror(err)));
  }
  // Two words captured (std::function's inline storage, no allocation): a
  // registered socket belongs to state_, since Cancel() closes it.
  (void)env_->loop->AddFd(fd, EPOLLOUT, [this, fd](uint32_t) {
    std::shared_ptr<State> s = state_;
    if (s == nullptr || s->fd != fd) {
      env_->loop->RemoveFd(fd);  // not reached: Cancel() closes the socket
      return;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (s->connect_only) {
      env_->loop->CloseFd(s->fd);  // its job is done; no EPOLL_CTL_DEL first
      s->fd = -1;
    } else {
      env_->loop->RemoveFd(s->fd);
    }
    s->conn.connect_us = MicrosSince(*env_->loop, s->connect_start);
    if (err != 0) {
      s->conn.failure_class = ClassifyConnectErrno(err);
      s->conn.detail = absl::StrCat("connect to ", common::FormatHostPort(s->conn.address, s->port),
                                    ": ", strerror(err));
    }
    Finish(s);
  });
}

void Connector::Finish(std::shared_ptr<State> s) {
  if (s->starting) {  // inside Connect(): call back from the loop instead
    env_->loop->Post([this, s] {
      if (!s->cancelled) {
        Finish(s);
      }
    });
    return;
  }
  if (s->conn.failure_class == FC::OK && !s->connect_only) {
    s->conn.fd = s->fd;
  } else if (s->fd >= 0) {
    close(s->fd);
  }
  s->fd = -1;
  s->cancelled = true;  // no second callback
  if (state_ == s) {
    state_.reset();
  }
  Callback cb = std::move(s->cb);
  cb(std::move(s->conn));
  // `this` may be gone now (the callback may end the probe); `s` is ours.
  SparePool<State>::Give(std::move(s));
}

void Connector::Cancel() {
  if (state_ == nullptr) {
    return;
  }
  state_->cancelled = true;
  if (state_->fd >= 0) {
    env_->loop->CloseFd(state_->fd);
    state_->fd = -1;
  }
  state_->cb = nullptr;
  SparePool<State>::Give(std::move(state_));  // leaves state_ null
}

}  // namespace sonde::prober
