// IcmpProbe: ICMP echo ("ping"). Each run resolves the host with c-ares
// (an IP literal answers at once), picks an address of the configured IP
// version, then sends `count` echo requests `interval_between` apart on one
// non-blocking ICMP socket (echo_socket.h) registered with the EventLoop,
// and ends when every request is answered (or reported unreachable), or at
// the check's deadline. One result per run: sent/received counts, the loss
// share and the RTT minimum, average and maximum over the answered echoes.
//
// Classes: OK (every echo answered), ICMP_LOSS (some lost), ICMP_TIMEOUT
// (no reply at all), ICMP_UNREACHABLE (no reply, and a destination
// unreachable error or EHOSTUNREACH/ENETUNREACH), DNS_* when the name fails
// (when it resolved before, its last known address is pinged anyway and the
// fallback fields say how that went), PROBER_ERROR when no ICMP socket can
// be opened.
//
// Loop thread only (Probe contract); no locks.
#ifndef SONDE_PROBER_PROBES_ICMP_ICMP_PROBE_H_
#define SONDE_PROBER_PROBES_ICMP_ICMP_PROBE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "prober/io/dns_resolver.h"
#include "prober/probes/dns_fallback.h"
#include "prober/probes/icmp/echo_socket.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

// The class of a run that sent `sent` requests, got `received` replies and
// `unreachable` unreachable errors (the rest are lost). Exposed for tests.
v1::FailureClass::Code ClassifyEchoes(int sent, int received, int unreachable);

class IcmpProbe : public Probe {
 public:
  // `mode` chooses the socket kind; tests force one, the registry uses kAuto.
  IcmpProbe(const v1::Check& check, ProbeEnv* env, icmp::SocketMode mode = icmp::SocketMode::kAuto);
  ~IcmpProbe() override;
  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

 private:
  // One echo request of the run.
  struct Echo {
    common::EventLoop::MonoTime sent_at;
    bool sent = false;
    bool answered = false;
    bool unreachable = false;
    int64_t rtt_us = 0;
  };
  // Outlives the probe in callbacks it cannot cancel (the resolver's).
  struct RunToken {
    bool cancelled = false;
  };

  void OnResolved(DnsResolver::HostAnswer answer);
  void SendNext();
  void OnSocketEvents(uint32_t events);
  void ReadReplies();
  void ReadErrors();
  void NoteUnreachable(uint16_t seq, std::string why);
  bool AllSettled() const;
  // Ends the run with the class the echoes so far give.
  void FinishWithEchoes(bool deadline_passed);
  void Finish(v1::FailureClass::Code fc, std::string detail);
  void StopIo();

  const v1::Check& check_;  // the Scheduler entry's (probe.h)
  ProbeEnv* env_;
  icmp::SocketMode mode_;
  // The active run.
  bool active_ = false;
  Done done_;
  std::shared_ptr<RunToken> token_;
  common::EventLoop::MonoTime start_;
  common::EventLoop::MonoTime deadline_;
  std::optional<icmp::EchoSocket> socket_;
  std::optional<icmp::IpAddress> target_;
  DnsFallback fallback_;  // used when the name failed but resolved before
  uint16_t id_ = 0;
  uint16_t seq_base_ = 0;
  std::vector<Echo> echoes_;
  size_t next_ = 0;  // the next echo to send
  std::string unreachable_why_;
  std::string send_error_;
  common::EventLoop::TimerId send_timer_ = 0;
  common::EventLoop::TimerId deadline_timer_ = 0;
  std::vector<uint8_t> buffer_;
  std::unique_ptr<v1::ProbeResult> result_;  // the pool's, while a run is active
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_ICMP_ICMP_PROBE_H_
