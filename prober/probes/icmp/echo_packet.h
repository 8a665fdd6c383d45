// ICMP and ICMPv6 echo messages on the wire: the echo request the ICMP probe
// sends and the decoding of what comes back (an echo reply, or a destination
// unreachable error that quotes one of our requests). Pure functions, no
// I/O; any thread.
#ifndef SONDE_PROBER_PROBES_ICMP_ECHO_PACKET_H_
#define SONDE_PROBER_PROBES_ICMP_ECHO_PACKET_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace sonde::prober::icmp {

enum class Family { kV4, kV6 };

// An echo request: type 8 (ICMP) or 128 (ICMPv6), code 0, `id`, `seq` and
// `payload_bytes` of filler. The ICMP checksum is filled in; ICMPv6's is
// left 0 (the kernel computes it over the pseudo header).
std::string EncodeEchoRequest(Family family, uint16_t id, uint16_t seq, size_t payload_bytes);

struct EchoMessage {
  enum class Kind {
    kOther,        // not ours to read (another type, truncated, ...)
    kReply,        // an echo reply
    kUnreachable,  // a destination unreachable error quoting an echo request
  };
  Kind kind = Kind::kOther;
  uint16_t id = 0;  // of the reply, or of the quoted request
  uint16_t seq = 0;
  uint8_t code = 0;  // the unreachable code (net, host, port, admin, ...)
};

// Decodes one received datagram. `with_ip_header`: the buffer starts with
// the IPv4 header (raw IPv4 sockets); ping sockets and ICMPv6 sockets hand
// over the ICMP message alone.
EchoMessage DecodeEchoMessage(Family family, const uint8_t* data, size_t len, bool with_ip_header);

// "host unreachable", "network unreachable", ... for an unreachable code.
std::string UnreachableCodeName(Family family, uint8_t code);

}  // namespace sonde::prober::icmp

#endif  // SONDE_PROBER_PROBES_ICMP_ECHO_PACKET_H_
