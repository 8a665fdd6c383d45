#include "collector/detect/rules/rule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sonde::detect {
namespace {

// Checks quoted in a grouped incident's evidence.
constexpr size_t kEvidenceChecks = 3;

}  // namespace

std::string MoreChecks(const FindingGroup& g) {
  return g.n_checks > 1 ? absl::StrCat(" (+", g.n_checks - 1, " more checks)") : "";
}

void SummarizeFailures(const FindingGroup& g, DesiredIncident* d) {
  uint32_t best = 0;
  for (int k = 0; k < 128; ++k) {
    if (g.classes[k] > best) {
      best = g.classes[k];
      d->dominant_class = static_cast<v1::FailureClass::Code>(k);
    }
  }
  d->failing_share = g.probes > 0 ? std::round(100.0 * g.fails / g.probes) / 100 : g.max_share;
  // The evidence of the first checks (by name), distinct texts only.
  std::vector<std::string> parts;
  for (const Finding* f : g.findings) {
    if (parts.size() == kEvidenceChecks) {
      break;
    }
    if (!f->evidence.empty() && std::find(parts.begin(), parts.end(), f->evidence) == parts.end()) {
      parts.push_back(f->evidence);
    }
  }
  const int rest = g.n_checks - static_cast<int>(parts.size());
  d->evidence = absl::StrJoin(parts, " | ");
  if (rest > 0) {
    absl::StrAppend(&d->evidence, " (+", rest, " more checks)");
  }
}

}  // namespace sonde::detect
