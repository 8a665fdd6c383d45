#include "collector/detect/kinds.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "collector/detect/rules/registry.h"

namespace sonde::detect {
namespace {

// Reported by prober health (prober_health.cc), not by a check rule.
constexpr KindInfo kProberFault{IncidentKind::kProberFault, "PROBER_FAULT", Severity::kTicket};

[[noreturn]] void Die(const char* what, const char* name) {
  std::fprintf(stderr, "detect: incident kind table: %s: %s\n", what, name);
  std::abort();
}

std::vector<KindInfo> Build() {
  std::vector<KindInfo> declared;
  const auto& rules = rules::Registry();
  for (size_t i = 0; i < rules.size(); ++i) {
    for (KindInfo k : rules[i]->Kinds()) {
      k.rule = static_cast<int>(i);
      declared.push_back(k);
    }
  }
  declared.push_back(kProberFault);
  // Fixed values first, then the rules' new kinds in registry order.
  std::vector<KindInfo> table(IncidentKind::kProberFault.value() + 1);
  for (const KindInfo& k : declared) {
    if (k.kind == IncidentKind::kUnassigned) {
      continue;
    }
    if (k.kind.value() >= table.size() || table[k.kind.value()].name[0] != '\0') {
      Die("fixed kind declared twice or out of range", k.name);
    }
    table[k.kind.value()] = k;
  }
  for (KindInfo k : declared) {
    if (k.kind != IncidentKind::kUnassigned) {
      continue;
    }
    if (table.size() >= IncidentKind::kUnassigned.value()) {
      Die("too many kinds", k.name);
    }
    k.kind = IncidentKind(static_cast<uint8_t>(table.size()));
    table.push_back(k);
  }
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].name[0] == '\0') {
      Die("fixed kind declared by no rule", std::to_string(i).c_str());
    }
    for (size_t j = 0; j < i; ++j) {
      if (std::strcmp(table[i].name, table[j].name) == 0) {
        Die("name declared twice", table[i].name);
      }
    }
    if (table[i].group_with == IncidentKind::kUnassigned) {
      table[i].group_with = table[i].kind;
    }
  }
  return table;
}

}  // namespace

const std::vector<KindInfo>& KindTable() {
  static const auto* const table = new std::vector<KindInfo>(Build());
  return *table;
}

const KindInfo& InfoOf(IncidentKind kind) {
  static const KindInfo kUnknown{IncidentKind::kUnassigned, "UNKNOWN", Severity::kPage};
  const std::vector<KindInfo>& table = KindTable();
  return kind.value() < table.size() ? table[kind.value()] : kUnknown;
}

std::optional<IncidentKind> IncidentKindNamed(absl::string_view name) {
  for (const KindInfo& k : KindTable()) {
    if (name == k.name) {
      return k.kind;
    }
  }
  return std::nullopt;
}

bool IsOutage(IncidentKind kind) {
  return InfoOf(kind).group_with == IncidentKind::kRegionalOutage;
}

}  // namespace sonde::detect
