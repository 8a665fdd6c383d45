// ICMP/ICMPv6 echo encoding and decoding (see echo_packet.h).
#include "prober/probes/icmp/echo_packet.h"

namespace sonde::prober::icmp {
namespace {

constexpr uint8_t kEchoRequest4 = 8;
constexpr uint8_t kEchoReply4 = 0;
constexpr uint8_t kUnreachable4 = 3;
constexpr uint8_t kEchoRequest6 = 128;
constexpr uint8_t kEchoReply6 = 129;
constexpr uint8_t kUnreachable6 = 1;
constexpr size_t kIcmpHeader = 8;  // type, code, checksum, id, seq
constexpr size_t kIpv6Header = 40;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmp6 = 58;

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

void Put16(std::string* s, size_t at, uint16_t v) {
  (*s)[at] = static_cast<char>(v >> 8);
  (*s)[at + 1] = static_cast<char>(v & 0xFF);
}

// The Internet checksum (RFC 1071) over `data`.
uint16_t Checksum(const std::string& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < data.size(); i += 2) {
    sum += static_cast<uint32_t>(static_cast<uint8_t>(data[i]) << 8 |
                                 static_cast<uint8_t>(data[i + 1]));
  }
  if (data.size() % 2 == 1) {
    sum += static_cast<uint32_t>(static_cast<uint8_t>(data.back()) << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xFFFF) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

// Skips an IPv4 header; nullptr when it is not one (or not `proto`).
const uint8_t* SkipIpv4(const uint8_t* data, size_t* len, uint8_t proto) {
  if (*len < 20 || (data[0] >> 4) != 4) {
    return nullptr;
  }
  size_t ihl = static_cast<size_t>(data[0] & 0x0F) * 4;
  if (ihl < 20 || *len < ihl || data[9] != proto) {
    return nullptr;
  }
  *len -= ihl;
  return data + ihl;
}

// The echo request quoted by an unreachable error (after its 8-byte
// header): the original IP header, then at least 8 bytes of our message.
EchoMessage QuotedRequest(Family family, const uint8_t* quote, size_t len, uint8_t code) {
  EchoMessage m;
  const uint8_t* icmp = nullptr;
  if (family == Family::kV4) {
    icmp = SkipIpv4(quote, &len, kProtoIcmp);
  } else if (len >= kIpv6Header && (quote[0] >> 4) == 6 && quote[6] == kProtoIcmp6) {
    icmp = quote + kIpv6Header;
    len -= kIpv6Header;
  }
  uint8_t request = family == Family::kV4 ? kEchoRequest4 : kEchoRequest6;
  if (icmp == nullptr || len < kIcmpHeader || icmp[0] != request) {
    return m;
  }
  m.kind = EchoMessage::Kind::kUnreachable;
  m.id = Get16(icmp + 4);
  m.seq = Get16(icmp + 6);
  m.code = code;
  return m;
}

}  // namespace

std::string EncodeEchoRequest(Family family, uint16_t id, uint16_t seq, size_t payload_bytes) {
  std::string out(kIcmpHeader + payload_bytes, '\0');
  out[0] = static_cast<char>(family == Family::kV4 ? kEchoRequest4 : kEchoRequest6);
  Put16(&out, 4, id);
  Put16(&out, 6, seq);
  for (size_t i = 0; i < payload_bytes; ++i) {
    out[kIcmpHeader + i] = static_cast<char>('a' + i % 26);
  }
  if (family == Family::kV4) {
    Put16(&out, 2, Checksum(out));
  }
  return out;
}

EchoMessage DecodeEchoMessage(Family family, const uint8_t* data, size_t len, bool with_ip_header) {
  EchoMessage m;
  if (family == Family::kV4 && with_ip_header) {
    data = SkipIpv4(data, &len, kProtoIcmp);
    if (data == nullptr) {
      return m;
    }
  }
  if (len < kIcmpHeader) {
    return m;
  }
  uint8_t reply = family == Family::kV4 ? kEchoReply4 : kEchoReply6;
  uint8_t unreachable = family == Family::kV4 ? kUnreachable4 : kUnreachable6;
  if (data[0] == reply && data[1] == 0) {
    m.kind = EchoMessage::Kind::kReply;
    m.id = Get16(data + 4);
    m.seq = Get16(data + 6);
    return m;
  }
  if (data[0] == unreachable) {
    return QuotedRequest(family, data + kIcmpHeader, len - kIcmpHeader, data[1]);
  }
  return m;
}

std::string UnreachableCodeName(Family family, uint8_t code) {
  if (family == Family::kV4) {
    switch (code) {
      case 0:
        return "network unreachable";
      case 1:
        return "host unreachable";
      case 2:
        return "protocol unreachable";
      case 3:
        return "port unreachable";
      case 9:
      case 10:
      case 13:
        return "administratively prohibited";
      default:
        return "destination unreachable (code " + std::to_string(code) + ")";
    }
  }
  switch (code) {
    case 0:
      return "no route to destination";
    case 1:
      return "administratively prohibited";
    case 3:
      return "address unreachable";
    case 4:
      return "port unreachable";
    default:
      return "destination unreachable (code " + std::to_string(code) + ")";
  }
}

}  // namespace sonde::prober::icmp
