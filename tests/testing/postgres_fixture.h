// PostgresEnvironment: a throwaway PostgreSQL server for one test binary,
// started with deploy/local-postgres.sh in a temp dir on a free loopback port
// (SetUp) and destroyed with its files (TearDown). Register it once per
// binary, at namespace scope in one test file:
//
//   const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(
//       new sonde::testing::PostgresEnvironment);
//
// gtest owns the environment. ctest runs each test case as its own process,
// so each case gets a fresh server; run directly, the cases share one and
// must use distinct keys. conninfo() may be read from any thread after SetUp.
#ifndef SONDE_TESTS_TESTING_POSTGRES_FIXTURE_H_
#define SONDE_TESTS_TESTING_POSTGRES_FIXTURE_H_

#include <gtest/gtest.h>

#include <string>

namespace sonde::testing {

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  // The libpq connection string of the running server; empty when SetUp
  // failed (the failure is already reported).
  static const std::string& conninfo();

 private:
  std::string dir_;
};

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_POSTGRES_FIXTURE_H_
