// ProberUnderTest: one prober wired as prober/app.cc wires it (EventLoop,
// DnsResolver, CurlMulti, Scheduler with MakeProbe), for tests that run a
// check once through the production path: deadlines, aborts and `ok` come
// from the Scheduler. Test thread only; Run() runs the loop on the caller's
// thread until the check reported (bounded by its timeout + 10 s).
#ifndef SONDE_TESTS_UNIT_PROBER_PROBES_PROBER_UNDER_TEST_H_
#define SONDE_TESTS_UNIT_PROBER_PROBES_PROBER_UNDER_TEST_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config/config.h"
#include "common/event_loop.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "prober/io/curl_multi.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/registry.h"
#include "prober/sched/scheduler.h"

namespace sonde::prober {

// One prober: loop, resolver, curl multi and scheduler, as prober/app.cc
// wires them. Run() runs one check once and returns its results.
class ProberUnderTest {
 public:
  explicit ProberUnderTest(const std::string& source_address = "") {
    EXPECT_TRUE(loop_.Init().ok());
    auto resolver = DnsResolver::Create(&loop_, source_address);
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = *std::move(resolver);
    auto curl = CurlMulti::Create(&loop_);
    EXPECT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    // Pooled result messages, as in sonde-prober: a run after another fills
    // the messages of the one before (nothing of it may show).
    env_ = ProbeEnv{&loop_, resolver_.get(), curl_.get(), source_address, nullptr, &pool_};
    Scheduler::Options o;
    o.prober_id = "test-prober";
    o.region = "lo";
    scheduler_ = std::make_unique<Scheduler>(
        &loop_, common::RealClock(), [this](const v1::Check& c) { return MakeProbe(c, &env_); },
        Stamped([this](v1::ProbeResult r) { results_.push_back(std::move(r)); }), o);
  }

  // `started`, when given, runs after the run started and before the loop
  // runs (on this thread): tests use it to Post() work that interleaves
  // with the probe's first steps.
  std::vector<v1::ProbeResult> Run(const v1::Check& check,
                                   const std::function<void()>& started = nullptr) {
    results_.clear();
    scheduler_->SetChecks({check});
    bool done = false;
    scheduler_->RunOnce([&] {
      done = true;
      loop_.Stop();
    });
    if (started) {
      started();
    }
    auto limit =
        std::chrono::microseconds(absl::ToInt64Microseconds(common::ToDuration(check.timeout()))) +
        std::chrono::seconds(10);
    auto safety = loop_.RunAfter(limit, [&] { loop_.Stop(); });
    loop_.Run();
    loop_.Cancel(safety);
    EXPECT_TRUE(done) << "the check did not report within its timeout + 10 s";
    return std::move(results_);
  }

  // Probes from now on judge their addresses by `policy` (probe.h).
  void set_policy(common::ProbePolicy policy) {
    policy_ = std::move(policy);
    env_.policy = &policy_;
  }

  Scheduler& scheduler() { return *scheduler_; }
  common::EventLoop& loop() { return loop_; }

 private:
  common::EventLoop loop_;
  std::unique_ptr<DnsResolver> resolver_;
  std::unique_ptr<CurlMulti> curl_;
  common::ProbePolicy policy_;
  ResultPool pool_;
  ProbeEnv env_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<v1::ProbeResult> results_;
};

}  // namespace sonde::prober

#endif  // SONDE_TESTS_UNIT_PROBER_PROBES_PROBER_UNDER_TEST_H_
