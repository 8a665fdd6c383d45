// ConnectedProbe: the base of probes that speak over one TCP connection (tcp,
// tls). The base owns a run's bookkeeping: resolve and connect through the
// Connector, the socket, the result's timing and addresses, the DNS
// last-known-address fallback, the phase-specific timeouts on Abort() and
// calling `done` exactly once. A subclass owns one protocol exchange on the
// connected socket: it starts in OnConnected(), calls Finish() when it has a
// verdict, says in AbortExchange() what an unfinished exchange means, and
// releases its own per-run state in ReleaseExchange().
//
// Loop thread only, like every probe (probe.h): Finish() and the callbacks
// run on the loop thread; `done` is never called from inside Run().
#ifndef SONDE_PROBER_PROBES_CONNECTED_PROBE_H_
#define SONDE_PROBER_PROBES_CONNECTED_PROBE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "prober/io/connector.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

class ConnectedProbe : public Probe {
 public:
  ~ConnectedProbe() override;
  ConnectedProbe(const ConnectedProbe&) = delete;
  ConnectedProbe& operator=(const ConnectedProbe&) = delete;

  void Run(common::EventLoop::MonoTime deadline, Done done) final;
  void Abort() final;

 protected:
  // Where to connect: host, port and the check's resolvers ("" = system's).
  struct Endpoint {
    std::string host;
    int port = 0;
    std::string resolvers;
  };
  ConnectedProbe(const v1::Check& check, ProbeEnv* env, Endpoint endpoint);

  // A run starts: reset per-run state. Returns false, with a class and detail,
  // when the run cannot start (it then finishes at once, after Run returns).
  virtual bool BeginExchange(v1::FailureClass::Code* fc, std::string* detail) { return true; }
  // Whether a run only connects (nothing sent or read): the socket is then
  // closed as soon as it is connected, and OnConnected() sees fd() == -1.
  virtual bool ConnectOnly() const { return false; }
  // Connected: `fd()` is the socket (non-blocking, owned by the base), or -1
  // for a ConnectOnly() probe.
  virtual void OnConnected() = 0;
  // The deadline passed while connected: the class and text for that phase.
  virtual void AbortExchange(v1::FailureClass::Code* fc, std::string* detail) = 0;
  // The run is over: free the exchange's resources (before the socket is
  // closed) and add what it measured to `result()`.
  virtual void ReleaseExchange() {}

  // Ends the run with `fc` (the class of what happened at the address tried)
  // and `detail`, which is read before the exchange is released (it may be
  // a view of the subclass's state). No-op when no run is active.
  void Finish(v1::FailureClass::Code fc, absl::string_view detail);

  const v1::Check& check() const { return check_; }
  ProbeEnv* env() const { return env_; }
  int fd() const { return fd_; }
  bool active() const { return active_; }
  v1::ProbeResult& result() { return *result_; }  // while active()
  // The address connected to.
  const std::string& address() const { return conn_.address; }

 private:
  void OnConnection(Connection c);
  void CloseFd();

  const v1::Check& check_;  // the Scheduler entry's (probe.h)
  ProbeEnv* const env_;
  const Endpoint endpoint_;
  const std::string target_;  // ProbeResult.target, made once
  Connector connector_;
  // The active run.
  bool active_ = false;
  Done done_;
  int fd_ = -1;
  std::unique_ptr<v1::ProbeResult> result_;  // the pool's, while a run is active
  common::EventLoop::MonoTime start_;
  Connection conn_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_CONNECTED_PROBE_H_
