// Synthetic result streams for detector tests: a fleet of checks x regions
// probing on a FakeClock, with a test-supplied behaviour deciding what each
// request returns. Runs are scheduled like the prober does (a stable offset
// per check x region inside the interval, requests_per_run results sharing
// a start_time). Results are delivered either at once (event-time order is
// the detector's job) or, for "real time" runs, after a per-result delay,
// shuffled within each tick and with occasional duplicates, the way batches
// arrive from several probers. Single-threaded.
#ifndef SONDE_TESTS_UNIT_COLLECTOR_DETECT_STREAM_H_
#define SONDE_TESTS_UNIT_COLLECTOR_DETECT_STREAM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/detect/detector.h"
#include "common/clock.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::detect::testing {

// A minute-aligned start for scenarios.
// A 64-bit mixer (murmur3's finaliser): deterministic pseudo-randomness from
// a seed, so streams and their tests repeat exactly.
uint64_t Mix(uint64_t x);

inline absl::Time T0() { return absl::FromUnixSeconds(1700000040); }

v1::Check HttpCheck(const std::string& name, const std::string& service, const std::string& url,
                    absl::Duration interval, uint32_t requests_per_run = 1,
                    std::vector<std::string> resolvers = {});
v1::Check TcpCheck(const std::string& name, const std::string& service, const std::string& host,
                   int port, absl::Duration interval);
v1::Check TlsCheck(const std::string& name, const std::string& service, const std::string& host,
                   absl::Duration interval, uint32_t min_days_valid = 0);
v1::Check DnsCheck(const std::string& name, const std::string& service, const std::string& host,
                   absl::Duration interval, std::vector<std::string> resolvers = {});
v1::Config Fleet(std::vector<v1::Check> checks,
                 std::vector<std::string> regions = {"ams", "ber", "fra"});

// What a probe reports beyond class and timings, when it does.
struct OutcomeExtras {
  // The name failed and the last known address was tried.
  std::string fallback_address;
  v1::FailureClass::Code fallback_class = v1::FailureClass::UNSPECIFIED;
  int fallback_http_status = 0;
  // The server certificate (RFC 3339; "" none).
  std::string cert_not_after;
  std::string chain_not_after;
  int cert_days_left = 0;
  // ProbeResult.ok as sent; unset: cls == OK. The detector must ignore it.
  std::optional<bool> ok;
};

// Extras of a probe whose name failed and whose last known address was
// tried: `address` answered with `cls` (and `http_status`).
OutcomeExtras FallbackTo(std::string address, v1::FailureClass::Code cls, int http_status);

// What one request returns. Defaults: OK with ~60-80 ms of phases.
struct Outcome {
  v1::FailureClass::Code cls = v1::FailureClass::OK;
  // Must outlive the run (static text or owned by the test).
  absl::string_view detail;
  uint32_t dns_us = 2000;
  uint32_t connect_us = 5000;
  uint32_t tls_us = 10000;
  uint32_t first_byte_us = 40000;
  uint32_t total_us = 0;  // 0: sum of the phases
  int http_status = 200;
  // Rarely set fields (DNS fallback, certificate); must outlive the run.
  // A pointer keeps Outcome small: the replay moves millions of them.
  const struct OutcomeExtras* extras = nullptr;
  bool skip = false;  // the prober sends nothing
};

struct RunContext {
  int check;   // index into config.checks()
  int region;  // index into config.regions()
  const std::string& check_name;
  const std::string& region_name;
  absl::Time start;
  uint32_t request;
  uint64_t hash;  // deterministic per (check, region, start, request)
};

using Behavior = std::function<void(const RunContext&, Outcome*)>;

struct DriverOptions {
  absl::Duration tick = absl::Milliseconds(100);  // fake clock step between Tick()s
  // Real-time mode: each result is delivered after start + total + a delay
  // in [0, max_delivery_delay), results of one tick in shuffled order, and
  // duplicate_every-th result sent twice (0: never).
  bool real_time = false;
  absl::Duration max_delivery_delay = absl::Milliseconds(900);
  int duplicate_every = 0;
};

struct TimedEvent {
  absl::Time tick;  // fake clock time when Tick() returned it
  IncidentEvent event;
};

class StreamDriver {
 public:
  StreamDriver(v1::Config config, DetectorOptions options, DriverOptions driver = {},
               absl::Time start = T0());
  ~StreamDriver();

  void set_behavior(Behavior behavior) { behavior_ = std::move(behavior); }
  // Probes and ticks until the clock reaches `end`.
  void RunUntil(absl::Time end);

  Detector& detector() { return *detector_; }
  common::FakeClock& clock() { return clock_; }
  absl::Time now() const { return clock_.Now(); }
  const std::vector<TimedEvent>& events() const { return events_; }
  uint64_t results_sent() const { return results_sent_; }

  // Events of one incident kind (any event kind), in order.
  std::vector<TimedEvent> EventsOf(IncidentKind kind) const;
  // Tick time of the first OPENED event of `kind` at or after `since`;
  // InfiniteFuture when none.
  absl::Time FirstOpened(IncidentKind kind, absl::Time since = absl::InfinitePast()) const;
  // Every event, one per line (test failure messages).
  std::string Dump() const;

 private:
  struct Pending;
  void Generate(absl::Time until);
  void Deliver(absl::Time until);
  void Send(const Pending& p);

  v1::Config config_;
  DriverOptions driver_;
  common::FakeClock clock_;
  std::unique_ptr<Detector> detector_;
  Behavior behavior_;
  // Min-heap of (next run, series).
  std::vector<std::pair<int64_t, uint32_t>> schedule_;
  std::vector<int64_t> interval_us_;        // per check
  std::vector<uint32_t> requests_per_run_;  // per check
  std::vector<Pending> in_flight_;          // min-heap by delivery time
  std::vector<TimedEvent> events_;
  v1::ProbeResult scratch_;
  uint64_t seq_ = 0;
  uint64_t results_sent_ = 0;
};

}  // namespace sonde::detect::testing

#endif  // SONDE_TESTS_UNIT_COLLECTOR_DETECT_STREAM_H_
