// TcpProbe: connect with a deadline; optionally send bytes and read a banner
// (bounded by max_banner_bytes and the deadline) and match it against a
// regular expression. SSH, SMTP and FTP banners work. The connect and the
// run's bookkeeping are ConnectedProbe's. Loop thread only.
#ifndef SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
#define SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/user_regex.h"
#include "prober/probes/connected_probe.h"

namespace sonde::prober {

// The banner as shown to people and stored: trailing line ends dropped, then
// SafeText (valid UTF-8, control characters escaped, at most `max` bytes).
// Exposed for tests and fuzzing.
std::string ShownBanner(absl::string_view raw, size_t max);

class TcpProbe : public ConnectedProbe {
 public:
  TcpProbe(const v1::Check& check, ProbeEnv* env);

 private:
  bool BeginExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  // Nothing to send and no banner to read: the socket closes once connected.
  bool ConnectOnly() const override { return check().tcp().send().empty() && !expect_; }
  void OnConnected() override;
  void AbortExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  void ReleaseExchange() override;
  void OnReadable();
  // Whether the banner read so far matches. Skips the search (false) while
  // the banner grew too little since the last one, unless `final`.
  bool BannerMatches(bool final);
  std::string MatchedDetail() const;

  std::optional<common::UserRegex> expect_;  // compiled once, matched on every read
  // A pattern RE2 refused (a config this version did not validate): each run
  // is then PROBER_ERROR with this text, without connecting.
  std::string pattern_error_;
  std::string banner_;   // the active run's bytes so far
  size_t searched_ = 0;  // banner_.size() at the last search
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_TCP_TCP_PROBE_H_
