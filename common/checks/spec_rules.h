// Field rules several check types share: host names, ports, regular
// expressions, resolver lists, CA files, and endpoints (host, port,
// resolvers; their target). Each reports into a SpecErrors under the given field name and
// stays silent when the value is fine. Pure functions (CaFile reads the file
// system); any thread.
#ifndef SONDE_COMMON_CHECKS_SPEC_RULES_H_
#define SONDE_COMMON_CHECKS_SPEC_RULES_H_

#include <cstdint>
#include <string>

#include "common/checks/check_type.h"
#include "common/net.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace sonde::checks {

// Reports "is required" (with `hint` after it, when given) for an empty
// value; true when the value is present.
bool CheckRequired(const std::string& field, const std::string& value, SpecErrors* errors,
                   const std::string& hint = "");
// Required; a name or an address, no spaces, '/' or '@'.
void CheckHost(const std::string& field, const std::string& host, SpecErrors* errors);
// 1..65535; 0 passes when the port is optional (it has a default).
void CheckPort(const std::string& field, int64_t port, bool required, SpecErrors* errors);
// Empty, or an RE2 pattern that common::UserRegex compiles.
void CheckRegex(const std::string& field, const std::string& pattern, SpecErrors* errors);
// Each entry IP[:port]; reported per index ("resolvers[1]").
void CheckResolvers(const std::string& field,
                    const google::protobuf::RepeatedPtrField<std::string>& resolvers,
                    SpecErrors* errors);
// Empty, or a file this process can read.
void CheckCaFile(const std::string& field, const std::string& path, SpecErrors* errors);

// An endpoint spec (TcpSpec, TlsSpec): host, port (optional when the type
// has a default) and resolvers.
template <typename EndpointSpec>
void CheckEndpoint(const EndpointSpec& spec, bool port_required, SpecErrors* errors) {
  CheckHost("host", spec.host(), errors);
  CheckPort("port", spec.port(), port_required, errors);
  CheckResolvers("resolvers", spec.resolvers(), errors);
}

// CheckType::target of a type whose spec is an endpoint: "host:port".
// `spec` is the spec's accessor, e.g. EndpointTarget<&v1::Check::tcp>.
template <auto spec>
std::string EndpointTarget(const v1::Check& check) {
  const auto& endpoint = (check.*spec)();
  return common::FormatHostPort(endpoint.host(), endpoint.port());
}

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_SPEC_RULES_H_
