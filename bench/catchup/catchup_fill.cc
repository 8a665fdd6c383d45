// sonde-bench-catchup-fill: writes the spool a prober would have after an
// outage -- `--checks` HTTP checks at 1 s for `--minutes` minutes, in
// batches of 500 as the uplink forms them -- into --spool-dir, with the
// prober's own Spool class, so that bench/catchup/run.sh can time how fast
// a real sonde-prober started on that spool gets it all committed by a real
// sonde-collector. Prints one line: `<results> <first seq> <last seq>`.
//
// The results look like the prober's HTTP results (ids, target, timings,
// status, address); their start times cover the `--minutes` before now and
// their seqs and batch_seqs lie below the clock in microseconds, so the
// prober started afterwards numbers its own results above them.
// Single-threaded; bounded by --checks x --minutes x 60 results.
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "prober/uplink/spool.h"

namespace {

constexpr char kUsage[] =
    R"(usage: sonde-bench-catchup-fill --spool-dir DIR --prober-id ID --region R [flags]

Writes the backlog a prober spools during an outage (bench/catchup/run.sh).)";

}  // namespace

int main(int argc, char** argv) {
  std::string spool_dir, prober_id = "bench-catchup", region = "fra";
  int64_t checks = 200, minutes = 5, batch = 500;
  sonde::common::FlagSet flags("sonde-bench-catchup-fill", kUsage);
  flags.String("spool-dir", &spool_dir, "Spool directory to fill (created).");
  flags.String("prober-id", &prober_id, "Prober id of the batches.");
  flags.String("region", &region, "Region of the batches.");
  flags.Int("checks", &checks, "Checks at 1 s.");
  flags.Int("minutes", &minutes, "Minutes of backlog.");
  flags.Int("batch", &batch, "Results per batch.");
  auto args = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (!args.ok() || spool_dir.empty() || checks <= 0 || minutes <= 0 || batch <= 0) {
    std::cerr << "sonde-bench-catchup-fill: "
              << (args.ok() ? "--spool-dir and positive counts are needed"
                            : std::string(args.status().message()))
              << "\n";
    return 2;
  }
  sonde::prober::Spool::Options so;
  so.dir = spool_dir;
  so.max_bytes = 4ull << 30;
  auto spool = sonde::prober::Spool::Open(so);
  if (!spool.ok()) {
    std::cerr << "sonde-bench-catchup-fill: " << spool.status().message() << "\n";
    return 1;
  }
  const int64_t total = checks * minutes * 60;
  const absl::Time start = absl::Now() - absl::Minutes(minutes);
  // Below any seq the prober takes from the clock once it starts.
  const uint64_t first_seq = static_cast<uint64_t>(absl::ToUnixMicros(start));
  uint64_t seq = first_seq;
  uint64_t batch_seq = first_seq;
  sonde::v1::ResultBatch b;
  auto flush = [&]() -> bool {
    if (b.results_size() == 0) {
      return true;
    }
    b.set_prober_id(prober_id);
    b.set_region(region);
    b.set_batch_seq(batch_seq++);
    absl::Status st = (*spool)->Append(b);
    if (!st.ok()) {
      std::cerr << "sonde-bench-catchup-fill: " << st.message() << "\n";
      return false;
    }
    b.Clear();
    return true;
  };
  for (int64_t i = 0; i < total; ++i) {
    const int64_t check = i % checks;
    const absl::Time t =
        start + absl::Seconds(i / checks) + absl::Milliseconds(check * 1000 / checks);
    sonde::v1::ProbeResult* r = b.add_results();
    r->set_check_id(absl::StrCat("web-", check));
    r->set_service("bench");
    r->set_kind("http");
    r->set_prober_id(prober_id);
    r->set_region(region);
    r->set_seq(seq++);
    r->mutable_start_time()->set_seconds(absl::ToUnixSeconds(t));
    r->mutable_start_time()->set_nanos(static_cast<int32_t>(absl::ToUnixNanos(t) % 1000000000));
    r->set_ok(true);
    r->set_failure_class(sonde::v1::FailureClass::OK);
    r->set_connect_us(180 + check % 40);
    r->set_first_byte_us(900 + check % 300);
    r->set_total_us(1100 + check % 400);
    r->set_target(absl::StrCat("http://127.0.0.1:8080/web/", check));
    r->set_resolved_address("127.0.0.1:8080");
    r->set_http_status(200);
    r->set_body_bytes(2);
    if (b.results_size() >= batch && !flush()) {
      return 1;
    }
  }
  if (!flush()) {
    return 1;
  }
  (*spool)->Sync();
  std::cout << total << " " << first_seq << " " << seq - 1 << "\n";
  return 0;
}
