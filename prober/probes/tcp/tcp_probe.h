// TcpProbe: connect with a deadline; optionally send bytes and read a banner
// (bounded by max_banner_bytes and the deadline) and match it against a
// regular expression. SSH, SMTP and FTP banners work. Loop thread only.
#ifndef SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
#define SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_

#include <optional>
#include <regex>

#include "prober/probes/connector.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

// The banner as shown to people: printable ASCII; line ends as \n (CRs and
// trailing line ends dropped), backslashes doubled, other bytes as \xNN, so
// the text can be read back unambiguously. At most `max` characters plus one
// escape. Exposed for tests and fuzzing.
std::string PrintableBanner(const std::string& raw, size_t max);

class TcpProbe : public Probe {
 public:
  TcpProbe(const v1::Check& check, ProbeEnv* env);
  ~TcpProbe() override;
  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

 private:
  void OnConnected(Connection c);
  void OnReadable();
  void Finish(v1::FailureClass::Code fc, std::string detail);
  void CloseFd();

  v1::Check check_;
  ProbeEnv* env_;
  Connector connector_;
  std::optional<std::regex> expect_;
  // The active run.
  bool active_ = false;
  Done done_;
  int fd_ = -1;
  std::string banner_;
  v1::ProbeResult result_;
  common::EventLoop::MonoTime start_;
  Connection conn_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
