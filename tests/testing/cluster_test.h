// ClusterTest: the gtest fixture of process-level tests that run a private
// PostgreSQL, a sonde-collector and probers (cluster.h). SetUp makes a
// scratch directory named after the suite and starts PostgreSQL in it;
// TearDown keeps the directory and prints the logs of the collector and
// every prober when the test failed (plus PrintMoreEvidence()), then stops
// the probers, the collector, whatever StopMore() stops, the database and
// the directory, in that order. Sondectl() and Int() are the two calls most
// such tests make. A subclass that overrides SetUp calls ClusterTest::SetUp
// first and returns on HasFatalFailure(). One test thread; header only
// (test binaries link gtest, test_cluster does not).
#ifndef SONDE_TESTS_TESTING_CLUSTER_TEST_H_
#define SONDE_TESTS_TESTING_CLUSTER_TEST_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/testing/cluster.h"
#include "tests/testing/status_matchers.h"

namespace sonde::testing {

class ClusterTest : public ::testing::Test {
 protected:
  // `name` names the scratch directory (its logs are kept on failure).
  explicit ClusterTest(std::string name) : name_(std::move(name)) {}

  void SetUp() override {
    scratch_ = std::make_unique<ScratchDir>(name_);
    ASSERT_FALSE(scratch_->path().empty());
    pg_ = std::make_unique<Postgres>(scratch_->Path("pg"));
    ASSERT_OK(pg_->Start());
    db_ = std::make_unique<Db>(pg_->conninfo());
  }

  void TearDown() override {
    if (HasFailure()) {
      KeepAndPrintLogs(scratch_.get(), collector_.get(), probers_);
      PrintMoreEvidence();
    }
    probers_.clear();
    collector_.reset();
    StopMore();
    db_.reset();
    pg_.reset();
    scratch_.reset();
  }

  // What else a failed test should print (receivers, targets).
  virtual void PrintMoreEvidence() {}
  // Stops what the subclass runs beside the cluster, after the collector.
  virtual void StopMore() {}

  // `sondectl args...` against the collector; its output, exit status in *rc.
  std::string Sondectl(const std::vector<std::string>& args, int* rc) {
    return RunSondectl(collector_->address(), args, rc);
  }

  // The integer `sql` answers; -1 when the query fails.
  int64_t Int(const std::string& sql) {
    absl::StatusOr<int64_t> v = db_->Int(sql);
    return v.ok() ? *v : -1;
  }

  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<Postgres> pg_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Collector> collector_;
  std::vector<std::unique_ptr<Prober>> probers_;

 private:
  std::string name_;
};

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_CLUSTER_TEST_H_
