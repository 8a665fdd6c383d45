// Probe: one check's protocol exchange. A Probe object lives as long as its
// check is configured; each Run() is one probe run that yields one result
// (or several: an HTTP check with requests_per_run N yields N). A probe
// keeps a reference to the v1::Check it was made from, not a copy (a copy
// per probe held every check twice in memory): the caller keeps that check
// alive and unchanged for the probe's lifetime (the Scheduler's entry holds
// both, the check declared first).
//
// Probes are confined to the loop thread and need no locks. Scheduling,
// deadlines, overlap prevention and bookkeeping (ids, region, seq, start time)
// live once, in the Scheduler; a probe only fills what it measured.
#ifndef SONDE_PROBER_PROBES_PROBE_H_
#define SONDE_PROBER_PROBES_PROBE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "common/event_loop.h"
#include "common/probe_policy.h"
#include "prober/probes/result_pool.h"
#include "prober/probes/result_text.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

class CurlMulti;
class DnsResolver;

// What probes share; owned by the Prober, outlives every probe.
struct ProbeEnv {
  common::EventLoop* loop = nullptr;
  DnsResolver* resolver = nullptr;
  CurlMulti* curl = nullptr;
  std::string source_address;  // bind probes here; "" = kernel's choice
  // Addresses probes may connect to; null or disabled = any. Every probe
  // asks it with the address it is about to connect to (after resolution,
  // on every redirect hop) and reports a refusal as PROBER_POLICY.
  const common::ProbePolicy* policy = nullptr;
  // Where probes take their result messages (null: new ones) and give
  // them back after each run's `done` returned.
  ResultPool* results = nullptr;
};

// A new, empty result for a run (from the env's pool when it has one). Give
// it back with DeliverResults (or GiveResult when it is not delivered).
inline std::unique_ptr<v1::ProbeResult> NewResult(const ProbeEnv& env) {
  return env.results == nullptr ? std::make_unique<v1::ProbeResult>() : env.results->Take();
}

// Returns a result taken with NewResult to the env's pool (freed without one).
inline void GiveResult(const ProbeEnv& env, std::unique_ptr<v1::ProbeResult> result) {
  if (env.results != nullptr) {
    env.results->Give(std::move(result));
  }
}

// The policy's verdict on `ip` (OK when `env` has no policy).
inline absl::Status CheckProbePolicy(const ProbeEnv& env, absl::string_view ip) {
  return env.policy == nullptr ? absl::OkStatus() : env.policy->Check(ip);
}

class Probe {
 public:
  // A run's results, lent to `done` for the length of the call: it may
  // change them (the Scheduler stamps its fields) and copies what it keeps;
  // the probe reuses the messages afterwards. No vector and no message moves
  // per run.
  using Results = absl::Span<v1::ProbeResult* const>;
  using Done = std::function<void(Results)>;
  virtual ~Probe() = default;

  // Starts one run that must finish by `deadline`. `done` is called exactly
  // once, on the loop thread, never from inside Run(). A failed target is a
  // result with a failure class, not an error.
  virtual void Run(common::EventLoop::MonoTime deadline, Done done) = 0;

  // The run's deadline passed: stop all I/O now and call `done` at once with
  // a timeout class for what did not finish. No-op when no run is active.
  virtual void Abort() = 0;
};

// The tail of every probe run: moves `*done` out first (the callback may
// start the next run) and hands it `results`. The last line of defence
// against target bytes a probe did not make safe: every string field is
// checked and, if need be, repaired and counted (result_text.h).
inline void DeliverResults(Probe::Done* done, Probe::Results results) {
  for (v1::ProbeResult* r : results) {
    RepairResultText(r);
  }
  Probe::Done call = std::move(*done);
  call(results);
}

// DeliverResults for a run that produced one result taken with NewResult:
// `*result` is taken (null afterwards) and goes back to the env's pool once
// `done` returned.
inline void DeliverResult(const ProbeEnv& env, Probe::Done* done,
                          std::unique_ptr<v1::ProbeResult>* result) {
  std::unique_ptr<v1::ProbeResult> r = std::move(*result);
  v1::ProbeResult* p = r.get();
  DeliverResults(done, Probe::Results(&p, 1));
  GiveResult(env, std::move(r));
}

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_PROBE_H_
