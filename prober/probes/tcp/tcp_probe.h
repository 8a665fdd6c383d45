// TcpProbe: connect with a deadline; optionally send bytes and read a banner
// (bounded by max_banner_bytes and the deadline) and match it against a
// regular expression. SSH, SMTP and FTP banners work. The connect and the
// run's bookkeeping are ConnectedProbe's. Loop thread only.
#ifndef SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
#define SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_

#include <optional>
#include <string>

#include "common/user_regex.h"
#include "prober/probes/connected_probe.h"

namespace sonde::prober {

// The banner as shown to people: printable ASCII; line ends as \n (CRs and
// trailing line ends dropped), backslashes doubled, other bytes as \xNN, so
// the text can be read back unambiguously. At most `max` characters plus one
// escape. Exposed for tests and fuzzing.
std::string PrintableBanner(const std::string& raw, size_t max);

class TcpProbe : public ConnectedProbe {
 public:
  TcpProbe(const v1::Check& check, ProbeEnv* env);

 private:
  bool BeginExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  void OnConnected() override;
  void AbortExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  void ReleaseExchange() override;
  void OnReadable();

  std::optional<common::UserRegex> expect_;  // compiled once, matched on every read
  // A pattern RE2 refused (a config this version did not validate): each run
  // is then PROBER_ERROR with this text, without connecting.
  std::string pattern_error_;
  std::string banner_;  // the active run's bytes so far
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
