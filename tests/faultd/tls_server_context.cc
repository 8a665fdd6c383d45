// The shared SSL_CTX and its ClientHello hook (see tls_server_context.h).
#include "tests/faultd/tls_server_context.h"

#include <openssl/tls1.h>

#include <string>

namespace sonde::faultd {
namespace {

// The host_name entry of a server_name extension (RFC 6066 3), if any.
std::optional<std::string> SniFromHello(SSL* ssl) {
  const unsigned char* ext = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) != 1 || len < 2) {
    return std::nullopt;
  }
  size_t list_len = (static_cast<size_t>(ext[0]) << 8) | ext[1];
  if (list_len + 2 > len) {
    return std::nullopt;
  }
  size_t p = 2;
  while (p + 3 <= 2 + list_len) {
    uint8_t type = ext[p];
    size_t n = (static_cast<size_t>(ext[p + 1]) << 8) | ext[p + 2];
    p += 3;
    if (p + n > 2 + list_len) {
      return std::nullopt;
    }
    if (type == TLSEXT_NAMETYPE_host_name) {
      return std::string(reinterpret_cast<const char*>(ext + p), n);
    }
    p += n;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(const CertKit* certs) {
  std::unique_ptr<TlsServerContext> c(new TlsServerContext(certs));
  c->ctx_.reset(SSL_CTX_new(TLS_server_method()));
  if (!c->ctx_) {
    return common::OpenSslError("SSL_CTX_new");
  }
  SSL_CTX* ctx = c->ctx_.get();
  // Old versions stay possible for rules that cap max_version below 1.2; the
  // security level is lowered per connection only when a rule asks for it.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // No session tickets or cache: every probe does a full handshake.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate(ctx, certs->cert(CertKind::kValid)) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, certs->key(CertKind::kValid)) != 1) {
    return common::OpenSslError("SSL_CTX_use_certificate");
  }
  SSL_CTX_set_client_hello_cb(ctx, &TlsServerContext::ClientHelloCallback, c.get());
  return c;
}

absl::StatusOr<common::UniqueSsl> TlsServerContext::NewSsl(int fd,
                                                           ClientHelloHandler* handler) const {
  common::UniqueSsl ssl(SSL_new(ctx_.get()));
  if (!ssl) {
    return common::OpenSslError("SSL_new");
  }
  if (SSL_set_fd(ssl.get(), fd) != 1) {
    return common::OpenSslError("SSL_set_fd");
  }
  SSL_set_app_data(ssl.get(), handler);
  SSL_set_accept_state(ssl.get());
  return ssl;
}

int TlsServerContext::ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsServerContext*>(arg);
  auto* handler = static_cast<ClientHelloHandler*>(SSL_get_app_data(ssl));
  if (handler == nullptr) {
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  std::optional<std::string> sni = SniFromHello(ssl);
  TlsPlan plan =
      handler->OnClientHello(sni ? std::optional<absl::string_view>(*sni) : std::nullopt);
  switch (plan.fail) {
    case HandshakeFail::kAlert:
      *alert = SSL_AD_HANDSHAKE_FAILURE;
      return SSL_CLIENT_HELLO_ERROR;
    case HandshakeFail::kClose:
    case HandshakeFail::kGarbage:
      return SSL_CLIENT_HELLO_RETRY;
    case HandshakeFail::kNone:
      break;
  }
  X509* cert = self->certs_->cert(plan.cert);
  EVP_PKEY* key = self->certs_->key(plan.cert);
  if (plan.cert_days > 0) {
    const CertKit::KeyAndCert* leaf = self->certs_->LeafExpiringIn(plan.cert_days);
    if (leaf == nullptr) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    cert = leaf->cert.get();
    key = leaf->key.get();
  }
  if (SSL_use_certificate(ssl, cert) != 1 || SSL_use_PrivateKey(ssl, key) != 1) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (plan.max_version != 0) {
    if (plan.max_version < TLS1_2_VERSION) {
      // TLS 1.0/1.1 need SHA-1 and security level 0 in OpenSSL 3.
      SSL_set_security_level(ssl, 0);
      SSL_set_cipher_list(ssl, "DEFAULT:@SECLEVEL=0");
      SSL_set_min_proto_version(ssl, TLS1_VERSION);
    }
    SSL_set_max_proto_version(ssl, plan.max_version);
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace sonde::faultd
