// Opening ICMP echo sockets (see echo_socket.h).
#include "prober/probes/icmp/echo_socket.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace sonde::prober::icmp {
namespace {

// Logs the socket kind the first time it is used for a family.
void LogChoiceOnce(Family family, bool raw) {
  static std::atomic<bool> logged[2][2] = {};
  bool expected = false;
  if (!logged[family == Family::kV6][raw].compare_exchange_strong(expected, true)) {
    return;
  }
  const char* proto = family == Family::kV4 ? "ICMP" : "ICMPv6";
  if (raw) {
    spdlog::info(
        "icmp: {} echo uses raw sockets (CAP_NET_RAW): net.ipv4.ping_group_range does not "
        "admit this process's group",
        proto);
  } else {
    spdlog::info("icmp: {} echo uses unprivileged ping sockets (SOCK_DGRAM)", proto);
  }
}

int OpenKind(Family family, bool raw) {
  int domain = family == Family::kV4 ? AF_INET : AF_INET6;
  int proto =
      family == Family::kV4 ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
  return socket(domain, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
}

}  // namespace

absl::StatusOr<IpAddress> ParseIpAddress(const std::string& text) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  if (getaddrinfo(text.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address"));
  }
  IpAddress a;
  memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  a.family = res->ai_family == AF_INET6 ? Family::kV6 : Family::kV4;
  freeaddrinfo(res);
  return a;
}

absl::StatusOr<EchoSocket> EchoSocket::Open(Family family, SocketMode mode,
                                            const std::string& source_address) {
  int fd = -1;
  bool raw = false;
  int ping_errno = 0;
  if (mode != SocketMode::kRaw) {
    fd = OpenKind(family, false);
    ping_errno = fd < 0 ? errno : 0;
  }
  if (fd < 0 && mode != SocketMode::kPing) {
    fd = OpenKind(family, true);
    raw = true;
    if (fd < 0) {
      int raw_errno = errno;
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot open an ICMP socket: ",
          mode == SocketMode::kAuto ? absl::StrCat("ping socket: ", strerror(ping_errno),
                                                   " (net.ipv4.ping_group_range); ")
                                    : "",
          "raw socket: ", strerror(raw_errno), " (needs CAP_NET_RAW)"));
    }
  }
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot open an ICMP ping socket: ", strerror(ping_errno), " (net.ipv4.ping_group_range)"));
  }
  EchoSocket s(fd, raw, family);
  if (!raw) {
    // ICMP errors (destination unreachable) reach a ping socket only
    // through its error queue.
    int one = 1;
    if (family == Family::kV4) {
      setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
    }
  }
  if (!source_address.empty()) {
    auto src = ParseIpAddress(source_address);
    if (src.ok() && src->family == family &&
        bind(fd, reinterpret_cast<const sockaddr*>(&src->storage), src->len) != 0) {
      return absl::InternalError(
          absl::StrCat("bind to source address ", source_address, ": ", strerror(errno)));
    }
  }
  LogChoiceOnce(family, raw);
  return s;
}

EchoSocket::EchoSocket(EchoSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), raw_(other.raw_), family_(other.family_) {}

EchoSocket& EchoSocket::operator=(EchoSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    raw_ = other.raw_;
    family_ = other.family_;
  }
  return *this;
}

EchoSocket::~EchoSocket() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

}  // namespace sonde::prober::icmp
