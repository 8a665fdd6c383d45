// AlignColumns: the one table layout of sondectl's listings (incidents,
// status, probers): left-aligned columns two blanks apart, no trailing
// blanks, optional notes indented under a row. The caller makes the cells
// safe (SafeText) before; widths count bytes. Pure function; any thread.
#ifndef SONDE_SONDECTL_COLUMNS_H_
#define SONDE_SONDECTL_COLUMNS_H_

#include <string>
#include <vector>

namespace sonde::sondectl {

// rows[0] is the header; every row has its size. notes[r], when present and
// not empty, is printed on its own line under row r, indented by 4 blanks.
std::string AlignColumns(const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::string>& notes = {});

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_COLUMNS_H_
