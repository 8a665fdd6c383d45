#include "collector/auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls/credentials.h"
#include "yaml-cpp/yaml.h"

namespace sonde::collector {
namespace {

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<ProberIdentity> IdentityFromCertificate(const std::string& pem) {
  auto cert = common::ReadCertificateIdentity(pem);
  if (!cert.ok()) {
    return absl::UnauthenticatedError("unreadable client certificate");
  }
  ProberIdentity id{cert->common_name, cert->organizational_unit, "certificate"};
  if (id.prober_id.empty() || id.region.empty()) {
    return absl::UnauthenticatedError(
        "client certificate lacks CN (prober id) or OU (region); make it with "
        "deploy/certs/make-certs.sh");
  }
  return id;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthOptions& o,
                                                                     const std::string& listen) {
  std::unique_ptr<Authenticator> a(new Authenticator());
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!o.tls_client_ca.empty() && o.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  bool secured = !o.tls_cert.empty() || !o.tokens_file.empty();
  if (o.insecure && secured) {
    return absl::InvalidArgumentError("--insecure cannot be combined with --tls-* or --tokens");
  }
  if (!secured && !o.insecure && !common::IsLoopbackHost(listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to serve ", listen,
                     " without authentication: give --tls-cert/--tls-key/--tls-client-ca (mTLS, "
                     "recommended), --tokens FILE, or --insecure to accept plaintext from anyone"));
  }
  if (!o.tokens_file.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(o.tokens_file);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens ", o.tokens_file, ": ", e.what()));
    }
    if (root["probers"]) {
      for (const auto& p : root["probers"]) {
        ProberIdentity id;
        std::string token = p["token"] ? p["token"].as<std::string>() : "";
        id.prober_id = p["prober_id"] ? p["prober_id"].as<std::string>() : "";
        id.region = p["region"] ? p["region"].as<std::string>() : "";
        id.via = "token";
        if (token.size() < 16 || id.prober_id.empty() || id.region.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--tokens ", o.tokens_file,
              ": each prober entry needs token (16+ characters), prober_id and region"));
        }
        a->prober_tokens_[token] = id;
      }
    }
    if (root["query"]) {
      for (const auto& q : root["query"]) {
        std::string token = q.as<std::string>();
        if (token.size() < 16) {
          return absl::InvalidArgumentError(
              absl::StrCat("--tokens ", o.tokens_file, ": query tokens need 16+ characters"));
        }
        a->query_tokens_.insert(token);
      }
    }
  }
  if (!o.tls_cert.empty()) {
    auto cert = common::ReadTextFile("--tls-cert", o.tls_cert);
    if (!cert.ok()) {
      return cert.status();
    }
    auto key = common::ReadTextFile("--tls-key", o.tls_key);
    if (!key.ok()) {
      return key.status();
    }
    grpc::SslServerCredentialsOptions ssl(o.tls_client_ca.empty()
                                              ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                              : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    if (!o.tls_client_ca.empty()) {
      auto ca = common::ReadTextFile("--tls-client-ca", o.tls_client_ca);
      if (!ca.ok()) {
        return ca.status();
      }
      ssl.pem_root_certs = *ca;
      a->mtls_ = true;
    }
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    a->creds_ = grpc::SslServerCredentials(ssl);
    a->tls_ = true;
  } else {
    a->creds_ = grpc::InsecureServerCredentials();
  }
  a->open_ = !secured;
  return a;
}

std::string Authenticator::Describe() const {
  if (open_) {
    return "plaintext, no authentication";
  }
  return absl::StrCat(
      tls_ ? "TLS" : "plaintext", mtls_ ? ", prober certificates (mTLS)" : "",
      prober_tokens_.empty() ? "" : ", prober tokens",
      query_tokens_.empty() ? ", no query tokens (queries refused)" : ", query tokens");
}

std::string Authenticator::BearerToken(const grpc::ServerContext& context) const {
  auto range = context.client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) {
    std::string v(it->second.data(), it->second.size());
    if (absl::StartsWith(v, "Bearer ")) {
      return v.substr(7);
    }
  }
  return "";
}

absl::StatusOr<ProberIdentity> Authenticator::Prober(const grpc::ServerContext& context) const {
  if (open_) {
    return ProberIdentity{"", "", "none"};
  }
  if (mtls_) {
    auto auth = context.auth_context();
    if (auth != nullptr) {
      auto pem = auth->FindPropertyValues("x509_pem_cert");
      if (!pem.empty()) {
        return IdentityFromCertificate(std::string(pem[0].data(), pem[0].size()));
      }
    }
  }
  std::string token = BearerToken(context);
  if (!token.empty()) {
    for (const auto& [t, id] : prober_tokens_) {
      if (SameSecret(t, token)) {
        return id;
      }
    }
    return absl::UnauthenticatedError("unknown prober token");
  }
  return absl::UnauthenticatedError(
      "no client certificate and no bearer token: this collector requires prober credentials");
}

absl::Status Authenticator::Query(const grpc::ServerContext& context) const {
  if (open_) {
    return absl::OkStatus();
  }
  return QueryToken(BearerToken(context));
}

absl::Status Authenticator::QueryToken(const std::string& token) const {
  if (open_) {
    return absl::OkStatus();
  }
  for (const std::string& t : query_tokens_) {
    if (SameSecret(t, token)) {
      return absl::OkStatus();
    }
  }
  return absl::UnauthenticatedError(token.empty() ? "a query token is required (sondectl --token)"
                                                  : "unknown query token");
}

absl::Status Authenticator::Matches(const ProberIdentity& who, const std::string& prober_id,
                                    const std::string& region) {
  if (who.via == "none") {
    return absl::OkStatus();
  }
  if (who.region != region) {
    return absl::PermissionDeniedError(absl::StrCat("this ", who.via, " is for region \"",
                                                    who.region, "\"; the prober claims region \"",
                                                    region, "\""));
  }
  if (who.prober_id != prober_id) {
    return absl::PermissionDeniedError(absl::StrCat("this ", who.via, " is for prober \"",
                                                    who.prober_id, "\"; the prober claims \"",
                                                    prober_id, "\""));
  }
  return absl::OkStatus();
}

}  // namespace sonde::collector
