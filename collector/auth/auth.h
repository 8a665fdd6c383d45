// Authenticator: who may talk to the collector, decided once per call.
//
// Probers prove who they are with a client certificate (mTLS: CN = prober
// id, OU = region, signed by --tls-client-ca) or, as the weaker option, a
// bearer token bound to a prober id and region (--tokens). The identity, not
// what a batch says, decides which prober and region results are stored for:
// a prober with a certificate for `ams` cannot send results for `fra`. The
// query side (sondectl, dashboards) needs a query token. With none of these
// configured the collector is open; that is allowed on a loopback address or
// with an explicit --insecure, never silently on a public one.
//
// Immutable after Create(); thread-safe.
#ifndef SONDE_COLLECTOR_AUTH_AUTH_H_
#define SONDE_COLLECTOR_AUTH_AUTH_H_

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace sonde::collector {

struct AuthOptions {
  std::string tls_cert;       // server certificate (PEM); enables TLS
  std::string tls_key;        // its private key
  std::string tls_client_ca;  // CA that signs prober certificates (mTLS)
  std::string tokens_file;    // YAML: probers: [{token, prober_id, region}], query: [token]
  bool insecure = false;      // plaintext and no authentication, on purpose
};

struct ProberIdentity {
  std::string prober_id;  // "" when unauthenticated (open collector)
  std::string region;
  std::string via;  // "certificate", "token", "none"
};

class Authenticator {
 public:
  // Validates the combination and loads every file; errors name the flag
  // and the file. `listen` decides whether an open collector is acceptable.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthOptions& options,
                                                               const std::string& listen);

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const { return creds_; }
  // Identity of the prober behind `context`, or UNAUTHENTICATED.
  absl::StatusOr<ProberIdentity> Prober(const grpc::ServerContext& context) const;
  // OK when `context` may query, else UNAUTHENTICATED.
  absl::Status Query(const grpc::ServerContext& context) const;
  // The same check for a bearer token that came another way (HTTP API).
  absl::Status QueryToken(const std::string& token) const;
  // Checks a batch's or hello's claimed identity against the proven one.
  static absl::Status Matches(const ProberIdentity& who, const std::string& prober_id,
                              const std::string& region);
  bool open() const { return open_; }
  std::string Describe() const;

 private:
  Authenticator() = default;
  std::string BearerToken(const grpc::ServerContext& context) const;

  std::shared_ptr<grpc::ServerCredentials> creds_;
  bool tls_ = false;
  bool mtls_ = false;
  bool open_ = false;
  std::map<std::string, ProberIdentity> prober_tokens_;
  std::set<std::string> query_tokens_;
};

// Reads CN (prober id) and OU (region) from a PEM certificate.
absl::StatusOr<ProberIdentity> IdentityFromCertificate(const std::string& pem);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_AUTH_AUTH_H_
