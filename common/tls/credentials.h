// Client-side credentials for talking to the collector, shared by
// sonde-prober and sondectl: TLS with a CA (and a client certificate for
// mTLS), a bearer token, or plaintext. Also reads the prober identity out of
// a certificate (CN = prober id, OU = region). Pure functions; any thread.
#ifndef SONDE_COMMON_TLS_CREDENTIALS_H_
#define SONDE_COMMON_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace sonde::common {

struct ClientSecurity {
  std::string tls_ca;    // CA that signed the collector's certificate
  std::string tls_cert;  // client certificate (mTLS)
  std::string tls_key;
  std::string token_file;  // file holding a bearer token
  bool insecure = false;   // plaintext to a non-loopback collector
};

struct ClientCredentials {
  std::shared_ptr<grpc::ChannelCredentials> channel;
  std::string bearer_token;  // "" when none; send as "authorization: Bearer ..."
};

// Validates the combination against `target` (plaintext to a non-loopback
// address needs `insecure`) and loads the files. Errors name flag and file.
absl::StatusOr<ClientCredentials> MakeClientCredentials(const ClientSecurity& security,
                                                        const std::string& target);

struct CertificateIdentity {
  std::string common_name;          // prober id
  std::string organizational_unit;  // region
};
absl::StatusOr<CertificateIdentity> ReadCertificateIdentity(const std::string& pem);
absl::StatusOr<std::string> ReadTextFile(const std::string& flag, const std::string& path);
// True when `host_port`'s host is an IP literal of the loopback network
// (127.0.0.0/8, ::1, ::ffff:127.x.y.z) or "localhost"; a name that merely
// starts with "127." is not.
bool IsLoopbackHost(const std::string& host_port);
// Whether two secrets are equal, in time independent of where they differ
// and of their lengths (both are hashed first).
bool SameSecret(absl::string_view a, absl::string_view b);

}  // namespace sonde::common

#endif  // SONDE_COMMON_TLS_CREDENTIALS_H_
