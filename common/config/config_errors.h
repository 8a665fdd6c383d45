// ConfigErrors: every problem found in one config file, each as
// "file:line: where: field: message" (where: a list element such as
// checks[3] "app-tls"; field: the dotted path below it). The lines of
// elements and fields are noted by a line source (the YAML walk), run once
// before the first error is formatted, so a file without errors costs no
// line bookkeeping; the validators add errors by name.
// Not thread-safe; one per file being loaded.
#ifndef SONDE_COMMON_CONFIG_CONFIG_ERRORS_H_
#define SONDE_COMMON_CONFIG_CONFIG_ERRORS_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sonde::common {

class ConfigErrors {
 public:
  explicit ConfigErrors(std::string filename) : filename_(std::move(filename)) {}

  void Add(const std::string& where, const std::string& field, const std::string& msg) {
    if (line_source_) {
      std::function<void(ConfigErrors*)> source = std::move(line_source_);
      line_source_ = nullptr;
      source(this);  // notes every line, once
    }
    std::string out = filename_;
    auto line = lines_.find(Key(where, field));
    if (line == lines_.end()) {
      line = lines_.find(Key(where, ""));
    }
    if (line != lines_.end()) {
      absl::StrAppend(&out, ":", line->second);
    }
    if (!where.empty()) {
      absl::StrAppend(&out, ": ", where);
    }
    if (!field.empty()) {
      absl::StrAppend(&out, ": ", field);
    }
    absl::StrAppend(&out, ": ", msg);
    errors_.push_back(std::move(out));
  }
  // Runs `source` (which calls NoteLine) before the first error is added;
  // what it reads must outlive this object's last Add.
  void SetLineSource(std::function<void(ConfigErrors*)> source) {
    line_source_ = std::move(source);
  }
  // Remembers the (1-based) line of a list element or field, so that its
  // errors name it; lines below 1 are unknown and ignored.
  void NoteLine(const std::string& where, const std::string& field, int line) {
    if (line >= 1) {
      lines_.emplace(Key(where, field), line);
    }
  }
  bool empty() const { return errors_.empty(); }
  absl::Status ToStatus() const {
    if (errors_.empty()) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  static std::string Key(const std::string& where, const std::string& field) {
    return absl::StrCat(where, "|", field);
  }
  std::string filename_;
  std::function<void(ConfigErrors*)> line_source_;
  std::map<std::string, int> lines_;
  std::vector<std::string> errors_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_CONFIG_ERRORS_H_
