#include "collector/metrics/check_metrics.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {
namespace {

// A result's phase durations in kLatencyPhases' order (microseconds).
std::array<uint32_t, kLatencyPhases.size()> PhaseMicros(const v1::ProbeResult& r) {
  return {r.dns_us(), r.connect_us(), r.tls_us(), r.first_byte_us(), r.total_us()};
}

std::string ClassName(int code) {
  const std::string& name = v1::FailureClass::Code_Name(code);
  return name.empty() ? absl::StrCat("CODE_", code) : name;
}

}  // namespace

CheckMetrics::CheckMetrics(size_t max_check_regions) : max_check_regions_(max_check_regions) {}

std::string CheckMetrics::Key(const std::string& check, const std::string& region) {
  return absl::StrCat(check, absl::string_view("\0", 1), region);
}

void CheckMetrics::SetConfig(const v1::Config& config) {
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> allowed;
  for (const v1::Check& check : config.checks()) {
    absl::flat_hash_set<std::string>& regions = allowed[check.name()];
    const auto& names = check.regions().empty() ? config.regions() : check.regions();
    regions.insert(names.begin(), names.end());
  }
  absl::MutexLock lock(&mu_);
  allowed_ = std::move(allowed);
  configured_ = true;
  for (auto it = series_.begin(); it != series_.end();) {
    const size_t nul = it->first.find('\0');
    if (Allowed(it->first.substr(0, nul), it->first.substr(nul + 1))) {
      ++it;
    } else {
      series_.erase(it++);
    }
  }
}

bool CheckMetrics::Allowed(const std::string& check, const std::string& region) const {
  if (!configured_) {
    return true;
  }
  auto it = allowed_.find(check);
  return it != allowed_.end() && (it->second.empty() || it->second.contains(region));
}

// Notes the earliest expiry a result newer than the last one with a
// certificate saw: the chain's when the probe reports it, else the leaf's.
// The text last parsed is kept with its time, so the results of a check
// whose certificate did not change parse nothing.
void CheckMetrics::NoteCert(const v1::ProbeResult& r, absl::Time start, Series* s) {
  if (start < s->cert_seen) {
    return;
  }
  for (const std::string* text : {&r.chain_not_after(), &r.cert_not_after()}) {
    if (text->empty()) {
      continue;
    }
    if (*text != s->cert_text) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, *text, &t, &err)) {
        continue;
      }
      s->cert_text = *text;
      s->cert_not_after = t;
    }
    s->cert_seen = start;
    return;
  }
}

void CheckMetrics::Add(const v1::ProbeResult& r, Series* s) {
  if (r.failure_class() == v1::FailureClass::PROBER_ERROR) {
    // The prober's own fault proves nothing about the target
    // (common/result_class.h): counted by class only.
    ++s->failures[r.failure_class()];
    return;
  }
  ++s->probes;
  if (r.failure_class() == v1::FailureClass::OK) {
    ++s->successes;
  } else {
    ++s->failures[r.failure_class()];
  }
  const absl::Time start = common::ToTime(r.start_time());
  if (start >= s->last_start) {
    s->last_start = start;
    s->up = r.failure_class() == v1::FailureClass::OK;
  }
  const auto micros = PhaseMicros(r);
  for (size_t p = 0; p < kPhases; ++p) {
    if (micros[p] == 0) {
      continue;  // not measured (no DNS for an address, no TLS for plain HTTP, ...)
    }
    const double seconds = micros[p] / 1e6;
    const size_t b = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds) -
                     kLatencyBuckets.begin();
    ++s->buckets[p][b];
    s->sum[p] += seconds;
    ++s->count[p];
  }
  NoteCert(r, start, s);
}

void CheckMetrics::Observe(const v1::ResultBatch& batch) {
  absl::MutexLock lock(&mu_);
  std::string key;
  for (const v1::ProbeResult& r : batch.results()) {
    if (!Allowed(r.check_id(), r.region())) {
      ++dropped_unconfigured_;
      continue;
    }
    key = Key(r.check_id(), r.region());
    auto it = series_.find(key);
    if (it == series_.end()) {
      if (series_.size() >= max_check_regions_) {
        ++dropped_limit_;
        continue;
      }
      it = series_.emplace(key, Series{}).first;
    }
    Add(r, &it->second);
  }
}

size_t CheckMetrics::check_regions() const {
  absl::MutexLock lock(&mu_);
  return series_.size();
}

void CheckMetrics::AppendTo(absl::Time now, common::MetricsText* out) const {
  std::vector<std::pair<std::string, Series>> copy;
  uint64_t dropped_limit = 0, dropped_unconfigured = 0;
  {
    absl::MutexLock lock(&mu_);
    copy.assign(series_.begin(), series_.end());
    dropped_limit = dropped_limit_;
    dropped_unconfigured = dropped_unconfigured_;
  }
  std::sort(copy.begin(), copy.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> labels;  // `check="..",region=".."` per series
  labels.reserve(copy.size());
  for (const auto& [key, s] : copy) {
    const size_t nul = key.find('\0');
    labels.push_back(absl::StrCat(common::Label("check", key.substr(0, nul)), ",",
                                  common::Label("region", key.substr(nul + 1))));
  }
  // One family at a time: the text format wants a family's samples together.
  auto gauge_or_counter = [&](const char* name, const char* type, const char* help, auto value_of) {
    out->Family(name, type, help);
    for (size_t i = 0; i < copy.size(); ++i) {
      if (auto v = value_of(copy[i].second); v.has_value()) {
        out->Sample(name, labels[i], *v);
      }
    }
  };
  gauge_or_counter("sonde_check_up", "gauge",
                   "1 when the newest result of the check in the region succeeded, else 0.",
                   [](const Series& s) { return std::optional<double>(s.up ? 1 : 0); });
  gauge_or_counter("sonde_check_last_result_timestamp_seconds", "gauge",
                   "Start time (Unix seconds) of the newest result of the check in the region.",
                   [](const Series& s) {
                     return std::optional<double>(absl::ToUnixMillis(s.last_start) / 1e3);
                   });
  gauge_or_counter("sonde_check_probes_total", "counter",
                   "Results stored for the check in the region (every request of every run; "
                   "PROBER_ERROR results only count in sonde_check_failures_total).",
                   [](const Series& s) { return std::optional<double>(s.probes); });
  gauge_or_counter("sonde_check_probe_successes_total", "counter",
                   "Results of the check in the region whose failure class is OK.",
                   [](const Series& s) { return std::optional<double>(s.successes); });
  out->Family("sonde_check_failures_total", "counter",
              "Failed results of the check in the region, by failure class.");
  for (size_t i = 0; i < copy.size(); ++i) {
    for (const auto& [code, n] : copy[i].second.failures) {
      out->Sample("sonde_check_failures_total",
                  absl::StrCat(labels[i], ",", common::Label("class", ClassName(code))), n);
    }
  }
  out->Family("sonde_check_phase_duration_seconds", "histogram",
              "Duration of each phase of the check's results in the region (a phase a result "
              "did not measure is not observed).");
  for (size_t i = 0; i < copy.size(); ++i) {
    const Series& s = copy[i].second;
    for (size_t p = 0; p < kPhases; ++p) {
      if (s.count[p] == 0) {
        continue;  // a phase appears once a result measured it
      }
      const std::string base = absl::StrCat(labels[i], ",phase=\"", kLatencyPhases[p], "\"");
      uint64_t cumulative = 0;
      for (size_t b = 0; b < kBuckets; ++b) {
        cumulative += s.buckets[p][b];
        const std::string le =
            b < kLatencyBuckets.size() ? common::FormatSampleValue(kLatencyBuckets[b]) : "+Inf";
        out->Sample("sonde_check_phase_duration_seconds_bucket",
                    absl::StrCat(base, ",le=\"", le, "\""), cumulative);
      }
      out->Sample("sonde_check_phase_duration_seconds_sum", base, s.sum[p]);
      out->Sample("sonde_check_phase_duration_seconds_count", base, s.count[p]);
    }
  }
  auto cert = [](const Series& s) { return s.cert_not_after != absl::InfinitePast(); };
  gauge_or_counter("sonde_check_cert_expiry_timestamp_seconds", "gauge",
                   "Expiry (Unix seconds) of the earliest-expiring certificate in the chain the "
                   "newest result with a certificate saw.",
                   [&](const Series& s) {
                     return cert(s) ? std::optional<double>(absl::ToUnixSeconds(s.cert_not_after))
                                    : std::nullopt;
                   });
  gauge_or_counter(
      "sonde_check_cert_expiry_remaining_seconds", "gauge",
      "Seconds until that certificate expires (negative once expired; / 86400 "
      "for days).",
      [&](const Series& s) {
        return cert(s) ? std::optional<double>(absl::ToInt64Seconds(s.cert_not_after - now))
                       : std::nullopt;
      });
  out->Add("sonde_check_metrics_check_regions", "gauge",
           "Check x region pairs with per-check series on this page.", copy.size());
  out->Add("sonde_check_metrics_check_regions_limit", "gauge",
           "--metrics-max-check-regions: most check x region pairs kept.", max_check_regions_);
  out->AddSamples(
      "sonde_check_metrics_dropped_results_total", "counter",
      "Stored results not counted in per-check series: their pair was over the "
      "limit, or not in the config in force.",
      {{"reason=\"limit\"", dropped_limit}, {"reason=\"unconfigured\"", dropped_unconfigured}});
}

}  // namespace sonde::collector
