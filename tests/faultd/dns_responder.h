// AnswerDnsQuery: what faultd's DNS listener replies to one query, decided
// by the rules (listener "dns", matched on client source and query name):
// records of the asked type (following one CNAME chain through other rules),
// NODATA, NXDOMAIN/SERVFAIL/REFUSED, a dropped query, a delayed answer, or a
// truncated UDP answer. Names no rule matches are REFUSED. Malformed queries
// get FORMERR when their header is readable and are dropped otherwise.
// Pure function of its inputs; any thread.
#ifndef SONDE_TESTS_FAULTD_DNS_RESPONDER_H_
#define SONDE_TESTS_FAULTD_DNS_RESPONDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/faultd/rules.h"
#include "tests/faultd/sockets.h"

namespace sonde::faultd {

struct DnsReply {
  bool send = false;  // false: the query is dropped
  std::string wire;   // the response (without the TCP length prefix)
  uint32_t delay_ms = 0;
  const Rule* rule = nullptr;         // the rule that decided (never null)
  std::vector<std::string> counters;  // outcome counters to add ("rcode_NXDOMAIN", ...)
};

// `source` is the client's address (borrowed). The reply borrows `rules`.
DnsReply AnswerDnsQuery(absl::string_view query, bool over_tcp, const SocketAddress* source,
                        const RuleSet& rules);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_DNS_RESPONDER_H_
