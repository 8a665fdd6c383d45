// Incident kinds: the one table of what the detector can report. Each entry
// ties a kind's value to its wire name (what JSON, the store, webhooks and
// metrics show; never changes), its usual severity (PAGE notifies people
// now, TICKET is worked in office hours) and how the detector groups it.
//
// The table is built once, from the kinds the rules in rules/registry.cc
// declare (rules/rule.h) plus PROBER_FAULT, which prober health reports. The
// kinds the detector core and the incident store name in code have fixed
// values (IncidentKind::kGlobalOutage ...); a kind added by a new rule gets
// the next free value when the table is built and is found by name
// (IncidentKindNamed). Pure data after the first call; any thread.
#ifndef SONDE_COLLECTOR_DETECT_KINDS_H_
#define SONDE_COLLECTOR_DETECT_KINDS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace sonde::detect {

enum class Severity { kPage, kTicket };

// A kind of incident: a small value, an index into the table.
class IncidentKind {
 public:
  constexpr IncidentKind() = default;
  constexpr explicit IncidentKind(uint8_t value) : value_(value) {}
  constexpr uint8_t value() const { return value_; }

  // Kinds the detector core, the incident book or the store name in code.
  static const IncidentKind kGlobalOutage;        // DOWN in a majority of the healthy regions
  static const IncidentKind kRegionalOutage;      // DOWN in some regions, not a majority
  static const IncidentKind kPartialFailure;      // no region DOWN, but a share of probes fail
  static const IncidentKind kDnsFailure;          // >= 80% of the failures are DNS_*
  static const IncidentKind kProtocolOutage;      // one protocol of a host fails, another answers
  static const IncidentKind kLatencyDegradation;  // p95 left its own baseline
  static const IncidentKind kFlapping;            // the state keeps changing
  static const IncidentKind kProberFault;         // a prober (region) fails or went silent
  // A rule's own kind whose value the table has not assigned yet.
  static const IncidentKind kUnassigned;

  friend constexpr bool operator==(IncidentKind a, IncidentKind b) { return a.value_ == b.value_; }
  friend constexpr bool operator!=(IncidentKind a, IncidentKind b) { return a.value_ != b.value_; }
  friend constexpr bool operator<(IncidentKind a, IncidentKind b) { return a.value_ < b.value_; }

 private:
  uint8_t value_ = 0;
};

inline constexpr IncidentKind IncidentKind::kGlobalOutage{0};
inline constexpr IncidentKind IncidentKind::kRegionalOutage{1};
inline constexpr IncidentKind IncidentKind::kPartialFailure{2};
inline constexpr IncidentKind IncidentKind::kDnsFailure{3};
inline constexpr IncidentKind IncidentKind::kProtocolOutage{4};
inline constexpr IncidentKind IncidentKind::kLatencyDegradation{5};
inline constexpr IncidentKind IncidentKind::kFlapping{6};
inline constexpr IncidentKind IncidentKind::kProberFault{7};
inline constexpr IncidentKind IncidentKind::kUnassigned{255};

// One row of the table.
struct KindInfo {
  IncidentKind kind;                    // kUnassigned in a rule's declaration of a new kind
  const char* name = "";                // wire name, e.g. "GLOBAL_OUTAGE"
  Severity severity = Severity::kPage;  // usual severity (a rule may lower it)
  // An availability kind: a check reports at most one at a time, keeps it
  // inside an open incident for reclassify_after, and an open incident of
  // one such kind is RECLASSIFIED into another (same id), never reopened.
  bool availability = false;
  // One incident per protocol of the service (discriminator = protocol);
  // its targets are hosts, not checks.
  bool per_protocol = false;
  // Findings of this kind are grouped with those of `group_with` (e.g.
  // GLOBAL with REGIONAL: two scopes of one outage); itself if unset.
  IncidentKind group_with = IncidentKind::kUnassigned;
  // A share of a check's requests failing, of which an outage may be the
  // first look. An open incident of this kind changes at once (not after
  // reclassify_after) into any other availability kind its checks show
  // (the fault got worse); an outage's (IsOutage) into this kind when its
  // checks show it (the same fault seen better); and a recovering outage
  // whose checks show this kind continues as it: one incident RECLASSIFIED,
  // not a second page (detection.md, "Outage confirmation").
  bool share_of_outage = false;
  int rule = -1;  // index into rules::Registry(); -1: not a check rule
};

// Every kind, by value (table()[k.value()].kind == k).
const std::vector<KindInfo>& KindTable();
// The row of `kind`; a kind outside the table reads as an unnamed row.
const KindInfo& InfoOf(IncidentKind kind);
// The kind whose wire name is `name`.
std::optional<IncidentKind> IncidentKindNamed(absl::string_view name);
// An outage: GLOBAL_OUTAGE or REGIONAL_OUTAGE (grouped with the latter).
bool IsOutage(IncidentKind kind);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_KINDS_H_
