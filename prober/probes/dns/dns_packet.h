// A parser for DNS responses (RFC 1035) as they come off the wire. It is the
// part of the prober that reads bytes an untrusted server chose, so it is
// strict and bounded: every read is range-checked, compression pointers may
// only point backwards and are followed at most 64 times, names are capped
// at 255 bytes, at most 512 records are decoded. Pure functions.
#ifndef SONDE_PROBER_PROBES_DNS_DNS_PACKET_H_
#define SONDE_PROBER_PROBES_DNS_DNS_PACKET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sonde::prober {

struct DnsRecordData {
  std::string name;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string data;  // presentation form: "192.0.2.1", "10 mx.example.com.", ...
};

struct DnsPacket {
  uint16_t id = 0;
  bool truncated = false;
  int rcode = 0;
  std::vector<DnsRecordData> answers;
  std::vector<DnsRecordData> authority;
};

absl::StatusOr<DnsPacket> ParseDnsPacket(absl::Span<const uint8_t> packet);

// "NOERROR", "NXDOMAIN", ... ("RCODE17" for unknown values).
std::string RcodeName(int rcode);
// "A", "AAAA", ... ("TYPE99" for unknown values); 0 for unknown names.
std::string TypeName(uint16_t type);
uint16_t TypeNumber(const std::string& name);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_DNS_DNS_PACKET_H_
