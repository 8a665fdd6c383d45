#include "sondectl/columns.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sonde::sondectl {

std::string AlignColumns(const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::string>& notes) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      absl::StrAppend(
          &out, rows[r][c],
          c + 1 < rows[r].size() ? std::string(width[c] - rows[r][c].size() + 2, ' ') : "\n");
    }
    if (r < notes.size() && !notes[r].empty()) {
      absl::StrAppend(&out, "    ", notes[r], "\n");
    }
  }
  return out;
}

}  // namespace sonde::sondectl
