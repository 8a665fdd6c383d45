// EchoSocket: one non-blocking ICMP or ICMPv6 socket for echo requests, and
// the choice of its kind. An unprivileged ping socket (SOCK_DGRAM with
// IPPROTO_ICMP/IPPROTO_ICMPV6) is used where net.ipv4.ping_group_range
// admits the process's group; otherwise a raw socket, which needs
// CAP_NET_RAW. The kind used is logged once per process and family.
//
// With a ping socket the kernel owns the echo identifier (it rewrites ours
// and hands the socket only its own replies) and reports ICMP errors through
// the error queue (IP_RECVERR); with a raw socket every ICMP message arrives,
// IPv4 ones with their IP header, and the identifier is ours to filter on.
//
// Owns its descriptor (closed on destruction); move-only. Used by one
// IcmpProbe on the loop thread; Open() never blocks.
#ifndef SONDE_PROBER_PROBES_ICMP_ECHO_SOCKET_H_
#define SONDE_PROBER_PROBES_ICMP_ECHO_SOCKET_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "prober/probes/icmp/echo_packet.h"

namespace sonde::prober::icmp {

enum class SocketMode {
  kAuto,  // ping socket if allowed, else raw
  kPing,  // ping socket only
  kRaw,   // raw socket only
};

// A numeric IP address with its family; port 0.
struct IpAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  Family family = Family::kV4;
};
// "127.0.0.1", "::1"; an error for anything else (no name lookups).
absl::StatusOr<IpAddress> ParseIpAddress(const std::string& text);

class EchoSocket {
 public:
  // Opens a socket for `family`; binds it to `source_address` when that is
  // non-empty and of the same family. Errors name what was tried.
  static absl::StatusOr<EchoSocket> Open(Family family, SocketMode mode,
                                         const std::string& source_address);
  EchoSocket(EchoSocket&& other) noexcept;
  EchoSocket& operator=(EchoSocket&& other) noexcept;
  EchoSocket(const EchoSocket&) = delete;
  EchoSocket& operator=(const EchoSocket&) = delete;
  ~EchoSocket();

  int fd() const { return fd_; }
  bool raw() const { return raw_; }
  Family family() const { return family_; }

 private:
  EchoSocket(int fd, bool raw, Family family) : fd_(fd), raw_(raw), family_(family) {}
  int fd_ = -1;
  bool raw_ = false;
  Family family_ = Family::kV4;
};

}  // namespace sonde::prober::icmp

#endif  // SONDE_PROBER_PROBES_ICMP_ECHO_SOCKET_H_
