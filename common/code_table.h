// Names of enum values and protocol codes from tables instead of switches
// of `case kX: return "X";` lines. EnumName reads a table indexed by the
// value (enums whose values run 0, 1, 2... in declaration order); NameOfCode
// and CodeOfName read a table of {code, name} rows (sparse codes: DNS types,
// well-known ports). Header-only, pure, any thread.
#ifndef SONDE_COMMON_ENUM_NAMES_H_
#define SONDE_COMMON_ENUM_NAMES_H_

#include <cstddef>
#include <string_view>

namespace sonde::common {

template <typename Enum, size_t N>
const char* EnumName(Enum value, const char* const (&names)[N], const char* unknown) {
  const auto i = static_cast<size_t>(value);
  return i < N ? names[i] : unknown;
}

struct CodeName {
  int code;
  const char* name;
};

// The name of the first row with `code`; nullptr when there is none.
template <size_t N>
const char* NameOfCode(int code, const CodeName (&table)[N]) {
  for (const CodeName& row : table) {
    if (row.code == code) {
      return row.name;
    }
  }
  return nullptr;
}

// The code of the first row named `name`; `missing` when there is none.
template <size_t N>
int CodeOfName(std::string_view name, const CodeName (&table)[N], int missing) {
  for (const CodeName& row : table) {
    if (name == row.name) {
      return row.code;
    }
  }
  return missing;
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_ENUM_NAMES_H_
