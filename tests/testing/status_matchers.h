// GoogleTest assertions on absl::Status and absl::StatusOr (Abseil 20220623
// ships none): ASSERT_OK / EXPECT_OK print the status when it is not OK;
// ASSERT_OK_AND_ASSIGN(lhs, expr) asserts and unwraps a StatusOr.
#ifndef SONDE_TESTS_TESTING_STATUS_MATCHERS_H_
#define SONDE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sonde::testing {

inline ::testing::AssertionResult IsOk(const absl::Status& status) {
  if (status.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << status;
}

template <typename T>
::testing::AssertionResult IsOk(const absl::StatusOr<T>& status_or) {
  return IsOk(status_or.status());
}

}  // namespace sonde::testing

#define ASSERT_OK(expr) ASSERT_TRUE(::sonde::testing::IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(::sonde::testing::IsOk(expr))

#define SONDE_TEST_CONCAT_INNER_(a, b) a##b
#define SONDE_TEST_CONCAT_(a, b) SONDE_TEST_CONCAT_INNER_(a, b)
#define SONDE_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  ASSERT_TRUE(::sonde::testing::IsOk(tmp));              \
  lhs = std::move(tmp).value()
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  SONDE_ASSERT_OK_AND_ASSIGN_IMPL_(SONDE_TEST_CONCAT_(sonde_statusor_, __LINE__), lhs, expr)

#endif  // SONDE_TESTS_TESTING_STATUS_MATCHERS_H_
