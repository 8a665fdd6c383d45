// RAII owners for the OpenSSL handles faultd uses, and the one place where
// OpenSSL's error queue is turned into an absl::Status. Header-only; any
// thread (OpenSSL 3 objects are used by one thread at a time here).
#ifndef SONDE_TESTS_FAULTD_OPENSSL_HANDLES_H_
#define SONDE_TESTS_FAULTD_OPENSSL_HANDLES_H_

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sonde::faultd {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free_all(p); }
};

using UniqueX509 = std::unique_ptr<X509, X509Deleter>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using UniqueSslCtx = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using UniqueSsl = std::unique_ptr<SSL, SslDeleter>;
using UniqueBio = std::unique_ptr<BIO, BioDeleter>;

// Drains OpenSSL's thread-local error queue into one message.
inline std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

inline absl::Status OpenSslError(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", OpenSslErrors()));
}

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_OPENSSL_HANDLES_H_
