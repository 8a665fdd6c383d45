#include "collector/detect/incident_book.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "collector/detect/evidence_text.h"

namespace sonde::detect {
namespace {

bool IsAvailability(IncidentKind k) { return InfoOf(k).availability; }

size_t Overlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t n = 0;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (*i < *j) {
      ++i;
    } else if (*j < *i) {
      ++j;
    } else {
      ++n;
      ++i;
      ++j;
    }
  }
  return n;
}

std::vector<std::string> Union(const std::vector<std::string>& a,
                               const std::vector<std::string>& b) {
  std::vector<std::string> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// Failure classes that describe one cause for this purpose: every DNS_*
// class, every timeout (a black hole reads as TIMEOUT or HTTP_TIMEOUT
// depending on where the deadline struck), else the class itself.
int ClassFamily(int c) {
  using FC = v1::FailureClass;
  if (IsDnsClass(c)) {
    return FC::DNS_NXDOMAIN;
  }
  switch (c) {
    case FC::TIMEOUT:
    case FC::HTTP_TIMEOUT:
    case FC::TCP_TIMEOUT:
    case FC::ICMP_TIMEOUT:
    case FC::GRPC_DEADLINE:
      return FC::TIMEOUT;
    default:
      return c;
  }
}

// Whether `d` is the fault a recovering (held) incident was about, so the
// incident continues: same kind (or one grouped with it), a dominant class
// of the same family, and regions in common. Anything else is a new fault and a new
// incident: a recovering incident never absorbs it (its kind, class and
// evidence would disagree). An unknown class or region list (an incident
// restored from an older row) does not disqualify.
bool SameFault(const Incident& held, const DesiredIncident& d) {
  // A partial failure on a check of a recovering outage is that fault seen
  // better: at one request per run, a quarter of requests failing fails two
  // or three runs in a row in some region now and then, and its first ones
  // can confirm an outage before the share is measured. One incident,
  // RECLASSIFIED to what it is, instead of a second page.
  const bool outage_was_partial =
      IsOutage(held.kind) && InfoOf(d.kind).share_of_outage && Overlap(held.checks, d.checks) > 0;
  if (InfoOf(held.kind).group_with != InfoOf(d.kind).group_with && !outage_was_partial) {
    return false;
  }
  if (held.dominant_class != v1::FailureClass::UNSPECIFIED &&
      d.dominant_class != v1::FailureClass::UNSPECIFIED &&
      ClassFamily(held.dominant_class) != ClassFamily(d.dominant_class)) {
    return false;
  }
  return held.regions.empty() || d.regions.empty() || Overlap(held.regions, d.regions) > 0;
}

// Copies what the detector decided about an incident (everything but its
// identity, regions and target counts) into its snapshot.
void CopyFindings(const DesiredIncident& d, Incident* s) {
  s->kind = d.kind;
  s->severity = d.severity;
  s->checks = d.checks;
  s->hosts = d.hosts;
  s->protocol = d.protocol;
  s->dominant_class = d.dominant_class;
  s->failing_share = d.failing_share;
  s->latency_phase = d.latency_phase;
  s->latency_p95 = d.latency_p95;
  s->latency_baseline_p95 = d.latency_baseline_p95;
  s->evidence = d.evidence;
}

}  // namespace

IncidentBook::IncidentBook(absl::Duration resolve_hold, double share_update_step,
                           int progress_every_target, double progress_step)
    : resolve_hold_(resolve_hold),
      share_update_step_(share_update_step),
      progress_every_target_(progress_every_target),
      progress_step_(progress_step) {}

bool IncidentBook::ProgressWorthReporting(int affected_before, int recovered_before, int affected,
                                          int recovered) const {
  if (affected < 2 || (affected == affected_before && recovered == recovered_before)) {
    return false;
  }
  if (affected <= progress_every_target_ || recovered == affected) {
    return true;
  }
  auto step = [&](int r, int a) {
    return a == 0 ? -1 : static_cast<int>(std::floor(static_cast<double>(r) / a / progress_step_));
  };
  return step(recovered, affected) != step(recovered_before, affected_before);
}

std::string IncidentBook::MakeId(const std::string& service, IncidentKind kind, absl::Time t) {
  std::string prefix = absl::StrCat(service, "/", absl::AsciiStrToLower(IncidentKindName(kind)));
  const int64_t secs = absl::ToUnixSeconds(t);
  std::pair<int64_t, int>& last = last_id_[prefix];
  std::string id = absl::StrCat(prefix, "/", secs);
  if (last.first == secs) {
    absl::StrAppend(&id, "-", ++last.second);
  } else {
    last = {secs, 0};
  }
  return id;
}

void IncidentBook::Emit(IncidentEventKind kind, const Entry& e, absl::Time t, IncidentKind previous,
                        std::vector<IncidentEvent>* out) {
  IncidentEvent ev;
  ev.kind = kind;
  ev.incident_id = e.snap.id;
  ev.at = t;
  ev.previous_kind = previous;
  ev.incident = e.snap;
  out->push_back(std::move(ev));
}

void IncidentBook::Update(Entry* e, const DesiredIncident& d, absl::Time t, bool reclassified,
                          IncidentKind previous, std::vector<IncidentEvent>* out) {
  Incident& s = e->snap;
  std::vector<std::string> affected = Union(e->affected, d.targets);
  const int n_affected = static_cast<int>(affected.size());
  const int n_recovered = n_affected - static_cast<int>(d.targets.size());
  const bool regions_changed = !d.regions.empty() && s.regions != d.regions;
  const bool progress =
      ProgressWorthReporting(s.affected_targets, s.recovered_targets, n_affected, n_recovered);
  // Which checks/hosts are in it: worth an event for small incidents; for
  // large ones the (throttled) PROGRESS events carry the membership.
  const bool membership =
      (s.checks != d.checks || s.hosts != d.hosts) && n_affected <= progress_every_target_;
  const bool other = membership || s.protocol != d.protocol ||
                     s.dominant_class != d.dominant_class || s.severity != d.severity ||
                     s.latency_phase != d.latency_phase ||
                     std::abs(d.failing_share - e->reported_share) >= share_update_step_;
  CopyFindings(d, &s);
  if (!d.regions.empty()) {
    s.regions = d.regions;
  }
  s.affected_targets = n_affected;
  s.recovered_targets = n_recovered;
  e->affected = std::move(affected);
  e->discriminator = d.discriminator;
  e->holding = false;
  const bool any = reclassified || regions_changed || progress || other;
  if (!any) {
    return;
  }
  s.updated_at = t;
  e->reported_share = d.failing_share;
  if (reclassified) {
    Emit(IncidentEventKind::kReclassified, *e, t, previous, out);
  }
  if (regions_changed) {
    Emit(IncidentEventKind::kRegionsChanged, *e, t, previous, out);
  }
  if (progress) {
    Emit(IncidentEventKind::kProgress, *e, t, previous, out);
  }
  if (other && !reclassified && !regions_changed && !progress) {
    Emit(IncidentEventKind::kUpdated, *e, t, previous, out);
  }
}

void IncidentBook::StartHold(Entry* e, absl::Time t, std::vector<IncidentEvent>* out) {
  e->holding = true;
  e->hold_end = t + resolve_hold_;
  e->cleared_at = t;
  Incident& s = e->snap;
  // Everything affected has recovered; checks/regions keep their last values.
  if (s.recovered_targets != s.affected_targets) {
    const bool report = ProgressWorthReporting(s.affected_targets, s.recovered_targets,
                                               s.affected_targets, s.affected_targets);
    s.recovered_targets = s.affected_targets;
    if (report) {
      s.updated_at = t;
      Emit(IncidentEventKind::kProgress, *e, t, s.kind, out);
    }
  }
}

void IncidentBook::Reconcile(const std::string& scope, const std::string& service,
                             std::vector<DesiredIncident> desired, absl::Time t,
                             std::vector<IncidentEvent>* out) {
  std::sort(desired.begin(), desired.end(), [](const DesiredIncident& a, const DesiredIncident& b) {
    if (a.kind != b.kind) {
      return a.kind < b.kind;
    }
    return a.discriminator < b.discriminator;
  });
  std::vector<size_t> mine;
  for (size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].scope == scope) {
      mine.push_back(i);
    }
  }
  std::vector<bool> used(mine.size(), false);
  std::vector<size_t> unmatched;
  for (size_t i = 0; i < desired.size(); ++i) {
    const DesiredIncident& d = desired[i];
    bool found = false;
    for (size_t j = 0; j < mine.size(); ++j) {
      Entry& e = open_[mine[j]];
      if (!used[j] && e.snap.kind == d.kind && e.discriminator == d.discriminator &&
          (!e.holding || SameFault(e.snap, d))) {
        Update(&e, d, t, false, e.snap.kind, out);
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) {
      unmatched.push_back(i);
    }
  }
  std::vector<Entry> added;
  for (size_t i : unmatched) {
    const DesiredIncident& d = desired[i];
    int best = -1;
    size_t best_overlap = 0;
    if (IsAvailability(d.kind)) {
      for (size_t j = 0; j < mine.size(); ++j) {
        const Entry& e = open_[mine[j]];
        if (used[j] || !IsAvailability(e.snap.kind) || (e.holding && !SameFault(e.snap, d))) {
          continue;
        }
        const size_t overlap = Overlap(e.snap.checks, d.checks);
        if (overlap > best_overlap) {
          best_overlap = overlap;
          best = static_cast<int>(j);
        }
      }
    }
    if (best >= 0) {
      Entry& e = open_[mine[best]];
      const IncidentKind previous = e.snap.kind;
      // Same kind, other discriminator (e.g. an incident restored after a
      // restart): an update, not a reclassification.
      Update(&e, d, t, previous != d.kind, previous, out);
      used[best] = true;
      continue;
    }
    Entry e;
    e.scope = scope;
    e.discriminator = d.discriminator;
    Incident& s = e.snap;
    s.id = MakeId(service, d.kind, t);
    s.service = service;
    CopyFindings(d, &s);
    s.regions = d.regions;
    e.affected = d.targets;
    s.affected_targets = static_cast<int>(d.targets.size());
    s.recovered_targets = 0;
    s.opened_at = t;
    s.updated_at = t;
    e.reported_share = d.failing_share;
    Emit(IncidentEventKind::kOpened, e, t, s.kind, out);
    added.push_back(std::move(e));
  }
  for (size_t j = 0; j < mine.size(); ++j) {
    Entry& e = open_[mine[j]];
    if (!used[j] && !e.holding) {
      StartHold(&e, t, out);
    }
  }
  for (Entry& e : added) {
    open_.push_back(std::move(e));
  }
  RecomputeNextHold();
}

void IncidentBook::ExpireHolds(absl::Time t, std::vector<IncidentEvent>* out) {
  if (next_hold_end_ > t) {
    return;
  }
  for (size_t i = 0; i < open_.size();) {
    Entry& e = open_[i];
    if (e.holding && e.hold_end <= t) {
      e.snap.resolved = true;
      e.snap.resolved_at = e.cleared_at;
      e.snap.updated_at = t;
      Emit(IncidentEventKind::kResolved, e, t, e.snap.kind, out);
      open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  RecomputeNextHold();
}

void IncidentBook::RecomputeNextHold() {
  next_hold_end_ = absl::InfiniteFuture();
  for (const Entry& e : open_) {
    if (e.holding) {
      next_hold_end_ = std::min(next_hold_end_, e.hold_end);
    }
  }
}

void IncidentBook::Restore(const std::string& scope, const Incident& incident, absl::Time now) {
  Entry e;
  e.scope = scope;
  e.snap = incident;
  e.snap.resolved = false;
  e.snap.resolved_at = absl::InfiniteFuture();
  for (std::vector<std::string>* v : {&e.snap.checks, &e.snap.regions, &e.snap.hosts}) {
    std::sort(v->begin(), v->end());
  }
  if (incident.kind == IncidentKind::kProtocolOutage) {
    e.discriminator = incident.protocol;
    e.affected = incident.hosts;
  } else {
    if (incident.kind == IncidentKind::kProberFault && !incident.regions.empty()) {
      e.discriminator = incident.regions.front();
    }
    e.affected = incident.checks;
  }
  std::sort(e.affected.begin(), e.affected.end());
  e.snap.affected_targets = std::max(e.snap.affected_targets, static_cast<int>(e.affected.size()));
  e.reported_share = incident.failing_share;
  e.holding = true;
  e.hold_end = now + resolve_hold_;
  e.cleared_at = now;
  open_.push_back(std::move(e));
  RecomputeNextHold();
}

bool IncidentBook::OpenKindFor(const std::string& scope, const std::string& check,
                               IncidentKind* kind) const {
  for (const Entry& e : open_) {
    if (e.scope == scope && IsAvailability(e.snap.kind) && !e.holding &&
        std::binary_search(e.snap.checks.begin(), e.snap.checks.end(), check)) {
      *kind = e.snap.kind;
      return true;
    }
  }
  return false;
}

std::vector<Incident> IncidentBook::Open() const {
  std::vector<Incident> out;
  out.reserve(open_.size());
  for (const Entry& e : open_) {
    out.push_back(e.snap);
  }
  return out;
}

std::vector<std::string> IncidentBook::Scopes() const {
  std::vector<std::string> out;
  for (const Entry& e : open_) {
    out.push_back(e.scope);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace sonde::detect
