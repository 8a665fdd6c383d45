// Step batches: the stored results of the cluster-mode detection tests of
// this folder, one run of every check of a config in one region per 10 s
// step, from that region's prober, failing where the test says; and their
// fixture (a migrated store with no incidents, leases or members, steps
// starting ten minutes ago). Header only; one test thread.
#ifndef SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_STEP_BATCHES_H_
#define SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_STEP_BATCHES_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/probe_results.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {

// The time between two steps.
inline constexpr absl::Duration kStepInterval = absl::Seconds(10);

// Whether `check` fails in `region` at step k (t = start + k x interval).
using Failing = std::function<bool(const std::string& check, const std::string& region, int k)>;

// One run of every check of `config` in `region` at step k, from that
// region's prober (<prober_prefix><region>).
inline v1::ResultBatch StepBatch(const v1::Config& config, const std::string& prober_prefix,
                                 const std::string& region, absl::Time start, int k,
                                 const Failing& fails) {
  v1::ResultBatch b;
  const std::string prober = absl::StrCat(prober_prefix, region);
  b.set_prober_id(prober);
  b.set_region(region);
  b.set_batch_seq(static_cast<uint64_t>(k) + 1);
  uint64_t seq = static_cast<uint64_t>(k) * 10;
  for (const v1::Check& c : config.checks()) {
    *b.add_results() =
        sonde::testing::HttpResult(c.name(), c.service(), prober, region, seq++,
                                   start + k * kStepInterval, fails(c.name(), region, k));
  }
  return b;
}

class StoredStepsTest : public sonde::testing::MigratedStoreTest {
 protected:
  void SetUp() override {
    MigratedStoreTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    ASSERT_OK(db_.Query("TRUNCATE outbox, incident_events, incidents, shard_leases,"
                        " collector_members, cluster_config")
                  .status());
  }

  const std::string conninfo_ = sonde::testing::PostgresEnvironment::conninfo();
  sonde::testing::Db db_{conninfo_};
  // Ten minutes ago, on an interval boundary: a rebuild (16 min) covers it all.
  const absl::Time start_ =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 10 * 10) - absl::Minutes(10);
  const std::string prober_ = absl::StrCat("st-", absl::ToUnixNanos(absl::Now()), "-");
};

}  // namespace sonde::collector

#endif  // SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_STEP_BATCHES_H_
