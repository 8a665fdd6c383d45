#include "common/user_regex.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace sonde::common {

absl::StatusOr<UserRegex> UserRegex::Compile(absl::string_view pattern) {
  RE2::Options options;
  options.set_max_mem(kMaxMemBytes);
  options.set_log_errors(false);  // the error is returned, not written to stderr
  auto re = std::make_unique<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid RE2 pattern: ", re->error()));
  }
  return UserRegex(std::move(re));
}

UserRegex::UserRegex(std::unique_ptr<const re2::RE2> re) : re_(std::move(re)) {}
UserRegex::UserRegex(UserRegex&&) noexcept = default;
UserRegex& UserRegex::operator=(UserRegex&&) noexcept = default;
UserRegex::~UserRegex() = default;

bool UserRegex::Search(absl::string_view text) const {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

std::optional<UserRegex> CompileCheckPattern(absl::string_view field, absl::string_view pattern,
                                             std::string* error) {
  if (pattern.empty()) {
    return std::nullopt;
  }
  absl::StatusOr<UserRegex> re = UserRegex::Compile(pattern);
  if (!re.ok()) {
    if (error->empty()) {
      *error = absl::StrCat(field, ": ", re.status().message());
    }
    return std::nullopt;
  }
  return *std::move(re);
}

}  // namespace sonde::common
