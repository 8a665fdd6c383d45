#include "common/logging.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/result_json.h"
#include "common/text/safe_text.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace sonde::common {
namespace {

// The message of a log line through SafeText: a value that came from
// outside (a prober id, a check name, a posted `by`) cannot forge a line
// with a newline or drive the operator's terminal with escape sequences.
class SafeMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string safe = SafeText(absl::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(safe.data(), safe.data() + safe.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SafeMessage>();
  }
};

// sd-daemon.h's SD_ERR..SD_DEBUG, without including it for six numbers.
int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

// Formats one record as journal lines or a JSON object; text goes to
// spdlog's own pattern formatter.
class LineFormatter : public spdlog::formatter {
 public:
  LineFormatter(LogFormat format, std::string program)
      : format_(format), program_(std::move(program)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string text = SafeText(absl::string_view(msg.payload.data(), msg.payload.size()));
    std::string out;
    if (format_ == LogFormat::kJson) {
      const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
      out = "{";
      AppendJsonFields({{"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                                                  absl::FromChrono(msg.time), absl::UTCTimeZone())},
                        {"level", absl::string_view(level.data(), level.size())},
                        {"program", program_},
                        {"message", text}},
                       &out);
      out += "}\n";
    } else {
      // The journal records the time and the unit's SyslogIdentifier itself;
      // the priority prefix keeps the level. SafeText made the record one line.
      out = absl::StrCat("<", SyslogPriority(msg.level), ">", text, "\n");
    }
    dest.append(out.data(), out.data() + out.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_, program_);
  }

 private:
  const LogFormat format_;
  const std::string program_;
};

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "auto") {
    return LogFormat::kAuto;
  }
  if (name == "text") {
    return LogFormat::kText;
  }
  if (name == "journal") {
    return LogFormat::kJournal;
  }
  if (name == "json") {
    return LogFormat::kJson;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", name, "\" is not a log format (auto, text, journal, json)"));
}

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) {
    return false;
  }
  std::pair<std::string, std::string> parts = absl::StrSplit(env, ':');
  uint64_t dev = 0;
  uint64_t ino = 0;
  if (!absl::SimpleAtoi(parts.first, &dev) || !absl::SimpleAtoi(parts.second, &ino)) {
    return false;
  }
  struct stat st;
  if (fstat(2, &st) != 0) {
    return false;
  }
  return static_cast<uint64_t>(st.st_dev) == dev && static_cast<uint64_t>(st.st_ino) == ino;
}

void InitLogging(const std::string& program, const std::string& level, LogFormat format) {
  auto logger = spdlog::stderr_logger_mt(program);
  if (format == LogFormat::kAuto) {
    format = StderrIsJournal() ? LogFormat::kJournal : LogFormat::kText;
  }
  if (format == LogFormat::kText) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SafeMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %n: %*");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_formatter(std::make_unique<LineFormatter>(format, program));
  }
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    lvl = spdlog::level::info;
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace sonde::common
