// CertKit: the certificates faultd serves, generated in memory at start with
// the OpenSSL 3 API (EC P-256 keys, SHA-256 signatures): one CA and one leaf
// per CertKind. Every leaf except self_signed is signed by the CA; `valid`,
// `expired`, `not_yet_valid`, `expiring` and `self_signed` carry
// SAN = localhost, 127.0.0.1, ::1 and the extra names given; `wrong_host`
// carries SAN = other.invalid only; `garbled_names` the good SAN plus a DNS
// name of Latin-1 and control bytes, and such a subject CN. Validity windows (relative to `now`):
//   valid, wrong_host, self_signed: now-1h .. now+90d
//   expired: now-30d .. now-1d      not_yet_valid: now+1d .. now+30d
//   expiring: now-1h .. now+5d      CA: now-60d .. now+365d
// LeafExpiringIn(n) makes (once per n, on first use) a CA-signed leaf with
// the good names valid from now-1h to now+n days+1h, so a client reads n
// days left. Immutable after Generate() except that cache; every method is
// thread-safe. The kit owns its keys and certificates; callers borrow the
// raw pointers (stable for the kit's life).
#ifndef SONDE_TESTS_FAULTD_CERT_KIT_H_
#define SONDE_TESTS_FAULTD_CERT_KIT_H_

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/tls/openssl_handles.h"
#include "tests/faultd/rules.h"

namespace sonde::faultd {

class CertKit {
 public:
  struct KeyAndCert {
    common::UniqueEvpPkey key;
    common::UniqueX509 cert;
  };

  static absl::StatusOr<std::unique_ptr<CertKit>> Generate(
      const std::vector<std::string>& extra_names);

  EVP_PKEY* key(CertKind kind) const { return leaves_[static_cast<int>(kind)].key.get(); }
  X509* cert(CertKind kind) const { return leaves_[static_cast<int>(kind)].cert.get(); }
  X509* ca_cert() const { return ca_.cert.get(); }
  // PEM of the CA certificate (what --ca-out writes, what probes trust).
  const std::string& ca_pem() const { return ca_pem_; }
  // PEM of a leaf certificate, for tests and debugging.
  std::string LeafPem(CertKind kind) const;
  // The leaf that expires `days` days from its first use; nullptr when it
  // cannot be made (logged by the caller as a failed handshake).
  const KeyAndCert* LeafExpiringIn(int days) const;

  // PEM (PKCS#8, unencrypted) of a leaf's private key, for servers that take
  // PEM rather than an SSL_CTX (the gRPC health listener).
  std::string LeafKeyPem(CertKind kind) const;

 private:
  CertKit() = default;
  KeyAndCert ca_;
  std::string good_san_;
  mutable absl::Mutex mu_;
  mutable std::map<int, KeyAndCert> expiring_in_ ABSL_GUARDED_BY(mu_);
  std::array<KeyAndCert, kCertKindCount> leaves_;
  std::string ca_pem_;
};

// PEM text of one certificate ("" on failure).
std::string CertToPem(X509* cert);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_CERT_KIT_H_
