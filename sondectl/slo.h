// Rendering of `sondectl slo` (Query.Slo): each SLO's target, what it
// achieved, the error budget left and the burn rates, worst budget first,
// as a table for people, with each SLO's accounting method below the table;
// JSON is sondectl's usual proto3 JSON (incidents.h ToJson). Pure
// functions; any thread.
#ifndef SONDE_SONDECTL_SLO_H_
#define SONDE_SONDECTL_SLO_H_

#include <string>

#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// NAME SCOPE TARGET WINDOW METHOD SLI BUDGET-LEFT BURN (one column per
// burn-rate window, "1h=0.5 6h=1.2 ..."), sorted by budget left, lowest
// first; a row whose budget is spent is marked "!". Then "--" and one
// accounting line per SLO. "no SLOs configured" when empty. Outside text
// goes through SafeText.
std::string FormatSloTable(const v1::SloReply& reply);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_SLO_H_
