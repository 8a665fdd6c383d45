#include "prober/probes/verify_result.h"

#include <openssl/x509_vfy.h>

namespace sonde::prober {

using FC = v1::FailureClass;

FC::Code ClassifyVerifyResult(long v) {
  switch (v) {
    case X509_V_OK:
      return FC::OK;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return FC::TLS_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return FC::TLS_CERT_NOT_YET_VALID;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return FC::TLS_CERT_HOSTNAME;
    default:
      return FC::TLS_CERT_UNTRUSTED;
  }
}

}  // namespace sonde::prober
