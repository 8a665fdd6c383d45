// ClassifyVerifyResult: the failure class of an X509 chain verification
// result (X509_V_*), shared by the probes that verify certificates — the TLS
// probe reads it from its own handshake, the HTTP probe from curl's
// CURLINFO_SSL_VERIFYRESULT. Pure; any thread.
#ifndef SONDE_PROBER_PROBES_VERIFY_RESULT_H_
#define SONDE_PROBER_PROBES_VERIFY_RESULT_H_

#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// OK for X509_V_OK; expired, not yet valid, name mismatch, else untrusted.
v1::FailureClass::Code ClassifyVerifyResult(long verify_result);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_VERIFY_RESULT_H_
