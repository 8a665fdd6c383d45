// FlagSet: the command-line parser of Sonde's binaries. Small on purpose:
// absl::ParseCommandLine exits with status 1 on a bad flag, while Sonde's
// contract is exit status 2 for usage errors, and --help must explain the
// binary rather than list Abseil's internals. A secret flag (Secret: a token,
// a password) never shows its value: --help says only whether one is set,
// and no error message repeats it. Not thread-safe; use from main.
#ifndef SONDE_COMMON_FLAGS_H_
#define SONDE_COMMON_FLAGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sonde::common {

class FlagSet {
 public:
  // `usage` is printed first by --help: one line of synopsis, then prose.
  FlagSet(std::string program, std::string usage);

  void String(const std::string& name, std::string* target, const std::string& help);
  // A string whose value is a secret: --help prints "(default: set, not
  // shown)" instead of a default taken from the environment, and nothing
  // FlagSet prints or returns contains the value.
  void Secret(const std::string& name, std::string* target, const std::string& help);
  void Int(const std::string& name, int64_t* target, const std::string& help);
  void Bool(const std::string& name, bool* target, const std::string& help);
  void Duration(const std::string& name, absl::Duration* target, const std::string& help);
  // Repeatable: each occurrence appends.
  void List(const std::string& name, std::vector<std::string>* target, const std::string& help);

  // Parses argv[1..]. Returns the positional arguments. "--name=value",
  // "--name value" and "--bool" / "--bool=false" are accepted; "--" ends flags.
  // Sets help_requested() on -h/--help. Errors are InvalidArgument.
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv);
  absl::StatusOr<std::vector<std::string>> Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(const std::string&)> set;
  };
  void Add(Flag f);

  std::string program_;
  std::string usage_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Parses "10s", "5m", "1h30m", "500ms", "2d". Rejects negative values.
absl::StatusOr<absl::Duration> ParseDuration(const std::string& text);

// The flags both daemons share, with one help text each: --log-level,
// --log-format (parsed by common/logging.h's ParseLogFormat) and --version.
struct DaemonFlags {
  std::string log_level = "info";
  std::string log_format = "auto";
  bool version = false;

  void Register(FlagSet* flags);
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_FLAGS_H_
