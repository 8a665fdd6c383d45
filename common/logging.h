// Logging setup: spdlog to stderr, one format for every Sonde binary.
// Three line formats: text (a timestamp, the level, the program), journal
// (when stderr is systemd's journal: no timestamp, since the journal adds
// its own, and a syslog priority prefix "<3>" on every line so each keeps
// its level) and json (one object per line for log shippers). Every message
// passes through SafeText (common/text/safe_text.h) on its way out: control
// characters in logged values are escaped, so a log line stays one line
// whatever a prober, a target or a browser sent. Call InitLogging once from
// main before other threads log.
#ifndef SONDE_COMMON_LOGGING_H_
#define SONDE_COMMON_LOGGING_H_

#include <string>

#include "absl/status/statusor.h"
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

// kAuto is kJournal when stderr is the journal, else kText.
enum class LogFormat { kAuto, kText, kJournal, kJson };

// "auto", "text", "journal" or "json".
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

// True when stderr is a stream to systemd's journal: $JOURNAL_STREAM names
// its device and inode ("dev:ino"), so an inherited variable whose stderr
// was redirected since does not count.
bool StderrIsJournal();

// `level` is trace|debug|info|warn|error; unknown values mean info.
void InitLogging(const std::string& program, const std::string& level,
                 LogFormat format = LogFormat::kAuto);

// The flag help shared by the daemons' --log-format.
inline constexpr char kLogFormatHelp[] =
    "auto, text, journal or json. auto is journal when stderr is systemd's journal\n"
    "(priority prefix per line, no timestamp), else text; json prints one object\n"
    "per line: {\"time\", \"level\", \"program\", \"message\"}.";

}  // namespace sonde::common

#endif  // SONDE_COMMON_LOGGING_H_
