#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/detect/detector_impl.h"
#include "common/check_service.h"
#include "common/proto_time.h"

namespace sonde::detect {

using FC = v1::FailureClass;

absl::Status Detector::Impl::SetConfig(const v1::Config& config, int64_t now) {
  // Regions: the config's plus any a check names; sorted for stable output.
  std::vector<std::string> region_names(config.regions().begin(), config.regions().end());
  for (const v1::Check& c : config.checks()) {
    region_names.insert(region_names.end(), c.regions().begin(), c.regions().end());
  }
  std::sort(region_names.begin(), region_names.end());
  region_names.erase(std::unique(region_names.begin(), region_names.end()), region_names.end());
  if (region_names.size() > static_cast<size_t>(kMaxRegions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("detector: ", region_names.size(), " regions, at most ", kMaxRegions));
  }
  if (!configured) {
    configured = true;
    processed_us = now - reorder_us;
    current_us = processed_us;
    next_minute_us = FloorDiv(processed_us, kMinuteUs) * kMinuteUs + kMinuteUs;
  }
  const int64_t at = std::max(now, processed_us);

  // Keep the state of (check, region) pairs that survive.
  absl::flat_hash_map<std::string, uint32_t> old_index;
  for (uint32_t i = 0; i < series.size(); ++i) {
    const Series& s = *series[i];
    old_index[absl::StrCat(checks[s.check].name, "\x1f", regions[s.region].name)] = i;
  }
  std::vector<std::unique_ptr<Series>> old_series = std::move(series);
  series.clear();
  absl::flat_hash_map<std::string, RegionHealth> old_regions;
  for (RegionHealth& r : regions) {
    old_regions[r.name] = std::move(r);
  }

  regions.assign(region_names.size(), RegionHealth{});
  dirty_regions.clear();  // indices of the old region table
  for (size_t r = 0; r < region_names.size(); ++r) {
    regions[r].name = region_names[r];
    auto it = old_regions.find(region_names[r]);
    if (it != old_regions.end()) {
      regions[r].prober_id = it->second.prober_id;
      regions[r].faulty = it->second.faulty;
      regions[r].silent = it->second.silent;
      regions[r].unhealthy = it->second.unhealthy;
      regions[r].unhealthy_since = it->second.unhealthy_since;
      regions[r].exported_unhealthy = it->second.exported_unhealthy;
      regions[r].exported_ticket = std::move(it->second.exported_ticket);
      regions[r].ticket = std::move(it->second.ticket);
      regions[r].verdicts = std::move(it->second.verdicts);
      if (!regions[r].verdicts.empty()) {
        // The timers name regions by index: the waiting verdicts get a new one.
        PushTimer(std::max(Us(regions[r].verdicts.front().at), now), kVerdictTimer,
                  static_cast<uint32_t>(r));
      }
    }
  }

  std::vector<const v1::Check*> sorted;
  for (const v1::Check& c : config.checks()) {
    sorted.push_back(&c);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const v1::Check* a, const v1::Check* b) { return a->name() < b->name(); });

  const absl::Duration default_interval = config.defaults().has_interval()
                                              ? common::ToDuration(config.defaults().interval())
                                              : o.default_interval;
  const double default_slo =
      config.defaults().slo_target() > 0 ? config.defaults().slo_target() : o.default_slo_target;

  checks.assign(sorted.size(), CheckState{});
  check_index.clear();
  services.clear();
  host_names.clear();
  host_checks.clear();
  absl::flat_hash_map<std::string, uint32_t> service_index;
  absl::flat_hash_map<std::string, uint32_t> host_index;
  std::vector<int64_t> remap(old_series.size(), -1);

  for (uint32_t ci = 0; ci < sorted.size(); ++ci) {
    const v1::Check& cfg = *sorted[ci];
    CheckState& c = checks[ci];
    c.name = cfg.name();
    c.config = cfg;
    check_index[c.name] = ci;
    const std::string& service = common::ServiceOf(cfg);
    auto [sit, s_new] = service_index.try_emplace(service, services.size());
    if (s_new) {
      services.push_back(ServiceState{service, absl::StrCat("s/", service), {}, false});
    }
    c.service = sit->second;
    services[c.service].checks.push_back(ci);
    c.target = DeriveTarget(cfg);
    c.resolvers_text =
        c.target.resolvers.empty() ? "system resolvers" : absl::StrJoin(c.target.resolvers, ", ");
    auto [hit, h_new] = host_index.try_emplace(c.target.host, host_names.size());
    if (h_new) {
      host_names.push_back(c.target.host);
      host_checks.emplace_back();
    }
    c.host = hit->second;
    host_checks[c.host].push_back(ci);
    absl::Duration interval =
        cfg.has_interval() ? common::ToDuration(cfg.interval()) : default_interval;
    if (interval <= absl::ZeroDuration()) {
      interval = o.default_interval;
    }
    c.interval_us = Us(interval);
    c.requests_per_run =
        cfg.has_http() ? std::clamp<uint32_t>(cfg.http().requests_per_run(), 1, 64) : 1;
    const double slo = cfg.slo_target() > 0 ? cfg.slo_target() : default_slo;
    c.budget = std::max(1e-6, 1.0 - slo / 100.0);
    c.series.assign(regions.size(), -1);

    std::vector<std::string> where(cfg.regions().begin(), cfg.regions().end());
    if (where.empty()) {
      where.assign(config.regions().begin(), config.regions().end());
    }
    int n_regions = 0;
    for (const std::string& rn : where) {
      const int r = RegionIndex(rn);
      if (r < 0 || c.series[r] >= 0) {
        continue;
      }
      std::unique_ptr<Series> s;
      auto it = old_index.find(absl::StrCat(c.name, "\x1f", rn));
      if (it != old_index.end() && old_series[it->second] != nullptr) {
        s = std::move(old_series[it->second]);
        remap[it->second] = static_cast<int64_t>(series.size());
      } else {
        s = std::make_unique<Series>();
        s->partial.set_minutes(partial_minutes);
        s->latency.Init(lat_params);
        s->stale_base_us = at;
      }
      s->check = ci;
      s->region = static_cast<uint32_t>(r);
      s->counted_live = s->counted_considered = s->counted_bad = s->counted_stale = false;
      c.series[r] = static_cast<int32_t>(series.size());
      regions[r].series.push_back(static_cast<uint32_t>(series.size()));
      series.push_back(std::move(s));
      ++n_regions;
    }
    c.multi_region = n_regions >= 2;
  }
  for (ServiceState& s : services) {
    s.dirty = false;
  }

  // Queued results follow their series or are dropped.
  pending.Rewrite([&](Sample* s) {
    const int64_t n = s->series < remap.size() ? remap[s->series] : -1;
    if (n < 0) {
      if (s->detail_slot != kNoDetail) {
        free_details.push_back(s->detail_slot);
      }
      return false;
    }
    s->series = static_cast<uint32_t>(n);
    return true;
  });

  // Timers and region counters start over.
  timers.clear();
  for (uint32_t i = 0; i < series.size(); ++i) {
    Series& s = *series[i];
    if (!s.stale) {
      const int64_t span = o.stale_intervals * checks[s.check].interval_us;
      PushTimer(std::max(s.last_result_us, s.stale_base_us) + span, kStaleTimer, i);
    }
    RefreshMembership(s);
  }
  for (uint32_t r = 0; r < regions.size(); ++r) {
    MarkRegion(r);
    if (regions[r].unhealthy) {
      PushTimer(regions[r].unhealthy_since + Us(o.prober_fault_hold), kProberHoldTimer, r);
    }
  }
  dirty_checks.clear();
  for (CheckState& c : checks) {
    c.dirty = false;
  }
  for (uint32_t ci = 0; ci < checks.size(); ++ci) {
    MarkCheck(ci);
  }
  dirty_services.clear();
  for (uint32_t si = 0; si < services.size(); ++si) {
    MarkService(si);
  }
  prober_dirty = true;

  // Incidents of services that no longer exist resolve after the hold.
  for (const std::string& scope : book.Scopes()) {
    if (scope == kProberScope) {
      continue;
    }
    if (!service_index.contains(scope.substr(2))) {
      book.Reconcile(scope, scope.substr(2), {}, TimeOf(processed_us), &events);
    }
  }
  return absl::OkStatus();
}

}  // namespace sonde::detect
