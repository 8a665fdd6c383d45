// RAII owners for the OpenSSL handles Sonde uses (SSL_CTX, SSL, BIO, X509,
// EVP_PKEY, GENERAL_NAMES), and the one place where OpenSSL's thread-local
// error queue becomes text or an absl::Status. A handle whose ownership
// passes to OpenSSL (SSL_set_bio, SSL_CTX_use_certificate...) is release()d
// at that call. Header-only; the users link OpenSSL. Any thread; each handle
// is used by one thread at a time.
#ifndef SONDE_COMMON_TLS_OPENSSL_HANDLES_H_
#define SONDE_COMMON_TLS_OPENSSL_HANDLES_H_

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sonde::common {

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
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

using UniqueX509 = std::unique_ptr<X509, X509Deleter>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using UniqueSslCtx = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using UniqueSsl = std::unique_ptr<SSL, SslDeleter>;
using UniqueBio = std::unique_ptr<BIO, BioDeleter>;
using UniqueGeneralNames = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;

// Drains this thread's OpenSSL error queue into "error:...; error:..." text
// ("" when it was empty). `codes`, when given, receives the packed error
// codes in order, for callers that classify by library and reason.
inline std::string OpenSslErrors(std::vector<unsigned long>* codes = nullptr) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
    if (codes != nullptr) {
      codes->push_back(e);
    }
  }
  return out;
}

// INTERNAL "<what>: <the queued errors>", draining the queue.
inline absl::Status OpenSslError(absl::string_view what) {
  std::string errors = OpenSslErrors();
  return absl::InternalError(
      absl::StrCat(what, ": ", errors.empty() ? "no OpenSSL error queued" : errors));
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_TLS_OPENSSL_HANDLES_H_
