// HttpProbe: HTTP(S) checks through the shared curl multi handle. The name is
// resolved by c-ares (never curl's resolver) and pinned with CURLOPT_RESOLVE,
// so a DNS failure is classified as DNS; when the name fails but an address
// was seen before, the server is still tried there and what it answered goes
// into the detail ("server at 192.0.2.10 answers 200").
// Loop thread only.
#ifndef SONDE_PROBER_PROBES_HTTP_HTTP_PROBE_H_
#define SONDE_PROBER_PROBES_HTTP_HTTP_PROBE_H_

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "common/curl_handles.h"
#include "common/net.h"
#include "common/user_regex.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

class HttpProbe : public Probe {
 public:
  HttpProbe(const v1::Check& check, ProbeEnv* env);
  ~HttpProbe() override;

  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

  // Maps a finished transfer to a failure class (exposed for tests).
  static v1::FailureClass::Code ClassifyCurl(CURLcode code, long os_errno, long verify_result,
                                             bool connected, bool tls_done, bool is_https);

 public:
  struct Request;  // one transfer; defined in the .cc

 private:
  struct RunState;
  // `now`: the loop's clock as the transfer starts.
  void StartRequest(const std::shared_ptr<RunState>& run, uint32_t index,
                    common::EventLoop::MonoTime now);
  void OnRequestDone(Request* req, CURLcode code);
  // Gives the run's transfers back to the multi's pool (stopping those
  // still running).
  void ReleaseRequests(RunState* run);
  void Evaluate(const RunState& run, Request* req, CURLcode code, v1::ProbeResult* r);
  void Finish(std::shared_ptr<RunState> run);
  // headers_, or the list every check without headers shares.
  curl_slist* RequestHeaders() const;

  const v1::Check& check_;  // the Scheduler entry's (probe.h)
  ProbeEnv* env_;
  const std::string target_;  // the results' target, made once
  common::Url url_;
  bool host_is_ip_ = false;  // url_.host is an address: nothing to resolve
  bool https_ = false;       // url_.scheme is https: TLS timings and certificates
  // Inline: most checks have one range (the default 200-399).
  absl::InlinedVector<common::StatusRange, 1> expect_status_;
  // Compiled once, here: the patterns are matched on every run.
  std::optional<common::UserRegex> expect_body_;
  std::vector<std::pair<std::string, common::UserRegex>> expect_headers_;
  // A pattern RE2 refused (a config this version did not validate, e.g. from
  // an older collector): each response is then PROBER_ERROR with this text.
  // Null for nearly every check: a pointer, not a string, per check.
  std::unique_ptr<const std::string> pattern_error_;
  // The check's own request headers (with the User-Agent unless it sets
  // one); null when it sets none.
  common::UniqueCurlSlist headers_;
  std::shared_ptr<RunState> active_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_HTTP_HTTP_PROBE_H_
