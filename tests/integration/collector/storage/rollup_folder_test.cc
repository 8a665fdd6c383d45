// The rollup folder (rollup_folder.h) against a real PostgreSQL: the
// rollups it writes after the batches equal those the batch transaction
// writes itself (every level, class counts, histograms, minutes with
// results), a batch is counted once whoever claims it, and batches a
// folder never wrote (a crash before its flush) are adopted from the stored
// results. Shares collector_rollup_test's PostgreSQL (rollup_read_test.cc
// registers the environment) and keeps to its own check ids.
#include "collector/storage/rollup_folder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "collector/storage/store.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {
namespace {

using FC = v1::FailureClass;

// A minute of one check's results from two regions, spread over 20
// latency buckets (more than one upsert window), failures, a prober error,
// and a late result three hours back; `prefix` names the checks.
std::vector<v1::ResultBatch> Batches(const std::string& prefix, absl::Time now) {
  std::vector<v1::ResultBatch> out;
  uint64_t seq = 0;
  for (const std::string region : {"fra", "iad"}) {
    for (int b = 0; b < 4; ++b) {
      v1::ResultBatch batch;
      batch.set_prober_id(absl::StrCat(prefix, "prober-", region));
      batch.set_region(region);
      batch.set_batch_seq(static_cast<uint64_t>(b + 1));
      for (int i = 0; i < 30; ++i) {
        v1::ProbeResult& r = *batch.add_results();
        r.set_check_id(absl::StrCat(prefix, "check-", i % 3));
        r.set_service("svc");
        r.set_kind("http");
        r.set_seq(++seq);
        const absl::Time start =
            (b == 3 && i == 0) ? now - absl::Hours(3) : now - absl::Seconds(50 - b * 10 - i % 10);
        r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
        const FC::Code cls = i % 11 == 5 ? FC::PROBER_ERROR : i % 7 == 3 ? FC::TCP_REFUSED : FC::OK;
        r.set_failure_class(cls);
        r.set_ok(cls == FC::OK);
        if (cls != FC::PROBER_ERROR) {
          r.set_dns_us(300 + 37 * static_cast<uint32_t>(i));
          r.set_total_us(200u << (i % 20));  // 200 us .. 100 s: 20 buckets
        }
        r.set_target("https://example.test/");
      }
      out.push_back(std::move(batch));
    }
  }
  return out;
}

class RollupFolderTest : public sonde::testing::MigratedStoreTest {
 protected:
  std::unique_ptr<Store> Connect(RollupFolder* folder) {
    StoreOptions options;
    options.rollup_folder = folder;
    auto store = Store::Connect(sonde::testing::PostgresEnvironment::conninfo(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  void Insert(Store* store, const std::vector<v1::ResultBatch>& batches) {
    for (const v1::ResultBatch& b : batches) {
      auto dup = store->InsertBatch(b);
      ASSERT_TRUE(dup.ok()) << dup.status();
      ASSERT_FALSE(*dup);
    }
  }

  // Every rollup row of the checks named `prefix`..., the prefix removed,
  // histograms with NULL read as 0 (what readers do).
  std::string Snapshot(const std::string& prefix) {
    std::vector<std::string> lines;
    for (const char* level : {"minute", "hour", "day"}) {
      const std::string hist =
          "array_to_string(array(SELECT coalesce(x, 0) FROM unnest($0) x), ',')";
      std::vector<std::string> hists;
      for (const char* h :
           {"dns_hist", "connect_hist", "tls_hist", "first_byte_hist", "total_hist"}) {
        hists.push_back(absl::StrReplaceAll(hist, {{"$0", h}}));
      }
      const std::string mwr = absl::StrCat(level) == "minute" ? "''" : "minutes_with_results";
      auto rows = store_->QueryColumn(
          absl::StrCat("SELECT concat_ws(' ', check_id, region, ", level,
                       ", service, probes, failures,"
                       " prober_errors, last_result, ",
                       mwr, ", ", absl::StrJoin(hists, ", "), ") FROM rollup_", level,
                       " WHERE check_id LIKE '", prefix, "%' ORDER BY 1"));
      EXPECT_TRUE(rows.ok()) << rows.status();
      auto classes = store_->QueryColumn(absl::StrCat(
          "SELECT concat_ws(' ', check_id, region, ", level, ", failure_class, n) FROM rollup_",
          level, "_class WHERE check_id LIKE '", prefix, "%' ORDER BY 1"));
      EXPECT_TRUE(classes.ok()) << classes.status();
      for (const auto* part : {&rows, &classes}) {
        if (part->ok()) {
          for (const std::string& line : **part) {
            lines.push_back(absl::StrReplaceAll(line, {{prefix, ""}}));
          }
        }
      }
    }
    return absl::StrJoin(lines, "\n");
  }

  std::string Unrolled(const std::string& prefix) {
    return One(
        absl::StrCat("SELECT count(*) FROM ingested_batches WHERE NOT rolled"
                     " AND prober_id LIKE '",
                     prefix, "%'"));
  }
};

TEST_F(RollupFolderTest, WritesWhatTheBatchTransactionWritesAndCountsABatchOnce) {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  Insert(store_.get(), Batches("fx-", now));  // no folder: rollups in the batch
  ASSERT_EQ(Unrolled("fx-"), "0");
  const std::string expected = Snapshot("fx-");
  ASSERT_NE(expected, "");

  RollupFolder folder(sonde::testing::PostgresEnvironment::conninfo());
  std::unique_ptr<Store> store = Connect(&folder);
  ASSERT_NE(store, nullptr);
  Insert(store.get(), Batches("fy-", now));
  EXPECT_EQ(Unrolled("fy-"), "8");
  EXPECT_EQ(Snapshot("fy-"), "") << "no rollup before the flush";
  EXPECT_EQ(folder.pending_batches(), 8);
  ASSERT_TRUE(folder.Flush().ok());
  EXPECT_EQ(folder.pending_batches(), 0);
  EXPECT_EQ(folder.batches_rolled(), 8);
  EXPECT_EQ(Unrolled("fy-"), "0");
  EXPECT_EQ(Snapshot("fy-"), expected);

  // A batch resent after its ack is a duplicate: nothing new to fold.
  auto dup = store->InsertBatch(Batches("fy-", now)[0]);
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_TRUE(*dup);
  EXPECT_EQ(folder.pending_batches(), 0);
}

TEST_F(RollupFolderTest, BatchesLeftUnrolledAreAdoptedFromTheStoredResultsOnce) {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  Insert(store_.get(), Batches("ox-", now));
  const std::string expected = Snapshot("ox-");

  // A replica stores the batches, then dies before its flush.
  auto crashed = std::make_unique<RollupFolder>(sonde::testing::PostgresEnvironment::conninfo());
  std::unique_ptr<Store> store = Connect(crashed.get());
  ASSERT_NE(store, nullptr);
  Insert(store.get(), Batches("oy-", now));
  EXPECT_EQ(Unrolled("oy-"), "8");

  // Not yet old enough: left to their replica.
  RollupFolder other(sonde::testing::PostgresEnvironment::conninfo());
  auto adopted = other.AdoptOrphans(absl::Hours(1));
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(*adopted, 0);
  EXPECT_EQ(Unrolled("oy-"), "8");

  adopted = other.AdoptOrphans(absl::ZeroDuration());
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_GE(*adopted, 8);  // other tests' leftovers may be adopted too
  EXPECT_EQ(Unrolled("oy-"), "0");
  EXPECT_EQ(Snapshot("oy-"), expected);

  // The dead replica's flush, had it come late, claims nothing: no double count.
  ASSERT_TRUE(crashed->Flush().ok());
  EXPECT_EQ(crashed->batches_rolled(), 0);
  EXPECT_EQ(Snapshot("oy-"), expected);
}

}  // namespace
}  // namespace sonde::collector
