// sonde-bench-check-metrics: what the collector's per check x region series
// cost (collector/metrics/check_metrics.h): Observe for a 500-result batch
// (what each committed batch pays on its ingest thread, under the mutex) and
// AppendTo for a full registry (what one scrape of /metrics pays).
//
//   sonde-bench-check-metrics [--benchmark_filter=Render]
#include <benchmark/benchmark.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "collector/metrics/check_metrics.h"
#include "common/metrics.h"
#include "common/proto_time.h"

namespace sonde::bench {
namespace {

constexpr char kRegions[][4] = {"fra", "ams", "iad"};

// An HTTPS result: every phase measured, a certificate, 1 in 10 failing.
v1::ProbeResult HttpsResult(int check, int region, int i) {
  v1::ProbeResult r;
  r.set_check_id(absl::StrCat("check-", check));
  r.set_region(kRegions[region]);
  common::SetTimestamp(absl::FromUnixSeconds(1'800'000'000 + i), r.mutable_start_time());
  r.set_failure_class(i % 10 == 0 ? v1::FailureClass::HTTP_STATUS : v1::FailureClass::OK);
  r.set_dns_us(2'000 + i % 1000);
  r.set_connect_us(10'000 + i % 5000);
  r.set_tls_us(30'000 + i % 7000);
  r.set_first_byte_us(50'000 + i % 90'000);
  r.set_total_us(120'000 + i % 300'000);
  r.set_cert_not_after("2027-02-01T00:00:00Z");
  return r;
}

// `pairs` check x region pairs (checks x 3 regions), each seen 20 times.
void Fill(collector::CheckMetrics* m, int pairs) {
  for (int round = 0; round < 20; ++round) {
    v1::ResultBatch batch;
    for (int p = 0; p < pairs; ++p) {
      *batch.add_results() = HttpsResult(p / 3, p % 3, round * pairs + p);
      if (batch.results_size() == 500) {
        m->Observe(batch);
        batch.clear_results();
      }
    }
    m->Observe(batch);
  }
}

void BM_ObserveBatch500(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  collector::CheckMetrics m(static_cast<size_t>(pairs));
  Fill(&m, pairs);
  v1::ResultBatch batch;
  for (int i = 0; i < 500; ++i) {
    *batch.add_results() = HttpsResult((i * 7) % (pairs / 3), i % 3, i);
  }
  for (auto _ : state) {
    m.Observe(batch);
  }
  state.SetItemsProcessed(state.iterations() * 500);
}
BENCHMARK(BM_ObserveBatch500)->Arg(300)->Arg(5000);

void BM_Render(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  collector::CheckMetrics m(static_cast<size_t>(pairs));
  Fill(&m, pairs);
  size_t bytes = 0;
  for (auto _ : state) {
    common::MetricsText out;
    m.AppendTo(absl::FromUnixSeconds(1'800'000'000), &out);
    bytes = out.text().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["page_MiB"] = bytes / 1048576.0;
}
BENCHMARK(BM_Render)->Arg(300)->Arg(5000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sonde::bench

BENCHMARK_MAIN();
