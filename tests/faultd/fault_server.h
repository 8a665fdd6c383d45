// FaultServer: sonde-faultd as a library. A fault target server on loopback
// whose HTTP, HTTPS, TLS-only, TCP-banner, DNS (UDP + TCP) and gRPC health
// listeners misbehave as the current rules say, plus a small HTTP control listener
// (PUT/GET /rules, GET /stats, POST /reset-stats) and an optional
// "never accepts" listener for connect timeouts. See README.md.
//
// Threads: Start() spawns one loop thread (common::EventLoop, epoll) that
// owns every socket, session and timer, except the gRPC health listener's,
// which gRPC's own threads serve (grpc_health.h). SetRulesJson(), RulesJson(),
// stats(), StatsJson() and ResetStats() are thread-safe and may be called
// from any thread while the server runs; Start() and Stop() from the owning
// thread only. Start() ignores SIGPIPE process-wide (writes to vanished
// clients must not kill the process).
//
// Ownership: the server owns its certificates, listeners and sessions;
// tests keep it alive for as long as they talk to it.
#ifndef SONDE_TESTS_FAULTD_FAULT_SERVER_H_
#define SONDE_TESTS_FAULTD_FAULT_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "tests/faultd/cert_kit.h"
#include "tests/faultd/grpc_health.h"
#include "tests/faultd/rules.h"
#include "tests/faultd/session_host.h"
#include "tests/faultd/sockets.h"
#include "tests/faultd/stats.h"
#include "tests/faultd/tls_server_context.h"

namespace sonde::faultd {

class DnsUdpEndpoint;
class StreamConnection;

struct FaultServerOptions {
  // Listen addresses ("127.0.0.1:0", "[::1]:8053", "8080"); "" = no such
  // listener. Loopback only; port 0 picks a free port (see ports()).
  std::string http_listen;
  std::string https_listen;
  std::string tls_listen;
  std::string tcp_listen;
  std::string dns_listen;  // UDP and TCP on the same port
  std::string control_listen;
  std::string blackhole_listen;  // accept queue kept full: connects time out
  std::string grpc_listen;       // grpc.health.v1.Health, plain text
  std::string grpcs_listen;      // the same over TLS with the `valid` certificate
  // Extra DNS names in the SAN of the valid/expiring/self_signed certs.
  std::vector<std::string> cert_names;
  // Initial rules (JSON as for PUT /rules); "" = none.
  std::string rules_json;
  // Caps.
  int max_connections = 4096;     // stream connections at once; more are closed at accept
  size_t max_pending_dns = 4096;  // delayed UDP answers waiting
  SessionLimits limits;
};

// Bound ports; 0 for listeners that are off.
struct ListenerPorts {
  int http = 0;
  int https = 0;
  int tls = 0;
  int tcp = 0;
  int dns = 0;
  int control = 0;
  int blackhole = 0;
  int grpc = 0;
  int grpcs = 0;

  // {"http": 8080, ...} with only the listeners that are on.
  std::string ToJson() const;
  std::map<std::string, int> ByName() const;
};

class FaultServer : private SessionHost {
 public:
  explicit FaultServer(FaultServerOptions options);
  ~FaultServer() override;  // Stop()s
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  // Generates certificates, installs the initial rules, binds every
  // configured listener and starts the loop thread. Returns once the
  // listeners accept connections. Call once.
  absl::Status Start();
  // Stops the loop thread and closes every socket. Idempotent.
  void Stop();

  const ListenerPorts& ports() const { return ports_; }
  // The address a listener is bound to (as configured, with the real port).
  const SocketAddress& address(ListenerKind kind) const {
    return addresses_[static_cast<int>(kind)];
  }
  const CertKit& certs() const { return *certs_; }
  const std::string& ca_pem() const { return certs_->ca_pem(); }

  // Replaces all rules (and restarts rule counters). Errors name the rule.
  absl::Status SetRulesJson(absl::string_view json);
  std::string RulesJson() const;
  StatsSnapshot stats() const;
  std::string StatsJson() const;
  void ResetStats();

 private:
  // SessionHost (loop thread).
  common::EventLoop& loop() override { return loop_; }
  const SessionLimits& limits() const override { return options_.limits; }
  faultd::Stats& counters() override { return stats_; }
  std::shared_ptr<const RuleSet> CurrentRules() override;
  absl::StatusOr<common::UniqueSsl> NewTlsSession(int fd, ClientHelloHandler* handler) override;
  ControlResponse HandleControl(const HttpRequest& request) override;
  void ConnectionClosed(StreamConnection* conn) override;

  absl::Status BindStream(ListenerKind kind, const std::string& listen);
  absl::Status BindDns(const std::string& listen);
  absl::Status BindBlackhole(const std::string& listen);
  absl::Status BindGrpc();
  void OnAcceptable(ListenerKind kind, int listen_fd);
  void InstallRules(std::unique_ptr<RuleSet> rules);

  FaultServerOptions options_;
  common::EventLoop loop_;
  std::thread thread_;
  bool started_ = false;
  bool running_ = false;

  std::unique_ptr<CertKit> certs_;
  std::unique_ptr<TlsServerContext> tls_;
  ListenerPorts ports_;
  SocketAddress addresses_[kListenerKindCount];
  std::vector<UniqueFd> listeners_;          // stream listeners (loop thread after Start)
  std::vector<UniqueFd> blackhole_fillers_;  // connections that keep the queue full
  std::unique_ptr<DnsUdpEndpoint> dns_udp_;
  std::unique_ptr<GrpcHealthListener> grpc_;

  // Loop thread only.
  absl::flat_hash_map<StreamConnection*, std::shared_ptr<StreamConnection>> connections_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const RuleSet> rules_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  faultd::Stats stats_;  // thread-safe on its own; generation changes under mu_
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_FAULT_SERVER_H_
