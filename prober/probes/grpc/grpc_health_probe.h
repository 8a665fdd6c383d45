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

class GrpcHealthProbe : public Probe {
 public:
  GrpcHealthProbe(const v1::Check& check, ProbeEnv* env);
  ~GrpcHealthProbe() override;
  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

 private:
  // Outlives the probe in the posted answer.
  struct RunToken {
    bool cancelled = false;
  };
  void OnAnswer(GrpcCheckAnswer answer);
  void Finish(v1::FailureClass::Code fc, std::string detail);

  v1::Check check_;
  ProbeEnv* env_;
  GrpcEndpoint endpoint_;
  std::shared_ptr<GrpcHealthClient> client_;
  // The active run.
  bool active_ = false;
  Done done_;
  std::shared_ptr<RunToken> token_;
  GrpcHealthClient::CallId call_ = 0;
  common::EventLoop::MonoTime start_;
  v1::ProbeResult result_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_GRPC_GRPC_HEALTH_PROBE_H_
