#include "common/flags.h"

#include "common/logging.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sonde::common {

absl::StatusOr<absl::Duration> ParseDuration(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  absl::Duration total = absl::ZeroDuration();
  // "Nd" is accepted on top of Abseil's units (retention, SLO windows).
  size_t d = s.find('d');
  if (d != std::string::npos) {
    int64_t days;
    if (!absl::SimpleAtoi(s.substr(0, d), &days) || days < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad duration \"", text, "\""));
    }
    total += absl::Hours(24 * days);
    s = s.substr(d + 1);
    if (s.empty()) {
      return total;
    }
  }
  if (s == "0") {
    return total;
  }
  absl::Duration rest;
  if (s.empty() || !absl::ParseDuration(s, &rest) || rest == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad duration \"", text, "\" (use a number with a unit: 500ms, 10s, 5m, 1h, 2d)"));
  }
  if (rest < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("negative duration \"", text, "\""));
  }
  return total + rest;
}

FlagSet::FlagSet(std::string program, std::string usage)
    : program_(std::move(program)), usage_(std::move(usage)) {}

void FlagSet::Add(Flag f) { flags_.push_back(std::move(f)); }

void FlagSet::String(const std::string& name, std::string* target, const std::string& help) {
  Add({name, help, *target, false, [target](const std::string& v) {
         *target = v;
         return absl::OkStatus();
       }});
}

void FlagSet::Secret(const std::string& name, std::string* target, const std::string& help) {
  Add({name, help, target->empty() ? "" : "set, not shown", false,
       [target](const std::string& v) {
         *target = v;
         return absl::OkStatus();
       }});
}

void FlagSet::Int(const std::string& name, int64_t* target, const std::string& help) {
  Add({name, help, absl::StrCat(*target), false, [target, name](const std::string& v) {
         if (!absl::SimpleAtoi(v, target)) {
           return absl::InvalidArgumentError(
               absl::StrCat("--", name, ": \"", v, "\" is not an integer"));
         }
         return absl::OkStatus();
       }});
}

void FlagSet::Bool(const std::string& name, bool* target, const std::string& help) {
  Add({name, help, *target ? "true" : "false", true, [target, name](const std::string& v) {
         if (!absl::SimpleAtob(v, target)) {
           return absl::InvalidArgumentError(
               absl::StrCat("--", name, ": \"", v, "\" is not true or false"));
         }
         return absl::OkStatus();
       }});
}

void FlagSet::Duration(const std::string& name, absl::Duration* target, const std::string& help) {
  Add({name, help, absl::FormatDuration(*target), false, [target, name](const std::string& v) {
         auto d = ParseDuration(v);
         if (!d.ok()) {
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", d.status().message()));
         }
         *target = *d;
         return absl::OkStatus();
       }});
}

void FlagSet::List(const std::string& name, std::vector<std::string>* target,
                   const std::string& help) {
  Add({name, help, "", false, [target](const std::string& v) {
         target->push_back(v);
         return absl::OkStatus();
       }});
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(int argc, char** argv) {
  return Parse(std::vector<std::string>(argv + 1, argv + argc));
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a == "-h" || a == "--help" || a == "-help") {
      help_requested_ = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional.push_back(a);
      continue;
    }
    std::string body(absl::StripPrefix(absl::StripPrefix(a, "-"), "-"));
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags_) {
      if (f.name == name) {
        flag = &f;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see ", program_, " --help)"));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    absl::Status s = flag->set(value);
    if (!s.ok()) {
      return s;
    }
  }
  return positional;
}

std::string FlagSet::Help() const {
  std::string out = absl::StrCat(usage_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    std::string head = absl::StrCat("  --", f.name, f.is_bool ? "" : " VALUE");
    absl::StrAppend(&out, head, "\n");
    for (absl::string_view line : absl::StrSplit(f.help, '\n')) {
      absl::StrAppend(&out, "      ", line, "\n");
    }
    if (!f.default_text.empty()) {
      absl::StrAppend(&out, "      (default: ", f.default_text, ")\n");
    }
  }
  absl::StrAppend(&out, "  --help\n      Show this help and exit.\n");
  return out;
}

void DaemonFlags::Register(FlagSet* flags) {
  flags->String("log-level", &log_level, "trace, debug, info, warn or error.");
  flags->String("log-format", &log_format, kLogFormatHelp);
  flags->Bool("version", &version, "Print the version and git revision, then exit.");
}

}  // namespace sonde::common
