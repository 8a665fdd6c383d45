// Logging setup: spdlog to stderr, one format for every Sonde binary. Every
// message passes through SafeText (common/text/safe_text.h) on its way out:
// control characters in logged values are escaped, so a log line stays one
// line whatever a prober, a target or a browser sent.
#ifndef SONDE_COMMON_LOGGING_H_
#define SONDE_COMMON_LOGGING_H_

#include <string>

#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

// Lets spdlog/fmt format absl::string_view (e.g. Status::message()).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace sonde::common {

// `level` is trace|debug|info|warn|error; unknown values mean info.
void InitLogging(const std::string& program, const std::string& level);

}  // namespace sonde::common

#endif  // SONDE_COMMON_LOGGING_H_
