// Authenticator: who may talk to the collector, decided once per call.
//
// Probers prove who they are with a client certificate (mTLS: CN = prober
// id, OU = region, signed by --tls-client-ca) or, as the weaker option, a
// bearer token bound to a prober id and region (--tokens). The identity, not
// what a batch says, decides which prober and region results are stored for:
// a prober with a certificate for `ams` cannot send results for `fra`. The
// query side (sondectl, dashboards, the HTTP API, /metrics) needs a query
// token with the scope the action needs (tokens.h: read, ack, admin). With
// none of these configured the collector is open; that is allowed on
// loopback addresses or with an explicit --insecure, never silently on a
// public one — for every listener (CheckListener).
//
// The tokens file is re-read by ReloadTokens() (SIGHUP, and an edit seen by
// WatchTokensFile): a bad file is an error naming its line and the tokens in
// force stay. Everything else is immutable after Create(). Thread-safe.
#ifndef SONDE_COLLECTOR_AUTH_AUTH_H_
#define SONDE_COLLECTOR_AUTH_AUTH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/auth/tokens.h"
#include "common/file_watch.h"
#include "grpcpp/grpcpp.h"

namespace sonde::collector {

struct AuthOptions {
  std::string tls_cert;       // server certificate (PEM); enables TLS
  std::string tls_key;        // its private key
  std::string tls_client_ca;  // CA that signs prober certificates (mTLS)
  std::string tokens_file;    // YAML, see tokens.h
  bool insecure = false;      // plaintext and no authentication, on purpose
};

// Who made a query-side call.
struct Caller {
  std::string token_name;  // "" on an open collector or for an unnamed token
};

class Authenticator {
 public:
  // Validates the combination, loads every file and checks the gRPC
  // listener `listen` (--listen); errors name the flag and the file.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthOptions& options,
                                                               const std::string& listen);
  ~Authenticator();

  // OK when an HTTP listener (the API, /metrics) may serve `address`:
  // loopback, or --tokens (which it then requires), or --insecure.
  // Otherwise INVALID_ARGUMENT naming `flag`.
  absl::Status CheckListener(absl::string_view flag, const std::string& address) const;

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const { return creds_; }
  // Identity of the prober behind `context`, or UNAUTHENTICATED.
  absl::StatusOr<ProberIdentity> Prober(const grpc::ServerContext& context) const;
  // Whether the bearer token `token` may do what needs `scope`:
  // UNAUTHENTICATED without a known query token, PERMISSION_DENIED when its
  // scope is narrower. Always OK on an open collector.
  absl::StatusOr<Caller> Authorize(absl::string_view token, Scope scope) const;
  // The same with the token of a gRPC call's "authorization" metadata.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContext& context, Scope scope) const;
  // Checks a batch's or hello's claimed identity against the proven one.
  static absl::Status Matches(const ProberIdentity& who, const std::string& prober_id,
                              const std::string& region);
  // "Bearer X" -> "X"; "" for anything else.
  static std::string BearerToken(absl::string_view authorization);

  // Re-reads --tokens. On error (logged, counted) the tokens in force stay.
  absl::Status ReloadTokens();
  // Reloads the tokens file when it changes (checked every `period`).
  void WatchTokensFile(absl::Duration period);
  int64_t token_reloads() const { return reloads_.load(); }
  int64_t token_reload_failures() const { return reload_failures_.load(); }

  bool open() const { return open_; }
  bool has_tokens() const { return !tokens_file_.empty(); }
  std::string Describe() const;

 private:
  Authenticator() = default;
  std::shared_ptr<const TokenSet> tokens() const;

  std::shared_ptr<grpc::ServerCredentials> creds_;
  bool tls_ = false;
  bool mtls_ = false;
  bool open_ = false;
  bool insecure_ = false;
  std::string tokens_file_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenSet> tokens_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> reloads_{0};
  std::atomic<int64_t> reload_failures_{0};
  std::unique_ptr<common::FileWatcher> watcher_;
};

// Reads CN (prober id) and OU (region) from a PEM certificate.
absl::StatusOr<ProberIdentity> IdentityFromCertificate(const std::string& pem);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_AUTH_AUTH_H_
