// The certificate fields of a ProbeResult, filled the same way by every
// probe that sees a certificate (the TLS probe from OpenSSL, the HTTP probe
// from curl's certificate info): RFC 3339 times, whole days left, and the
// earliest expiry in the chain. The detector's CERT_EXPIRING rule reads
// exactly these. Pure functions; any thread.
#ifndef SONDE_PROBER_PROBES_CERT_FIELDS_H_
#define SONDE_PROBER_PROBES_CERT_FIELDS_H_

#include <curl/curl.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// Sets cert_not_before, cert_not_after, cert_days_left (negative once
// expired) and, when `chain_not_after` is finite, chain_not_after.
void SetCertificateTimes(absl::Time not_before, absl::Time not_after, absl::Time chain_not_after,
                         absl::Time now, v1::ProbeResult* result);

// Reads a date as OpenSSL prints it into curl's certificate info
// ("Jan  2 15:04:05 2027 GMT"); false when it is not one.
bool ParseCertInfoDate(absl::string_view text, absl::Time* out);

// Fills the certificate fields from curl's CURLINFO_CERTINFO (the leaf is
// the first certificate). Does nothing when curl gathered none (plain HTTP,
// or the handshake failed).
void SetCertificateFromCurl(const curl_certinfo* info, absl::Time now, v1::ProbeResult* result);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_CERT_FIELDS_H_
