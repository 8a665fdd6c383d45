// The DNS last-known-address fallback, recorded once for every probe type.
// When a check's name fails to resolve but resolved before, the probe still
// tries the last known address; the result keeps the DNS failure class and
// records, as structured fields and in the detail text, what the server there
// did. The collector reads the fields, never the text. The address to try
// comes from DnsResolver::AddressToTry. Pure; any thread.
#ifndef SONDE_PROBER_PROBES_DNS_FALLBACK_H_
#define SONDE_PROBER_PROBES_DNS_FALLBACK_H_

#include <string>

#include "absl/strings/string_view.h"
#include "prober/io/dns_resolver.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// Sets `r`'s class and detail from what the run saw: class `seen` and text
// `detail`. When `fallback` was used, `seen` and `http_status` (0: no HTTP
// answer) go to the fallback fields instead, the class stays the DNS class,
// and the detail becomes the resolver's words plus what the server at the
// last known address did ("answers 200", "fails too (TCP_REFUSED)").
void SetOutcome(const DnsFallback& fallback, v1::FailureClass::Code seen, absl::string_view detail,
                int http_status, v1::ProbeResult* r);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_DNS_FALLBACK_H_
