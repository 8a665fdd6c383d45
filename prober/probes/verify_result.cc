#include "prober/probes/verify_result.h"

#include <openssl/x509_vfy.h>

#include "common/code_table.h"

namespace sonde::prober {

using FC = v1::FailureClass;

FC::Code ClassifyVerifyResult(long v) {
  static constexpr common::CodeRow<FC::Code> kClasses[] = {
      {X509_V_OK, FC::OK},
      {X509_V_ERR_CERT_HAS_EXPIRED, FC::TLS_CERT_EXPIRED},
      {X509_V_ERR_CERT_NOT_YET_VALID, FC::TLS_CERT_NOT_YET_VALID},
      {X509_V_ERR_HOSTNAME_MISMATCH, FC::TLS_CERT_HOSTNAME},
      {X509_V_ERR_IP_ADDRESS_MISMATCH, FC::TLS_CERT_HOSTNAME}};
  // Any other failure: the chain is not trusted.
  return common::ValueOfCode(v, kClasses, FC::TLS_CERT_UNTRUSTED);
}

}  // namespace sonde::prober
