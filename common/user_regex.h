// UserRegex: a regular expression a user wrote in the config (a check's
// expect_body, expect_header, expect_banner), compiled once with RE2 under
// the limits every such pattern gets. RE2 matches in time linear in the text
// and never recurses, so a hostile or merely large target answer cannot
// exhaust the stack or the CPU of the thread that matches (the prober's event
// loop). The syntax is RE2's: no backreferences, no lookaround
// (docs/configuration.md). Config validation and the probes both compile
// through Compile(), so a pattern `sondectl validate` accepts is one the
// prober runs. Immutable after Compile(); Search() may run on any thread.
#ifndef SONDE_COMMON_USER_REGEX_H_
#define SONDE_COMMON_USER_REGEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace sonde::common {

class UserRegex {
 public:
  // The memory one compiled pattern may use (program and match caches). A
  // pattern that needs more to compile is refused; a search that outgrows the
  // cache falls back to RE2's slower, still linear, matcher.
  static constexpr int64_t kMaxMemBytes = 8 << 20;

  // Compiles `pattern` (UTF-8). Refused with InvalidArgument
  // "not a valid RE2 pattern: <reason>" when RE2 cannot compile it within
  // kMaxMemBytes.
  static absl::StatusOr<UserRegex> Compile(absl::string_view pattern);

  UserRegex(UserRegex&&) noexcept;
  UserRegex& operator=(UserRegex&&) noexcept;
  ~UserRegex();

  // True when the pattern matches anywhere in `text` (search, not a full
  // match: anchor with ^ and $ for that). `text` may hold any bytes.
  bool Search(absl::string_view text) const;

 private:
  explicit UserRegex(std::unique_ptr<const re2::RE2> re);
  std::unique_ptr<const re2::RE2> re_;
};

// For a probe built from a check: compiles `pattern`; nullopt when it is
// empty. A pattern RE2 refuses (a config this version did not validate, e.g.
// one an older collector accepted) gives nullopt and, unless `*error` already
// holds an earlier one, sets `*error` to "<field>: <reason>".
std::optional<UserRegex> CompileCheckPattern(absl::string_view field, absl::string_view pattern,
                                             std::string* error);

}  // namespace sonde::common

#endif  // SONDE_COMMON_USER_REGEX_H_
