// libFuzzer target for the prober's DNS response parser (ParseDnsPacket),
// the code that reads bytes an untrusted DNS server chose. Built only with
// clang and -DSONDE_FUZZ=ON; see README.md. The bounded, always-on variant
// runs in tests/unit/prober/probes/probe_fuzz_test.cc.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "prober/probes/dns/dns_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto packet = sonde::prober::ParseDnsPacket(absl::MakeConstSpan(data, size));
  if (!packet.ok()) {
    return 0;
  }
  // The parser's promises: bounded record lists, bounded names and data.
  if (packet->answers.size() > 512 || packet->authority.size() > 512) {
    std::abort();
  }
  for (const auto* section : {&packet->answers, &packet->authority}) {
    for (const auto& r : *section) {
      if (r.name.size() > 1020 || r.data.size() > 4 * size + 2 * 1020 + 64) {
        std::abort();
      }
    }
  }
  (void)sonde::prober::RcodeName(packet->rcode);
  return 0;
}
