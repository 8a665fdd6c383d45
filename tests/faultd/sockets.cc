// Loopback-only socket helpers (see sockets.h).
#include "tests/faultd/sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sonde::faultd {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) {
    close(fd_);
  }
  fd_ = fd;
}

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

int SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

void SocketAddress::set_port(int port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

std::string SocketAddress::ip() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  } else if (family() == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    }
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) {
    return absl::StrCat("[", ip(), "]:", port());
  }
  return absl::StrCat(ip(), ":", port());
}

bool IsLoopback(const SocketAddress& addr) {
  if (addr.family() == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (addr.family() == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a6)) {
      return true;
    }
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

absl::StatusOr<SocketAddress> ParseListenAddress(absl::string_view text) {
  std::string host = "127.0.0.1";
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": expected [IPv6]:PORT"));
    }
    host = std::string(text.substr(1, close - 1));
    port_text = std::string(text.substr(close + 2));
  } else if (size_t colon = text.rfind(':'); colon != absl::string_view::npos) {
    if (text.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": put IPv6 addresses in brackets: [::1]:PORT"));
    }
    host = std::string(text.substr(0, colon));
    port_text = std::string(text.substr(colon + 1));
  } else {
    port_text = std::string(text);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": port must be 0..65535 (0 picks a free port)"));
  }
  SocketAddress addr;
  auto* in4 = reinterpret_cast<sockaddr_in*>(&addr.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr.storage);
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    addr.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    addr.len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": host must be an IP literal or localhost"));
  }
  if (!IsLoopback(addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": faultd listens on loopback only (127.0.0.0/8 or [::1])"));
  }
  return addr;
}

namespace {
absl::StatusOr<UniqueFd> NewSocket(int family, int type) {
  UniqueFd fd(socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return ErrnoStatus("socket");
  }
  return fd;
}
}  // namespace

absl::StatusOr<UniqueFd> ListenTcp(const SocketAddress& addr, int backlog) {
  auto fd = NewSocket(addr.family(), SOCK_STREAM);
  if (!fd.ok()) {
    return fd.status();
  }
  int one = 1;
  setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.family() == AF_INET6) {
    setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(fd->get(), addr.sa(), addr.len) != 0) {
    return ErrnoStatus(absl::StrCat("bind tcp ", addr.ToString()));
  }
  if (listen(fd->get(), backlog) != 0) {
    return ErrnoStatus(absl::StrCat("listen ", addr.ToString()));
  }
  return fd;
}

absl::StatusOr<UniqueFd> BindUdp(const SocketAddress& addr) {
  auto fd = NewSocket(addr.family(), SOCK_DGRAM);
  if (!fd.ok()) {
    return fd.status();
  }
  if (addr.family() == AF_INET6) {
    int one = 1;
    setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(fd->get(), addr.sa(), addr.len) != 0) {
    return ErrnoStatus(absl::StrCat("bind udp ", addr.ToString()));
  }
  return fd;
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  SocketAddress addr;
  addr.len = sizeof addr.storage;
  if (getsockname(fd, addr.sa(), &addr.len) != 0) {
    return ErrnoStatus("getsockname");
  }
  return addr;
}

void SetLingerZero(int fd) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

}  // namespace sonde::faultd
