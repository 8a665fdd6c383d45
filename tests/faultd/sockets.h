// Socket plumbing for faultd: an owning file descriptor, a socket address
// value type, and helpers that bind loopback-only listeners. faultd must never
// listen beyond loopback, so ParseListenAddress() refuses anything that is not
// 127.0.0.0/8 or ::1 (wildcards included). Pure functions and value types;
// any thread.
#ifndef SONDE_TESTS_FAULTD_SOCKETS_H_
#define SONDE_TESTS_FAULTD_SOCKETS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sonde::faultd {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset(other.Release());
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An IPv4 or IPv6 socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
  int port() const;
  void set_port(int port);
  // The address without port: "127.0.0.3", "::1". IPv4-mapped IPv6
  // addresses are shown as IPv4.
  std::string ip() const;
  // "127.0.0.1:53", "[::1]:53".
  std::string ToString() const;
};

// "127.0.0.1:8080", "[::1]:0", "localhost:0" or a bare port "8080" (meaning
// 127.0.0.1). Only loopback addresses are accepted; port 0 picks a free one.
absl::StatusOr<SocketAddress> ParseListenAddress(absl::string_view text);

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopback(const SocketAddress& addr);

// A non-blocking, close-on-exec TCP listener with SO_REUSEADDR.
absl::StatusOr<UniqueFd> ListenTcp(const SocketAddress& addr, int backlog);
// A non-blocking, close-on-exec UDP socket bound to `addr`.
absl::StatusOr<UniqueFd> BindUdp(const SocketAddress& addr);
// The address a socket is bound to (getsockname).
absl::StatusOr<SocketAddress> LocalAddress(int fd);

// Makes close() send RST instead of FIN (SO_LINGER with a zero timeout).
void SetLingerZero(int fd);

absl::Status ErrnoStatus(absl::string_view what);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_SOCKETS_H_
