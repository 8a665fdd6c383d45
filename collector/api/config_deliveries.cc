#include "collector/api/config_deliveries.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"

namespace sonde::collector {

void ConfigDeliveries::Connected(const std::string& prober, const std::string& region,
                                 const std::string& applied, absl::Time now) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[prober];
  e.status.set_prober_id(prober);
  e.status.set_region(region);
  e.status.set_connected(++e.streams > 0);
  if (!applied.empty() && applied != e.status.applied_version()) {
    e.status.set_applied_version(applied);
    common::SetTimestamp(now, e.status.mutable_applied_at());
  }
}

void ConfigDeliveries::Disconnected(const std::string& prober) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[prober];
  e.status.set_connected(--e.streams > 0);
}

void ConfigDeliveries::Sent(const std::string& prober, const std::string& version, const char* kind,
                            uint64_t bytes, absl::Time now) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[prober];
  if (e.status.region_version() != version || e.pending_since == absl::InfiniteFuture()) {
    e.pending_since = std::min(e.pending_since, now);
  }
  e.status.set_region_version(version);
  e.status.set_last_transfer(kind);
  e.status.set_last_transfer_bytes(bytes);
  if (e.status.applied_version() == version) {
    e.pending_since = absl::InfiniteFuture();
  }
}

void ConfigDeliveries::Current(const std::string& prober, const std::string& version) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[prober];
  e.status.set_region_version(version);
  if (e.status.applied_version() == version) {
    e.pending_since = absl::InfiniteFuture();
  }
}

void ConfigDeliveries::Failed(const std::string& prober, const std::string& error, absl::Time now) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[prober];
  e.status.set_last_error(error);
  common::SetTimestamp(now, e.status.mutable_last_error_at());
  e.status.set_delivery_failures(e.status.delivery_failures() + 1);
}

void ConfigDeliveries::Reported(const v1::ConfigReport& report, absl::Time now) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[report.prober_id()];
  e.status.set_prober_id(report.prober_id());
  e.status.set_region(report.region());
  if (report.applied_version() != e.status.applied_version()) {
    e.status.set_applied_version(report.applied_version());
    common::SetTimestamp(now, e.status.mutable_applied_at());
  }
  if (e.status.applied_version() == e.status.region_version()) {
    e.pending_since = absl::InfiniteFuture();
  }
  if (!report.error().empty()) {
    e.status.set_last_error(
        absl::StrCat("prober refused version ", report.refused_version(), ": ", report.error()));
    common::SetTimestamp(now, e.status.mutable_last_error_at());
    e.status.set_delivery_failures(e.status.delivery_failures() + 1);
  }
}

std::vector<v1::ProberConfigStatus> ConfigDeliveries::Snapshot() const {
  std::vector<v1::ProberConfigStatus> out;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, e] : probers_) {
      out.push_back(e.status);
      if (e.pending_since != absl::InfiniteFuture()) {
        common::SetTimestamp(e.pending_since, out.back().mutable_pending_since());
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.region() < b.region(); });
  return out;
}

std::vector<v1::ProberConfigStatus> ConfigDeliveries::Overdue(absl::Time now,
                                                              absl::Duration limit) const {
  std::vector<v1::ProberConfigStatus> out;
  for (v1::ProberConfigStatus& s : Snapshot()) {
    if (common::IsSet(s.pending_since()) && now - common::ToTime(s.pending_since()) > limit) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

void ConfigDeliveries::AppendMetrics(common::MetricsText* out) const {
  std::vector<std::pair<std::string, double>> applied, failures;
  for (const v1::ProberConfigStatus& s : Snapshot()) {
    const std::string who = absl::StrCat(common::Label("prober", s.prober_id()), ",",
                                         common::Label("region", s.region()));
    applied.emplace_back(absl::StrCat(who, ",", common::Label("version", s.applied_version())), 1);
    failures.emplace_back(who, s.delivery_failures());
  }
  out->AddSamples("sonde_config_applied_version_info", "gauge",
                  "The config version each prober says it runs (\"\" none yet).", applied);
  out->AddSamples("sonde_config_delivery_failures_total", "counter",
                  "Config transfers to a prober that broke off or that it refused.", failures);
}

}  // namespace sonde::collector
