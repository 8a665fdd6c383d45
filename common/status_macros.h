// Small helpers for absl::Status / absl::StatusOr plumbing. Abseil 20220623
// ships none, so Sonde keeps exactly these two.
#ifndef SONDE_COMMON_STATUS_MACROS_H_
#define SONDE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SONDE_CONCAT_INNER_(a, b) a##b
#define SONDE_CONCAT_(a, b) SONDE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)              \
  do {                                     \
    ::absl::Status sonde_status_ = (expr); \
    if (!sonde_status_.ok()) {             \
      return sonde_status_;                \
    }                                      \
  } while (0)

// ASSIGN_OR_RETURN(auto x, MakeX()); returns the error status on failure.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SONDE_ASSIGN_OR_RETURN_IMPL_(SONDE_CONCAT_(sonde_statusor_, __LINE__), lhs, expr)
#define SONDE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) {                                   \
    return tmp.status();                             \
  }                                                  \
  lhs = std::move(tmp).value()

#endif  // SONDE_COMMON_STATUS_MACROS_H_
