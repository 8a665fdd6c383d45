// TlsServerContext: the one SSL_CTX faultd's TLS listeners share, and the
// ClientHello hook that lets a rule pick the certificate, cap the protocol
// version or fail the handshake per connection (client source and SNI are
// known at that point). The context borrows the CertKit, which must outlive
// it. Create on any thread; NewSsl() and the callbacks run on the loop
// thread.
#ifndef SONDE_TESTS_FAULTD_TLS_SERVER_CONTEXT_H_
#define SONDE_TESTS_FAULTD_TLS_SERVER_CONTEXT_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tls/openssl_handles.h"
#include "tests/faultd/cert_kit.h"
#include "tests/faultd/rules.h"

namespace sonde::faultd {

// What to do with one handshake.
struct TlsPlan {
  CertKind cert = CertKind::kValid;
  int cert_days = 0;    // > 0: CertKit::LeafExpiringIn(cert_days) instead of `cert`
  int max_version = 0;  // 0: no cap; else kTls10..kTls13
  HandshakeFail fail = HandshakeFail::kNone;
};

// Asked once per connection when its ClientHello arrives. With fail = kClose
// or kGarbage the handshake is suspended: SSL_do_handshake() then reports
// SSL_ERROR_WANT_CLIENT_HELLO_CB and the connection acts on its own plan.
// With kAlert the handshake fails with a handshake_failure alert.
class ClientHelloHandler {
 public:
  virtual ~ClientHelloHandler() = default;
  // `sni` is empty when the client sent no server_name.
  virtual TlsPlan OnClientHello(std::optional<absl::string_view> sni) = 0;
};

class TlsServerContext {
 public:
  static absl::StatusOr<std::unique_ptr<TlsServerContext>> Create(const CertKit* certs);

  // A server-side SSL on `fd` (borrowed) that asks `handler` (borrowed; must
  // outlive the SSL) at ClientHello time.
  absl::StatusOr<common::UniqueSsl> NewSsl(int fd, ClientHelloHandler* handler) const;

 private:
  explicit TlsServerContext(const CertKit* certs) : certs_(certs) {}
  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg);

  const CertKit* certs_;
  common::UniqueSslCtx ctx_;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_TLS_SERVER_CONTEXT_H_
