// DNS wire format (RFC 1035, plus the EDNS0 OPT record of RFC 6891), written
// by hand so faultd can answer exactly what a test asks for, including
// malformed or truncated answers. Parse() accepts any message (query or
// response), follows compression pointers defensively (backward only,
// bounded), and decompresses names inside CNAME/NS/MX/SOA RDATA so every
// parsed record is self-contained. Serialize() writes names uncompressed.
// Names in text form have no trailing dot; bytes other than letters, digits,
// '-' and '_' are written as \DDD escapes ('.' inside a label too).
// Pure functions; any thread.
#ifndef SONDE_TESTS_FAULTD_DNS_MESSAGE_H_
#define SONDE_TESTS_FAULTD_DNS_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sonde::faultd::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNS = 2;
inline constexpr uint16_t kTypeCNAME = 5;
inline constexpr uint16_t kTypeSOA = 6;
inline constexpr uint16_t kTypeMX = 15;
inline constexpr uint16_t kTypeTXT = 16;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassANY = 255;

inline constexpr int kNoError = 0;
inline constexpr int kFormErr = 1;
inline constexpr int kServFail = 2;
inline constexpr int kNxDomain = 3;
inline constexpr int kNotImp = 4;
inline constexpr int kRefused = 5;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxMessageSize = 65535;
inline constexpr size_t kClassicUdpSize = 512;

struct Question {
  std::string name;
  uint16_t type = kTypeA;
  uint16_t klass = kClassIN;
};

struct ResourceRecord {
  std::string name;
  uint16_t type = kTypeA;
  uint16_t klass = kClassIN;
  uint32_t ttl = 0;
  std::string rdata;  // wire form, names uncompressed
};

struct Message {
  uint16_t id = 0;
  bool qr = false;
  int opcode = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  int rcode = 0;
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> authority;
  std::vector<ResourceRecord> additional;  // without the OPT record
  // Set when the message carries an OPT record: the sender's UDP payload size.
  std::optional<uint16_t> edns_udp_size;
};

// InvalidArgument for anything malformed: short header, truncated sections,
// bad labels or pointers, names over 255 octets, more than 256 records.
absl::StatusOr<Message> Parse(absl::string_view wire);
// Uncompressed encoding. Names must be valid (they are when they came from
// Parse or EncodeName succeeded on them); invalid names are written as root.
std::string Serialize(const Message& msg);

// "app.example.test" -> wire labels. Rejects empty labels, labels > 63 octets,
// names > 255 octets and bad escapes. "" and "." are the root.
absl::StatusOr<std::string> EncodeName(absl::string_view name);

// "A", "aaaa", ... -> type code; unknown names are InvalidArgument.
absl::StatusOr<uint16_t> TypeFromName(absl::string_view name);
// "A", "AAAA", ... or "TYPE<n>".
std::string TypeName(uint16_t type);
absl::StatusOr<int> RcodeFromName(absl::string_view name);
std::string RcodeName(int rcode);

// Text -> RDATA for the types faultd serves:
//   A "192.0.2.1", AAAA "::1", CNAME/NS "target.example",
//   MX "10 mail.example", TXT "any text" (split into 255-octet strings),
//   SOA "mname rname serial refresh retry expire minimum".
absl::StatusOr<std::string> EncodeRdata(uint16_t type, absl::string_view text);
// RDATA -> the same text forms (TXT strings joined); unknown types as hex.
std::string RdataToText(uint16_t type, absl::string_view rdata);

}  // namespace sonde::faultd::dns

#endif  // SONDE_TESTS_FAULTD_DNS_MESSAGE_H_
