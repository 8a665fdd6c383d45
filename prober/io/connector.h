// Connector: resolves a host with the DnsResolver and opens a non-blocking
// TCP connection to it on the EventLoop, bound to the prober's source
// address. Shared by the TCP and TLS probes; the connection is then theirs.
// When the name fails but resolved before, it connects to the last known
// address and says so (the caller reports the DNS class with that evidence).
// Loop thread only; the callback runs on the loop thread, never inside
// Connect(). Destroying the Connector cancels a pending connect silently.
#ifndef SONDE_PROBER_IO_CONNECTOR_H_
#define SONDE_PROBER_IO_CONNECTOR_H_

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>

#include "prober/probes/dns_fallback.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

struct Connection {
  int fd = -1;  // connected socket (owned by the receiver) or -1
  v1::FailureClass::Code failure_class = v1::FailureClass::OK;
  std::string detail;
  std::string address;  // the IP connected (or tried)
  uint32_t dns_us = 0;
  uint32_t connect_us = 0;
  std::string rcode;
  // Used when the name failed to resolve; `address` is then its last known
  // address (fallback.address too).
  DnsFallback fallback;
};

class Connector {
 public:
  using Callback = std::function<void(Connection)>;
  explicit Connector(ProbeEnv* env) : env_(env) {}
  ~Connector() { Cancel(); }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // `connect_only`: the caller only wants to know whether the connection is
  // made; the Connector then closes the socket itself as soon as it is (the
  // Connection's fd is -1) and sets no TCP_NODELAY, since nothing is sent.
  void Connect(const std::string& host, int port, const std::string& resolvers,
               common::EventLoop::MonoTime deadline, bool connect_only, Callback cb);
  // Stops a pending resolve/connect without calling back.
  void Cancel();
  // True while resolving (false once connecting).
  bool resolving() const { return state_ != nullptr && state_->resolving; }

 private:
  struct State {
    bool resolving = true;
    bool cancelled = false;
    bool connect_only = false;
    bool starting = false;  // inside Connect() (Finish then calls back later)
    int fd = -1;
    Connection conn;
    Callback cb;
    common::EventLoop::MonoTime connect_start;
    int port = 0;
    // The address to connect to, once parsed (addr_len 0: not yet).
    sockaddr_storage addr;
    socklen_t addr_len = 0;
  };
  void StartConnect(std::shared_ptr<State> s);
  void Finish(std::shared_ptr<State> s);

  ProbeEnv* env_;
  std::shared_ptr<State> state_;  // the run's; from SparePool<State>
};

// Maps a socket errno from connect() to the TCP failure class.
v1::FailureClass::Code ClassifyConnectErrno(int err);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_IO_CONNECTOR_H_
