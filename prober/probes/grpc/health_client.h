// GrpcHealthClient: asynchronous grpc.health.v1.Health/Check calls for the
// gRPC health probes of one EventLoop. Channels are created once per
// (target, TLS settings) and reused by every probe and run that names the
// same target; calls go out on a CompletionQueue that the client's own
// thread drains, and each answer is posted back to the loop, so the loop
// never waits on gRPC.
//
// Ownership and threads: probes share one client per loop through Shared()
// (it lives while a probe holds it); Check() and the channel cache are for
// the loop thread; the completion thread only reads finished calls and
// Post()s. Destroying the client cancels calls still out and joins the
// thread; their callbacks are then never run.
#ifndef SONDE_PROBER_PROBES_GRPC_HEALTH_CLIENT_H_
#define SONDE_PROBER_PROBES_GRPC_HEALTH_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/event_loop.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace sonde::prober {

// Where and how to call: the spec's target and TLS fields.
struct GrpcEndpoint {
  std::string target;  // "host:port" (any gRPC target URI)
  bool tls = false;
  std::string ca_file;      // PEM roots; "" = the system's
  std::string server_name;  // TLS name override; "" = the target's host
};

// What one Check call ended with.
struct GrpcCheckAnswer {
  grpc::Status status;
  grpc::health::v1::HealthCheckResponse::ServingStatus serving =
      grpc::health::v1::HealthCheckResponse::UNKNOWN;
};

class GrpcHealthClient {
 public:
  using Callback = std::function<void(GrpcCheckAnswer)>;
  // Identifies a call for Cancel(); 0 is never a call.
  using CallId = uint64_t;

  // The client of `loop`, created on first use. Loop thread.
  static std::shared_ptr<GrpcHealthClient> Shared(common::EventLoop* loop);

  explicit GrpcHealthClient(common::EventLoop* loop);
  ~GrpcHealthClient();
  GrpcHealthClient(const GrpcHealthClient&) = delete;
  GrpcHealthClient& operator=(const GrpcHealthClient&) = delete;

  // Calls Health/Check(service) on `endpoint` with `deadline`; `cb` runs on
  // the loop thread once the call ends (never inside Check()). An endpoint
  // that cannot be set up (an unreadable ca_file) is an error, and `cb` is
  // not called. Loop thread.
  absl::StatusOr<CallId> Check(const GrpcEndpoint& endpoint, const std::string& service,
                               std::chrono::system_clock::time_point deadline, Callback cb);
  // Asks gRPC to end the call now (it then ends CANCELLED). Any thread.
  void Cancel(CallId id);

  size_t channel_count() const { return channels_.size(); }

 private:
  struct Call;
  absl::StatusOr<grpc::health::v1::Health::Stub*> StubFor(const GrpcEndpoint& endpoint);
  void DrainCompletions();

  common::EventLoop* loop_;
  grpc::CompletionQueue cq_;
  std::thread thread_;
  // Loop thread only.
  std::map<std::string, std::unique_ptr<grpc::health::v1::Health::Stub>> stubs_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  CallId next_id_ = 1;

  absl::Mutex mu_;
  std::map<CallId, Call*> outstanding_ ABSL_GUARDED_BY(mu_);  // owned by the queue
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_GRPC_HEALTH_CLIENT_H_
