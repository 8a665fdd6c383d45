#include "collector/auth/auth.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls/credentials.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

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
        absl::StrCat("--listen: refusing to serve ", listen,
                     " without authentication: give --tls-cert/--tls-key/--tls-client-ca (mTLS, "
                     "recommended), --tokens FILE, or --insecure to accept plaintext from anyone"));
  }
  a->insecure_ = o.insecure;
  a->tokens_file_ = o.tokens_file;
  a->tokens_ = std::make_shared<const TokenSet>();
  if (!o.tokens_file.empty()) {
    absl::StatusOr<TokenSet> tokens = TokenSet::Load(o.tokens_file);
    if (!tokens.ok()) {
      return tokens.status();
    }
    a->tokens_ = std::make_shared<const TokenSet>(*std::move(tokens));
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

Authenticator::~Authenticator() { watcher_.reset(); }

absl::Status Authenticator::CheckListener(absl::string_view flag,
                                          const std::string& address) const {
  if (address.empty() || common::IsLoopbackHost(address) || has_tokens() || insecure_) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      flag, ": refusing to serve ", address,
      " to other hosts without tokens: give --tokens FILE (requests then need a token), or "
      "--insecure to let anyone in, or listen on a loopback address"));
}

std::shared_ptr<const TokenSet> Authenticator::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

absl::Status Authenticator::ReloadTokens() {
  if (tokens_file_.empty()) {
    return absl::OkStatus();
  }
  absl::StatusOr<TokenSet> loaded = TokenSet::Load(tokens_file_);
  if (!loaded.ok()) {
    reload_failures_.fetch_add(1);
    spdlog::error("reload of the tokens FAILED, the previous tokens stay in force: {}",
                  std::string(loaded.status().message()));
    return loaded.status();
  }
  spdlog::info("reloaded {}: {} prober tokens, {} query tokens", tokens_file_,
               loaded->prober_count(), loaded->query_count());
  auto fresh = std::make_shared<const TokenSet>(*std::move(loaded));
  {
    absl::MutexLock lock(&mu_);
    tokens_ = std::move(fresh);
  }
  reloads_.fetch_add(1);
  return absl::OkStatus();
}

void Authenticator::WatchTokensFile(absl::Duration period) {
  if (tokens_file_.empty() || watcher_ != nullptr) {
    return;
  }
  watcher_ = std::make_unique<common::FileWatcher>(tokens_file_, period, [this] {
    ReloadTokens().IgnoreError();  // logged; the old tokens stay
  });
}

std::string Authenticator::Describe() const {
  if (open_) {
    return "plaintext, no authentication";
  }
  std::shared_ptr<const TokenSet> t = tokens();
  return absl::StrCat(
      tls_ ? "TLS" : "plaintext", mtls_ ? ", prober certificates (mTLS)" : "",
      t->prober_count() == 0 ? "" : ", prober tokens",
      t->query_count() == 0 ? ", no query tokens (queries refused)" : ", query tokens");
}

std::string Authenticator::BearerToken(absl::string_view authorization) {
  if (!absl::StartsWith(authorization, "Bearer ")) {
    return "";
  }
  return std::string(authorization.substr(7));
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
  std::string token;
  auto range = context.client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second && token.empty(); ++it) {
    token = BearerToken(absl::string_view(it->second.data(), it->second.size()));
  }
  if (!token.empty()) {
    std::shared_ptr<const TokenSet> t = tokens();
    if (const ProberIdentity* id = t->FindProber(token); id != nullptr) {
      return *id;
    }
    return absl::UnauthenticatedError("unknown prober token");
  }
  return absl::UnauthenticatedError(
      "no client certificate and no bearer token: this collector requires prober credentials");
}

absl::StatusOr<Caller> Authenticator::Authorize(absl::string_view token, Scope scope) const {
  if (open_) {
    return Caller{};
  }
  std::shared_ptr<const TokenSet> t = tokens();
  const QueryTokenInfo* info = t->FindQuery(token);
  if (info == nullptr) {
    return absl::UnauthenticatedError(token.empty() ? "a query token is required (sondectl --token)"
                                                    : "unknown query token");
  }
  if (info->scope < scope) {
    return absl::PermissionDeniedError(
        absl::StrCat(info->name.empty() ? "this token" : absl::StrCat("token \"", info->name, "\""),
                     " has scope ", ScopeName(info->scope), "; this needs ", ScopeName(scope)));
  }
  return Caller{info->name};
}

absl::StatusOr<Caller> Authenticator::Authorize(const grpc::ServerContext& context,
                                                Scope scope) const {
  std::string token;
  auto range = context.client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second && token.empty(); ++it) {
    token = BearerToken(absl::string_view(it->second.data(), it->second.size()));
  }
  return Authorize(token, scope);
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
