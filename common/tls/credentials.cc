#include "common/tls/credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/net.h"
#include "common/tls/openssl_handles.h"

namespace sonde::common {
namespace {

std::string NameEntry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) {
    return "";
  }
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n < 0) {
    return "";
  }
  std::string out(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsLoopbackHost(const std::string& host_port) {
  // Port 0 ("pick a free one") is a listener's, and ParseHostPort refuses it.
  std::string text = host_port;
  if (absl::EndsWith(text, ":0")) {
    text.back() = '1';
  }
  auto hp = ParseHostPort(text, 0);
  if (!hp.ok()) {
    return false;
  }
  // An IP literal decides, never a prefix of a name ("127.corp.example"
  // resolves wherever its owner wants). "localhost" is the one name: RFC
  // 6761 reserves it for loopback.
  if (absl::EqualsIgnoreCase(hp->host, "localhost")) {
    return true;
  }
  in_addr v4;
  if (inet_pton(AF_INET, hp->host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, hp->host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {  // ::ffff:127.0.0.1
      return v6.s6_addr[12] == 127;
    }
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

bool SameSecret(absl::string_view a, absl::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH];
  unsigned char db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

absl::StatusOr<CertificateIdentity> ReadCertificateIdentity(const std::string& pem) {
  UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return OpenSslError("reading a PEM certificate");
  }
  UniqueX509 cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();  // the reason is always the same: not PEM
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  CertificateIdentity id;
  id.common_name = NameEntry(X509_get_subject_name(cert.get()), NID_commonName);
  id.organizational_unit = NameEntry(X509_get_subject_name(cert.get()), NID_organizationalUnitName);
  return id;
}

absl::StatusOr<ClientCredentials> MakeClientCredentials(const ClientSecurity& s,
                                                        const std::string& target) {
  ClientCredentials out;
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  bool tls = !s.tls_ca.empty() || !s.tls_cert.empty();
  if (s.insecure && tls) {
    return absl::InvalidArgumentError("--insecure cannot be combined with --tls-*");
  }
  if (!s.token_file.empty()) {
    auto token = ReadTextFile("--token-file", s.token_file);
    if (!token.ok()) {
      return token.status();
    }
    out.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
    if (out.bearer_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--token-file ", s.token_file, ": empty"));
    }
  }
  if (!tls) {
    if (!s.insecure && !IsLoopbackHost(target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("refusing plaintext to ", target,
                       ": give --tls-ca (and --tls-cert/--tls-key for mTLS), or --insecure"));
    }
    out.channel = grpc::InsecureChannelCredentials();
    return out;
  }
  grpc::SslCredentialsOptions ssl;
  if (!s.tls_ca.empty()) {
    auto ca = ReadTextFile("--tls-ca", s.tls_ca);
    if (!ca.ok()) {
      return ca.status();
    }
    ssl.pem_root_certs = *ca;
  }
  if (!s.tls_cert.empty()) {
    auto cert = ReadTextFile("--tls-cert", s.tls_cert);
    if (!cert.ok()) {
      return cert.status();
    }
    auto key = ReadTextFile("--tls-key", s.tls_key);
    if (!key.ok()) {
      return key.status();
    }
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  out.channel = grpc::SslCredentials(ssl);
  return out;
}

}  // namespace sonde::common
