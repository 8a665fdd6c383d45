// RAII owners for the OpenSSL handles Sonde uses (SSL_CTX, SSL, BIO, X509,
// EVP_PKEY, GENERAL_NAMES, EVP_MD_CTX), and the one place where OpenSSL's thread-local
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
#include "common/unique_handle.h"

namespace sonde::common {

using UniqueX509 = UniqueHandle<X509, X509_free>;
using UniqueEvpPkey = UniqueHandle<EVP_PKEY, EVP_PKEY_free>;
using UniqueSslCtx = UniqueHandle<SSL_CTX, SSL_CTX_free>;
using UniqueSsl = UniqueHandle<SSL, SSL_free>;
using UniqueBio = UniqueHandle<BIO, BIO_free_all>;
using UniqueGeneralNames = UniqueHandle<GENERAL_NAMES, GENERAL_NAMES_free>;
using UniqueEvpMdCtx = UniqueHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

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
