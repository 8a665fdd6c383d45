// Logging setup: spdlog to stderr, one format for every Sonde binary.
#ifndef SONDE_COMMON_LOGGING_H_
#define SONDE_COMMON_LOGGING_H_

#include <string>

#include "spdlog/spdlog.h"

namespace sonde::common {

// `level` is trace|debug|info|warn|error; unknown values mean info.
void InitLogging(const std::string& program, const std::string& level);

}  // namespace sonde::common

#endif  // SONDE_COMMON_LOGGING_H_
