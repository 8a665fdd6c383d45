// The one place where grpc::Status and absl::Status meet. gRPC and Abseil
// share the canonical code numbering (both follow google.rpc.Code), so the
// conversion keeps the code and the message; every service handler that
// returns an absl::Status to a client, and every client (sondectl, the
// prober's uplink) that judges a gRPC answer, goes through these.
// Header-only, pure, any thread.
#ifndef SONDE_COMMON_GRPC_STATUS_H_
#define SONDE_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace sonde::common {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// `code` with the message of `status` (an absl error a handler maps to the
// code its contract promises, e.g. any auth failure -> UNAUTHENTICATED).
inline grpc::Status ToGrpcStatus(grpc::StatusCode code, const absl::Status& status) {
  return grpc::Status(code, std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_GRPC_STATUS_H_
