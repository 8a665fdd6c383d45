// GrpcHealthListener: faultd's gRPC health endpoint. Serves
// grpc.health.v1.Health/Check (proto/grpc/health/v1/health.proto) on
// loopback, in plain text and optionally over TLS with faultd's `valid`
// certificate, and answers as the current rules say: a serving status
// (SERVING by default), or a non-OK gRPC status instead, optionally after a
// delay. Watch is not implemented (clients get UNIMPLEMENTED).
//
// Threads: gRPC's callback threads run Check. They decide through `decide`
// and count into faultd's Stats, both thread-safe. A delay is a timer on
// faultd's EventLoop (posted to it), never a sleep; a delayed call whose
// client goes away (or whose deadline passes) is finished at once.
// Start() and Stop() run on the owning thread; Stop() must run while the
// loop still runs and before it is destroyed. The listener owns its
// grpc::Server; the loop and what `decide` uses are borrowed.
#ifndef SONDE_TESTS_FAULTD_GRPC_HEALTH_H_
#define SONDE_TESTS_FAULTD_GRPC_HEALTH_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/event_loop.h"
#include "tests/faultd/session_host.h"
#include "tests/faultd/sockets.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace sonde::faultd {

class GrpcHealthListener {
 public:
  // The first rule matching a context, counted against the current rule
  // set. Called on gRPC threads.
  using Decide = std::function<RuleMatch(const MatchContext&)>;
  // The TLS identity served on the TLS port.
  struct TlsIdentity {
    std::string cert_pem;
    std::string key_pem;
  };

  GrpcHealthListener(common::EventLoop* loop, Decide decide);
  ~GrpcHealthListener();  // Stop()s
  GrpcHealthListener(const GrpcHealthListener&) = delete;
  GrpcHealthListener& operator=(const GrpcHealthListener&) = delete;

  // Binds `plain` (when non-null) in plain text and `tls` (when non-null)
  // with `identity`, then starts serving. Port 0 picks a free port. Call once.
  absl::Status Start(const SocketAddress* plain, const SocketAddress* tls,
                     const TlsIdentity& identity);
  // Cancels calls still waiting for a delay and stops the server.
  // Idempotent.
  void Stop();

  int plain_port() const { return plain_port_; }
  int tls_port() const { return tls_port_; }

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int plain_port_ = 0;
  int tls_port_ = 0;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_GRPC_HEALTH_H_
