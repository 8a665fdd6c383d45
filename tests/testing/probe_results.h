// Probe results as a prober sends them, for tests that store or feed
// synthetic result streams (detection, the result feed, rebuilds).
// Header-only, pure; any thread.
#ifndef SONDE_TESTS_TESTING_PROBE_RESULTS_H_
#define SONDE_TESTS_TESTING_PROBE_RESULTS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "common/proto_time.h"
#include "sonde/v1/result.pb.h"

namespace sonde::testing {

// One HTTP run of `check` (of `service`) by `prober` in `region`, started
// `start`, taking 1 ms: 200 and OK, or (`fails`) 503 and HTTP_STATUS.
inline v1::ProbeResult HttpResult(const std::string& check, const std::string& service,
                                  const std::string& prober, const std::string& region,
                                  uint64_t seq, absl::Time start, bool fails = false) {
  v1::ProbeResult r;
  r.set_check_id(check);
  r.set_service(service);
  r.set_kind("http");
  r.set_prober_id(prober);
  r.set_region(region);
  r.set_seq(seq);
  common::SetTimestamp(start, r.mutable_start_time());
  r.set_ok(!fails);
  r.set_failure_class(fails ? v1::FailureClass::HTTP_STATUS : v1::FailureClass::OK);
  r.set_http_status(fails ? 503 : 200);
  r.set_total_us(1000);
  return r;
}

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_PROBE_RESULTS_H_
