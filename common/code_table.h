// Lookups in small constant tables instead of switches of `case X: return
// Y;` lines. EnumName reads a table of names indexed by the value (enums
// whose values run 0, 1, 2... in declaration order); ValueOfCode, NameOfCode
// and CodeOfName read a table of {code, value} rows (sparse codes: errno
// values, DNS types, well-known ports). Header-only, pure, any thread.
#ifndef SONDE_COMMON_CODE_TABLE_H_
#define SONDE_COMMON_CODE_TABLE_H_

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace sonde::common {

template <typename Enum, size_t N>
const char* EnumName(Enum value, const char* const (&names)[N], const char* unknown) {
  const auto i = static_cast<size_t>(value);
  return i < N ? names[i] : unknown;
}

template <typename V>
struct CodeRow {
  int code;
  V value;
};
using CodeName = CodeRow<const char*>;

// The value of the first row with `code`; `missing` when there is none.
template <typename V, size_t N>
V ValueOfCode(long code, const CodeRow<V> (&table)[N], std::common_type_t<V> missing) {
  for (const CodeRow<V>& row : table) {
    if (row.code == code) {
      return row.value;
    }
  }
  return missing;
}

// The name of the first row with `code`; nullptr when there is none.
template <size_t N>
const char* NameOfCode(long code, const CodeName (&table)[N]) {
  return ValueOfCode(code, table, nullptr);
}

// The code of the first row named `name`; `missing` when there is none.
template <size_t N>
int CodeOfName(std::string_view name, const CodeName (&table)[N], int missing) {
  for (const CodeName& row : table) {
    if (name == row.value) {
      return row.code;
    }
  }
  return missing;
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_CODE_TABLE_H_
