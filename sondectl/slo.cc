#include "sondectl/slo.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "sondectl/columns.h"
#include "sondectl/report.h"

namespace sonde::sondectl {

std::string FormatSloTable(const v1::SloReply& reply) {
  if (reply.slos().empty()) {
    return "no SLOs configured\n";
  }
  std::vector<const v1::SloStatus*> slos;
  for (const v1::SloStatus& s : reply.slos()) {
    slos.push_back(&s);
  }
  std::stable_sort(slos.begin(), slos.end(), [](const v1::SloStatus* a, const v1::SloStatus* b) {
    return a->budget_remaining_percent() < b->budget_remaining_percent();
  });
  std::vector<std::vector<std::string>> rows = {
      {"", "NAME", "SCOPE", "TARGET", "WINDOW", "METHOD", "SLI", "BUDGET-LEFT", "BURN-RATES"}};
  std::string footer;
  for (const v1::SloStatus* s : slos) {
    const v1::SloSpec& spec = s->spec();
    std::vector<std::string> burns;
    for (const v1::BurnRate& b : s->burn_rates()) {
      burns.push_back(absl::StrFormat("%s=%.2f", SafeText(b.window()), b.rate()));
    }
    rows.push_back({s->budget_remaining_percent() <= 0 ? "!" : "", SafeText(spec.name()),
                    spec.check().empty() ? absl::StrCat("service ", SafeText(spec.service()))
                                         : absl::StrCat("check ", SafeText(spec.check())),
                    absl::StrFormat("%g%%", spec.target_percent()), SafeText(spec.window()),
                    SafeText(spec.method()), absl::StrFormat("%.3f%%", s->sli_percent()),
                    absl::StrFormat("%.1f%%", s->budget_remaining_percent()),
                    burns.empty() ? "-" : absl::StrJoin(burns, " ")});
    const v1::AccountingMethod& m = s->method();
    absl::StrAppend(
        &footer, SafeText(spec.name()), ": ", SafeText(m.window()), ", ",
        FormatRfc3339(common::ToTime(s->from())), " to ", FormatRfc3339(common::ToTime(s->to())),
        " (", m.time_zone().empty() ? "UTC" : SafeText(m.time_zone()), "); ",
        SafeText(m.budgeting_method().empty() ? spec.method() : m.budgeting_method()),
        "; excluded: ",
        m.exclusions().empty() ? "nothing" : SafeText(absl::StrJoin(m.exclusions(), "; ")),
        m.definition().empty() ? "" : "; ", SafeText(m.definition()), "\n");
  }
  return absl::StrCat(AlignColumns(rows), "--\n", footer);
}

}  // namespace sonde::sondectl
