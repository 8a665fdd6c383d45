// CertKit: certificate generation with the OpenSSL 3 API (see cert_kit.h).
#include "tests/faultd/cert_kit.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace sonde::faultd {
namespace {

constexpr long kHour = 3600;
constexpr long kDay = 24 * kHour;

absl::StatusOr<common::UniqueEvpPkey> NewEcKey() {
  common::UniqueEvpPkey key(EVP_EC_gen("P-256"));
  if (!key) {
    return common::OpenSslError("EVP_EC_gen");
  }
  return key;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return common::OpenSslError(OBJ_nid2sn(nid));
  }
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) {
    return common::OpenSslError("X509_add_ext");
  }
  return absl::OkStatus();
}

struct CertSpec {
  std::string common_name;
  long not_before;  // seconds relative to now
  long not_after;
  std::string san;  // "" for none
  bool is_ca = false;
};

// Builds a certificate for `key`, signed by `issuer_key` as `issuer` (or
// self-signed when issuer is null).
absl::StatusOr<common::UniqueX509> MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                                            EVP_PKEY* issuer_key) {
  common::UniqueX509 cert(X509_new());
  if (!cert) {
    return common::OpenSslError("X509_new");
  }
  X509* x = cert.get();
  X509_set_version(x, 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    return common::OpenSslError("RAND_bytes");
  }
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  if (sn == nullptr) {
    return common::OpenSslError("serial");
  }
  X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Sonde faultd"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  if (X509_set_pubkey(x, key) != 1) {
    return common::OpenSslError("X509_set_pubkey");
  }
  X509* ext_issuer = issuer ? issuer : x;
  RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_authority_key_identifier, "keyid:always"));
  if (spec.is_ca) {
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_key_usage, "critical,digitalSignature"));
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_ext_key_usage, "serverAuth"));
  }
  if (!spec.san.empty()) {
    RETURN_IF_ERROR(AddExtension(x, ext_issuer, NID_subject_alt_name, spec.san));
  }
  if (X509_sign(x, issuer_key, EVP_sha256()) == 0) {
    return common::OpenSslError("X509_sign");
  }
  return cert;
}

// What `write` put into a memory BIO, or "" when it failed.
template <typename Write>
std::string PemText(Write write) {
  common::UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return "";
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

}  // namespace

std::string CertToPem(X509* cert) {
  return PemText([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

std::string CertKit::LeafPem(CertKind kind) const { return CertToPem(cert(kind)); }

const CertKit::KeyAndCert* CertKit::LeafExpiringIn(int days) const {
  absl::MutexLock lock(&mu_);
  auto it = expiring_in_.find(days);
  if (it != expiring_in_.end()) {
    return &it->second;
  }
  KeyAndCert leaf;
  absl::StatusOr<common::UniqueEvpPkey> key = NewEcKey();
  if (!key.ok()) {
    return nullptr;
  }
  leaf.key = *std::move(key);
  const CertSpec spec{absl::StrCat("faultd expires in ", days, " days"), -kHour,
                      days * kDay + kHour, good_san_};
  absl::StatusOr<common::UniqueX509> cert =
      MakeCert(spec, leaf.key.get(), ca_.cert.get(), ca_.key.get());
  if (!cert.ok()) {
    return nullptr;
  }
  leaf.cert = *std::move(cert);
  return &expiring_in_.emplace(days, std::move(leaf)).first->second;
}

std::string CertKit::LeafKeyPem(CertKind kind) const {
  EVP_PKEY* k = key(kind);
  return PemText([k](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

absl::StatusOr<std::unique_ptr<CertKit>> CertKit::Generate(
    const std::vector<std::string>& extra_names) {
  std::unique_ptr<CertKit> kit(new CertKit());
  ASSIGN_OR_RETURN(kit->ca_.key, NewEcKey());
  ASSIGN_OR_RETURN(kit->ca_.cert,
                   MakeCert({"Sonde faultd test CA", -60 * kDay, 365 * kDay, "", true},
                            kit->ca_.key.get(), nullptr, kit->ca_.key.get()));
  std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  for (const std::string& n : extra_names) {
    if (n.empty() || n.find_first_of(",\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("cert name \"", n, "\" is not a host name"));
    }
    sans.push_back(absl::StrCat("DNS:", n));
  }
  std::string good_san = absl::StrJoin(sans, ",");
  kit->good_san_ = good_san;
  for (int i = 0; i < kCertKindCount; ++i) {
    CertKind kind = static_cast<CertKind>(i);
    CertSpec spec{absl::StrCat("faultd ", CertKindName(kind)), -kHour, 90 * kDay, good_san};
    switch (kind) {
      case CertKind::kValid:
        spec.common_name = "localhost";
        break;
      case CertKind::kExpired:
        spec.not_before = -30 * kDay;
        spec.not_after = -kDay;
        break;
      case CertKind::kNotYetValid:
        spec.not_before = kDay;
        spec.not_after = 30 * kDay;
        break;
      case CertKind::kWrongHost:
        spec.common_name = "other.invalid";
        spec.san = "DNS:other.invalid";
        break;
      case CertKind::kGarbledNames:
        // Bytes no certificate should carry: Latin-1, a control character,
        // an escape sequence -- in the subject and in a SAN.
        spec.common_name = "faultd caf\xe9 \x1b[31mred";
        spec.san = absl::StrCat(good_san, ",DNS:caf\xe9\xff\x01.invalid");
        break;
      case CertKind::kSelfSigned:
      case CertKind::kExpiring:
        break;
    }
    if (kind == CertKind::kExpiring) {
      spec.not_after = 5 * kDay;
    }
    KeyAndCert& leaf = kit->leaves_[i];
    ASSIGN_OR_RETURN(leaf.key, NewEcKey());
    if (kind == CertKind::kSelfSigned) {
      ASSIGN_OR_RETURN(leaf.cert, MakeCert(spec, leaf.key.get(), nullptr, leaf.key.get()));
    } else {
      ASSIGN_OR_RETURN(leaf.cert,
                       MakeCert(spec, leaf.key.get(), kit->ca_.cert.get(), kit->ca_.key.get()));
    }
  }
  // OpenSSL leaves a note on this thread's error queue for the garbled SAN
  // although it made the certificate; a later reader of the queue on this
  // thread (gRPC loading a CA file) must not take it for its own error.
  ERR_clear_error();
  kit->ca_pem_ = CertToPem(kit->ca_.cert.get());
  if (kit->ca_pem_.empty()) {
    return common::OpenSslError("PEM_write_bio_X509");
  }
  return kit;
}

}  // namespace sonde::faultd
