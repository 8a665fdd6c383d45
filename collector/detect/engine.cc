#include <algorithm>
#include <string>

#include "absl/time/time.h"
#include "collector/detect/detector_impl.h"
#include "common/proto_time.h"

namespace sonde::detect {
namespace {

// The leaf's and the chain's expiry as the probe saw them (RFC 3339).
Certificate ReadCertificate(const v1::ProbeResult& r) {
  Certificate c;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, r.cert_not_after(), &t, &err)) {
    return c;
  }
  c.not_after_us = Us(t);
  c.chain_not_after_us = c.not_after_us;
  if (absl::ParseTime(absl::RFC3339_full, r.chain_not_after(), &t, &err)) {
    c.chain_not_after_us = Us(t);
  }
  c.days_left = r.cert_days_left();
  c.seen_us = 0;  // set when applied
  return c;
}

}  // namespace

using FC = v1::FailureClass;

void Detector::Impl::Observe(const v1::ProbeResult& r) {
  ++stats.results_observed;
  auto it = check_index.find(r.check_id());
  if (it == check_index.end()) {
    ++stats.unknown_check;
    return;
  }
  const CheckState& c = checks[it->second];
  const int region = RegionIndex(r.region());
  if (region < 0 || c.series[region] < 0) {
    ++stats.unknown_region;
    return;
  }
  RegionHealth& rh = regions[region];
  if (rh.prober_id != r.prober_id()) {
    rh.prober_id = r.prober_id();
  }

  Sample s;
  s.series = static_cast<uint32_t>(c.series[region]);
  s.start_us = common::ToUnixMicros(r.start_time());
  s.time_us = s.start_us + r.total_us();
  if (s.time_us <= processed_us) {
    ++stats.late_results;
    s.time_us = processed_us;
  }
  // The class is the truth; `ok` is never read. A result without a class
  // (or with one outside the detector's 7-bit class tables) says nothing
  // about the target: PROBER_ERROR, never OK.
  int cls = r.failure_class();
  if (cls <= FC::UNSPECIFIED || cls > 127) {
    cls = FC::PROBER_ERROR;
  }
  s.failure_class = static_cast<uint8_t>(cls);
  s.request_index = static_cast<uint16_t>(std::min<uint32_t>(r.request_index(), 0xffff));
  s.dns_us = r.dns_us();
  s.connect_us = r.connect_us();
  s.tls_us = r.tls_us();
  s.first_byte_us = r.first_byte_us();
  s.total_us = r.total_us();
  const bool failure_detail = cls != FC::OK && cls != FC::PROBER_ERROR &&
                              (!r.detail().empty() || !r.fallback_address().empty());
  if (cls != FC::PROBER_ERROR && !r.cert_not_after().empty()) {
    s.certificate = true;
    Series& ser = *series[s.series];
    if (r.cert_not_after() != ser.observed_not_after ||
        r.chain_not_after() != ser.observed_chain_not_after ||
        r.cert_days_left() != ser.observed_days_left) {
      ser.observed_not_after.assign(r.cert_not_after());
      ser.observed_chain_not_after.assign(r.chain_not_after());
      ser.observed_days_left = r.cert_days_left();
      ser.observed_certificate = ReadCertificate(r);
    }
  }
  if (failure_detail) {
    if (free_details.empty()) {
      s.detail_slot = static_cast<uint32_t>(detail_pool.size());
      detail_pool.emplace_back();
    } else {
      s.detail_slot = free_details.back();
      free_details.pop_back();
    }
    ResultDetail& d = detail_pool[s.detail_slot];
    d.text.assign(r.detail());
    d.fallback_address.assign(r.fallback_address());
    d.fallback_class = static_cast<uint8_t>(r.fallback_class() & 127);
    d.fallback_http_status = r.fallback_http_status();
  }
  pending.Push(s);
}

void Detector::Impl::AdvanceTo(int64_t wm) {
  if (!configured) {
    return;
  }
  while (true) {
    int64_t next = next_minute_us;
    if (!pending.empty()) {
      next = std::min(next, pending.NextTime());
    }
    if (!timers.empty()) {
      next = std::min(next, timers.front().at);
    }
    next = std::min(next, Us(book.NextHoldEnd()));
    if (eval_scheduled) {
      next = std::min(next, eval_due);
    }
    if (next > wm) {
      break;
    }
    current_us = next;
    if (eval_scheduled && eval_due == next) {
      // A period ended: evaluate before anything at its end instant.
      eval_scheduled = false;
      Evaluate(next);
      book.ExpireHolds(TimeOf(next), &events);
      processed_us = std::max(processed_us, next - 1);
      continue;
    }
    if (next_minute_us == next) {
      CloseMinute(next);
      next_minute_us += kMinuteUs;
    }
    ApplyAt(next);
    if (eval_period_us == 0 && NothingDirty()) {
      // Fast path: samples that change nothing need no evaluation; apply
      // them back to back up to the next deadline of any other kind.
      const int64_t other = std::min(
          {next_minute_us, timers.empty() ? kForever : timers.front().at, Us(book.NextHoldEnd())});
      const int64_t limit = std::min(wm, other - 1);
      while (!pending.empty() && pending.NextTime() <= limit) {
        next = pending.NextTime();
        current_us = next;
        ApplyAt(next);
        if (!NothingDirty()) {
          break;
        }
      }
    }
    while (!timers.empty() && timers.front().at == next) {
      std::pop_heap(timers.begin(), timers.end(), TimerAfter());
      const Timer timer = timers.back();
      timers.pop_back();
      HandleTimer(timer, next);
    }
    if (eval_period_us == 0) {
      Evaluate(next);
    }
    book.ExpireHolds(TimeOf(next), &events);
    processed_us = std::max(processed_us, next);
  }
  processed_us = std::max(processed_us, wm);
  current_us = processed_us;
}

void Detector::Impl::PushTimer(int64_t at, TimerType type, uint32_t index) {
  timers.push_back(Timer{at, type, index});
  std::push_heap(timers.begin(), timers.end(), TimerAfter());
}

void Detector::Impl::HandleTimer(const Timer& timer, int64_t t) {
  switch (timer.type) {
    case kStaleTimer: {
      Series& s = *series[timer.index];
      if (s.stale) {
        return;
      }
      const int64_t deadline = std::max(s.last_result_us, s.stale_base_us) +
                               o.stale_intervals * checks[s.check].interval_us;
      if (deadline > t) {
        PushTimer(deadline, kStaleTimer, timer.index);
        return;
      }
      s.stale = true;
      RefreshMembership(s);
      MarkCheck(s.check);
      return;
    }
    case kProberHoldTimer:
      prober_dirty = true;
      ScheduleEvaluation();
      return;
    case kVerdictTimer:
      ApplyVerdicts(timer.index, t);
      return;
    case kTaintTimer:
      for (uint32_t i : regions[timer.index].series) {
        Series& s = *series[i];
        if (s.tainted && s.taint_until <= t) {
          s.tainted = false;
          MarkCheck(s.check);
        }
      }
      return;
  }
}

void Detector::Impl::CloseMinute(int64_t m) {
  const int64_t minute = FloorDiv(m, kMinuteUs);
  const bool flap_due = minute % flap_period_minutes == 0;
  for (auto& sp : series) {
    Series& s = *sp;
    if (!s.has_data) {
      continue;
    }
    s.partial.CloseMinute(s.minute_partial);
    s.burn.CloseMinute(burn_layout, s.minute_burn);
    s.minute_partial = RunCounts{};
    s.minute_burn = Counts{};
    if (s.latency.CloseMinute(lat_params)) {
      MarkCheck(s.check);
    }
    if (s.sm.outage()) {
      s.last_outage_us = m;
    }
    if (flap_due) {
      const bool failing = s.sm.down() || s.entered_down;
      s.entered_down = false;
      if (s.flap.AddSample(failing, o.flap_history, o.flap_enter_percent, o.flap_exit_percent)) {
        MarkCheck(s.check);
      }
    }
  }
  for (uint32_t ci = 0; ci < checks.size(); ++ci) {
    CheckState& c = checks[ci];
    const uint64_t slow = SlowRegions(c, m);
    bool page = false;
    bool ticket = false;
    Burn(c, m, &page, &ticket);
    if (slow != c.slow_regions || page != c.burn_page || ticket != c.burn_ticket ||
        !c.findings.empty()) {
      c.slow_regions = slow;
      c.burn_page = page;
      c.burn_ticket = ticket;
      MarkCheck(ci);
    }
  }
}

void Detector::Impl::Apply(const Sample& smp) {
  Series& s = *series[smp.series];
  const int64_t t = smp.time_us;
  auto release = [&] {
    if (smp.detail_slot != kNoDetail) {
      free_details.push_back(smp.detail_slot);
    }
  };
  if (smp.start_us < s.run_start_us) {
    ++stats.duplicate_results;  // an older run: duplicate or hopelessly late
    release();
    return;
  }
  if (smp.start_us > s.run_start_us) {
    if (s.run_open) {
      CompleteRun(s, s.run_last_us);
    }
    s.run_start_us = smp.start_us;
    s.run_seen = 0;
    s.run_ok = s.run_fail = s.run_prober_error = 0;
    s.run_open = true;
  }
  const uint64_t bit = uint64_t{1} << (smp.request_index & 63);
  if (!s.run_open || (s.run_seen & bit) != 0) {
    ++stats.duplicate_results;
    release();
    return;
  }
  s.run_seen |= bit;
  s.run_last_us = t;
  ++stats.results_applied;

  const CheckState& c = checks[s.check];
  s.last_result_us = std::max(s.last_result_us, t);
  if (!s.has_data || s.stale) {
    if (s.stale) {
      PushTimer(s.last_result_us + o.stale_intervals * c.interval_us, kStaleTimer, smp.series);
    }
    s.has_data = true;
    s.stale = false;
    RefreshMembership(s);
    MarkCheck(s.check);
  }

  if (smp.certificate && s.observed_certificate.seen()) {
    const Certificate& cert = s.observed_certificate;
    if (!s.cert.seen() || cert.not_after_us != s.cert.not_after_us ||
        cert.chain_not_after_us != s.cert.chain_not_after_us ||
        cert.days_left != s.cert.days_left) {
      MarkCheck(s.check);  // a new certificate, or a day less: rules look again
    }
    s.cert = cert;
    s.cert.seen_us = t;
  }
  if (smp.failure_class == FC::PROBER_ERROR) {
    ++s.run_prober_error;
    ++stats.prober_errors;
  } else if (smp.failure_class == FC::OK) {
    ++s.run_ok;
    if (s.latency.Add(smp.total_us, smp.dns_us, smp.connect_us, smp.tls_us, smp.first_byte_us)) {
      MarkCheck(s.check);  // the fast latency window changed its verdict
    }
  } else {
    ++s.run_fail;
    const uint32_t i = s.fail_pos++ % kFailureRing;
    s.fail_us[i] = t;
    s.fail_class[i] = smp.failure_class;
    if (smp.detail_slot != kNoDetail) {
      const ResultDetail& d = detail_pool[smp.detail_slot];
      s.detail.assign(d.text);
      s.detail_class = smp.failure_class;
      s.fallback_address.assign(d.fallback_address);
      s.fallback_class = d.fallback_class;
      s.fallback_http_status = d.fallback_http_status;
      s.detail_us = t;
    }
  }
  release();
  if (static_cast<uint32_t>(s.run_ok + s.run_fail + s.run_prober_error) >= c.requests_per_run) {
    CompleteRun(s, t);
  }
}

void Detector::Impl::CompleteRun(Series& s, int64_t t) {
  s.run_open = false;
  const uint32_t ci = s.check;
  const uint32_t n = s.run_ok + s.run_fail;
  const bool prober_error_only = n == 0;
  const bool failed = n > 0 && s.run_ok == 0;
  const bool mixed = s.run_ok > 0 && s.run_fail > 0;
  bool changed = prober_error_only != s.last_run_prober_error;
  s.last_run_prober_error = prober_error_only;
  if (!prober_error_only) {
    const bool was_down = s.sm.down();
    if (failed && !was_down && !s.last_run_failed) {
      s.episode_start_us = s.run_start_us;
    }
    if (s.sm.OnRun(failed, failed ? OutageConfirmRuns(s, t) : 0, sm_params)) {
      changed = true;
      MarkHostMates(ci);
    }
    if (s.sm.down() && !was_down) {
      s.entered_down = true;
    }
    if (!s.sm.down()) {
      s.tainted = false;
    }
    if (s.sm.outage()) {
      s.last_outage_us = t;
    }
    changed = changed || failed != s.last_run_failed || mixed != s.last_run_mixed;
    s.last_run_failed = failed;
    s.last_run_mixed = mixed;
    const RegionHealth& rh = regions[s.region];
    if (!rh.unhealthy && !s.tainted) {
      s.minute_burn.probes += n;
      s.minute_burn.fails += s.run_fail;
      if (!s.sm.outage()) {
        s.minute_partial.probes += n;
        s.minute_partial.fails += s.run_fail;
        s.minute_partial.runs += 1;
        s.minute_partial.failed_runs += failed ? 1 : 0;
        s.fast.Add(FloorDiv(t, fast_bucket_us), n, s.run_fail);
      }
    }
  }
  RefreshMembership(s);
  if (changed || s.run_fail > 0 || !checks[ci].findings.empty()) {
    MarkCheck(ci);
  }
}

void Detector::Impl::RefreshMembership(Series& s) {
  RegionHealth& rh = regions[s.region];
  const CheckState& c = checks[s.check];
  const bool live = s.Live();
  const bool considered = c.multi_region && live;
  const bool bad = considered && (s.last_run_failed || s.sm.down() || s.last_run_prober_error);
  bool changed = false;
  auto adjust = [&](bool now, bool* counted, int* counter) {
    if (now != *counted) {
      *counter += now ? 1 : -1;
      *counted = now;
      changed = true;
    }
  };
  adjust(live, &s.counted_live, &rh.live);
  adjust(considered, &s.counted_considered, &rh.considered);
  const bool bad_before = s.counted_bad;
  adjust(bad, &s.counted_bad, &rh.bad);
  adjust(s.stale, &s.counted_stale, &rh.stale);
  if (!changed) {
    return;
  }
  MarkRegion(s.region);
  if (bad_before != bad || s.stale) {
    // "Another region passes this check" changed for the others: re-check
    // the regions that are (or may become) unhealthy.
    for (uint32_t r = 0; r < regions.size(); ++r) {
      const RegionHealth& o_r = regions[r];
      if (o_r.unhealthy ||
          (o_r.considered > 0 && o_r.bad >= o.prober_fault_share * o_r.considered)) {
        MarkRegion(r);
      }
    }
  }
}

}  // namespace sonde::detect
