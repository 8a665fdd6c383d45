// GrpcHealthProbe: calls grpc.health.v1.Health/Check(service) on the
// check's target, in plain text or over TLS (ca_file, server_name), with the
// check's deadline. SERVING is OK; any other serving status is
// GRPC_NOT_SERVING; a call that fails is GRPC_UNAVAILABLE (no connection,
// refused, TLS failure), GRPC_DEADLINE (no answer in time) or GRPC_STATUS
// (any other status, named in the detail). One result per run, with the
// gRPC status code and the serving status.
//
// The call is asynchronous (health_client.h: a completion-queue thread
// posts the answer back), so the loop never waits on gRPC; channels are
// shared per target. Loop thread only (Probe contract).
#ifndef SONDE_PROBER_PROBES_GRPC_GRPC_HEALTH_PROBE_H_
#define SONDE_PROBER_PROBES_GRPC_GRPC_HEALTH_PROBE_H_

#include <memory>
#include <string>

#include "prober/probes/grpc/health_client.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

// The class and detail of a finished call. Exposed for tests.
v1::FailureClass::Code ClassifyHealthAnswer(const GrpcCheckAnswer& answer, std::string* detail);

// A probe that runs `check` (whose spec is grpc) on the loop thread of `env`.
std::unique_ptr<Probe> NewGrpcHealthProbe(const v1::Check& check, ProbeEnv* env);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_GRPC_GRPC_HEALTH_PROBE_H_
