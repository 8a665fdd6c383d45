// sonde-bench-micro: Google Benchmark micro-benchmarks of the prober's hot
// paths, free of the noise of sockets and other processes (bench/run.sh
// measures the whole prober; this tells which part of a probe costs what).
//
//   sonde-bench-micro [--benchmark_filter=Timer]
//
// Every benchmark runs single-threaded on an EventLoop that is not otherwise
// busy; nothing touches the network.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/event_loop.h"
#include "common/result_json.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/dns/dns_probe.h"
#include "prober/sched/scheduler.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::bench {
namespace {

using common::EventLoop;

// A timer armed and cancelled before it fires: what curl does with its
// timer several times per transfer.
void BM_TimerArmCancel(benchmark::State& state) {
  EventLoop loop;
  if (!loop.Init().ok()) {
    state.SkipWithError("EventLoop::Init failed");
  }
  for (auto _ : state) {
    EventLoop::TimerId id = loop.RunAfter(std::chrono::seconds(1), [] {});
    loop.Cancel(id);
  }
}
BENCHMARK(BM_TimerArmCancel);

// Timers that fire: arm a batch due now, run the loop until all ran.
void BM_TimerFire(benchmark::State& state) {
  EventLoop loop;
  if (!loop.Init().ok()) {
    state.SkipWithError("EventLoop::Init failed");
  }
  const int batch = static_cast<int>(state.range(0));
  for (auto _ : state) {
    int left = batch;
    for (int i = 0; i < batch; ++i) {
      loop.RunAfter(std::chrono::microseconds(0), [&] {
        if (--left == 0) {
          loop.Stop();
        }
      });
    }
    loop.Run();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_TimerFire)->Arg(10)->Arg(1000);

// A probe that answers at once (through the loop, as real probes do).
class InstantProbe : public prober::Probe {
 public:
  explicit InstantProbe(EventLoop* loop) : loop_(loop) {}
  void Run(EventLoop::MonoTime, Done done) override {
    loop_->Post([done = std::move(done)] {
      v1::ProbeResult result;
      result.set_failure_class(v1::FailureClass::OK);
      result.set_detail("HTTP 200 from 127.0.0.1:8080");
      result.set_target("http://127.0.0.1:8080/");
      result.set_http_status(200);
      v1::ProbeResult* p = &result;
      done(prober::Probe::Results(&p, 1));
    });
  }
  void Abort() override {}

 private:
  EventLoop* loop_;
};

// The scheduler's share of a run: start, deadline timer, result stamping
// (ids, region, start time, class) and hand-off to the sink.
void BM_SchedulerRun(benchmark::State& state) {
  EventLoop loop;
  if (!loop.Init().ok()) {
    state.SkipWithError("EventLoop::Init failed");
  }
  const int checks = static_cast<int>(state.range(0));
  size_t results = 0;
  prober::Scheduler::Options opts;
  opts.prober_id = "bench-prober";
  opts.region = "bench";
  prober::Scheduler scheduler(
      &loop, common::RealClock(),
      [&](const v1::Check&) { return std::make_unique<InstantProbe>(&loop); },
      prober::Stamped([&](v1::ProbeResult r) { results += r.ok(); }), opts);
  std::vector<v1::Check> list;
  for (int i = 0; i < checks; ++i) {
    v1::Check c;
    c.set_name(absl::StrCat("http-", i));
    c.set_service("bench");
    c.mutable_http()->set_url("http://127.0.0.1:8080/");
    common::FromAbsl(absl::Hours(1), c.mutable_interval());
    common::FromAbsl(absl::Seconds(1), c.mutable_timeout());
    list.push_back(std::move(c));
  }
  scheduler.SetChecks(std::move(list));
  for (auto _ : state) {
    scheduler.RunOnce([&] { loop.Stop(); });
    loop.Run();
  }
  state.SetItemsProcessed(state.iterations() * checks);
  if (results != static_cast<size_t>(state.iterations() * checks)) {
    state.SkipWithError("missing results");
  }
}
BENCHMARK(BM_SchedulerRun)->Arg(1000);

v1::ProbeResult TypicalHttpResult(uint64_t seq) {
  v1::ProbeResult r;
  r.set_seq(seq);
  r.set_check_id("app-login");
  r.set_service("app");
  r.set_kind("http");
  r.set_prober_id("prober-fra-1");
  r.set_region("fra");
  r.mutable_start_time()->set_seconds(1763700000);
  r.mutable_start_time()->set_nanos(123456789);
  r.set_ok(true);
  r.set_failure_class(v1::FailureClass::OK);
  r.set_detail("HTTP 200 from 127.0.0.1:8080");
  r.set_target("http://127.0.0.1:8080/login");
  r.set_connect_us(85);
  r.set_first_byte_us(240);
  r.set_total_us(410);
  r.set_http_status(200);
  r.set_resolved_address("127.0.0.1");
  return r;
}

// What the uplink sends per batch (500 results), per result.
void BM_ResultBatchSerialize(benchmark::State& state) {
  v1::ResultBatch batch;
  batch.set_prober_id("prober-fra-1");
  batch.set_region("fra");
  for (int i = 0; i < 500; ++i) {
    *batch.add_results() = TypicalHttpResult(i);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    batch.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * batch.results_size());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_ResultBatchSerialize);

// A result copied, as a batch copy does per result.
void BM_ResultCopy(benchmark::State& state) {
  v1::ProbeResult r = TypicalHttpResult(1);
  for (auto _ : state) {
    v1::ProbeResult copy = r;
    benchmark::DoNotOptimize(&copy);
  }
}
BENCHMARK(BM_ResultCopy);

// The --once output line.
void BM_ResultJson(benchmark::State& state) {
  v1::ProbeResult r = TypicalHttpResult(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(common::ToJsonLine(r));
  }
}
BENCHMARK(BM_ResultJson);

// One resolver's answer judged: parse the packet, compare with the spec.
void BM_JudgeDnsAnswer(benchmark::State& state) {
  // bench.test. IN A -> 127.0.0.1, TTL 60, as sonde-faultd answers it.
  const unsigned char wire[] = {
      0x12, 0x34, 0x85, 0x80, 0,   1,   0, 1,   0,   0,   0,   0,                 // header
      5,    'b',  'e',  'n',  'c', 'h', 4, 't', 'e', 's', 't', 0, 0,   1, 0, 1,   // question
      0xc0, 0x0c, 0,    1,    0,   1,   0, 0,   0,   60,  0,   4, 127, 0, 0, 1};  // answer
  prober::DnsResolver::RawAnswer answer;
  answer.packet.assign(wire, wire + sizeof wire);
  v1::DnsSpec spec;
  spec.set_name("bench.test");
  spec.set_type("A");
  spec.add_expect_answers("127.0.0.1");
  for (auto _ : state) {
    v1::DnsResolverResult r = prober::JudgeDnsAnswer(spec, "127.0.0.1:53", answer);
    if (r.failure_class() != v1::FailureClass::OK) {
      state.SkipWithError("unexpected verdict");
    }
    benchmark::DoNotOptimize(&r);
  }
}
BENCHMARK(BM_JudgeDnsAnswer);

}  // namespace
}  // namespace sonde::bench

BENCHMARK_MAIN();
