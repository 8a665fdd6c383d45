// MigratedStoreTest: the gtest fixture of storage tests that share their
// binary's PostgresEnvironment (postgres_fixture.h): SetUp connects a Store
// and applies the migrations; One(sql) reads a single value. A subclass
// that overrides SetUp calls MigratedStoreTest::SetUp first and returns on
// HasFatalFailure(). One test thread; header only.
#ifndef SONDE_TESTS_TESTING_STORE_TEST_BASE_H_
#define SONDE_TESTS_TESTING_STORE_TEST_BASE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "collector/storage/store.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::testing {

class MigratedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = collector::Store::Connect(PostgresEnvironment::conninfo());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    const absl::Status migrated = store_->Migrate();
    ASSERT_TRUE(migrated.ok()) << migrated;
  }

  // The first column of the first row `sql` answers; "" when none (a
  // failed query fails the test).
  std::string One(const std::string& sql) {
    auto v = store_->QueryColumn(sql);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() && !v->empty() ? (*v)[0] : "";
  }

  std::unique_ptr<collector::Store> store_;
};

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_STORE_TEST_BASE_H_
