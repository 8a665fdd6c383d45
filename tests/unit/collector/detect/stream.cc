#include "tests/unit/collector/detect/stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/proto_time.h"

namespace sonde::detect::testing {

OutcomeExtras FallbackTo(std::string address, v1::FailureClass::Code cls, int http_status) {
  OutcomeExtras e;
  e.fallback_address = std::move(address);
  e.fallback_class = cls;
  e.fallback_http_status = http_status;
  return e;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

namespace {

int64_t Us(absl::Time t) { return absl::ToUnixMicros(t); }

}  // namespace

struct StreamDriver::Pending {
  int64_t deliver_us;
  uint64_t order;  // tie-break: shuffled within a tick in real-time mode
  uint32_t series;
  int64_t start_us;
  uint32_t request;
  Outcome outcome;
};

v1::Check HttpCheck(const std::string& name, const std::string& service, const std::string& url,
                    absl::Duration interval, uint32_t requests_per_run,
                    std::vector<std::string> resolvers) {
  v1::Check c;
  c.set_name(name);
  c.set_service(service);
  common::SetDuration(interval, c.mutable_interval());
  c.mutable_http()->set_url(url);
  c.mutable_http()->set_requests_per_run(requests_per_run);
  for (const std::string& r : resolvers) {
    c.mutable_http()->add_resolvers(r);
  }
  return c;
}

v1::Check TcpCheck(const std::string& name, const std::string& service, const std::string& host,
                   int port, absl::Duration interval) {
  v1::Check c;
  c.set_name(name);
  c.set_service(service);
  common::SetDuration(interval, c.mutable_interval());
  c.mutable_tcp()->set_host(host);
  c.mutable_tcp()->set_port(port);
  return c;
}

v1::Check TlsCheck(const std::string& name, const std::string& service, const std::string& host,
                   absl::Duration interval, uint32_t min_days_valid) {
  v1::Check c;
  c.set_name(name);
  c.set_service(service);
  common::SetDuration(interval, c.mutable_interval());
  c.mutable_tls()->set_host(host);
  c.mutable_tls()->set_port(443);
  c.mutable_tls()->set_min_days_valid(min_days_valid);
  return c;
}

v1::Check DnsCheck(const std::string& name, const std::string& service, const std::string& host,
                   absl::Duration interval, std::vector<std::string> resolvers) {
  v1::Check c;
  c.set_name(name);
  c.set_service(service);
  common::SetDuration(interval, c.mutable_interval());
  c.mutable_dns()->set_name(host);
  for (const std::string& r : resolvers) {
    c.mutable_dns()->add_resolvers(r);
  }
  return c;
}

v1::Config Fleet(std::vector<v1::Check> checks, std::vector<std::string> regions) {
  v1::Config config;
  for (const std::string& r : regions) {
    config.add_regions(r);
  }
  for (v1::Check& c : checks) {
    *config.add_checks() = std::move(c);
  }
  return config;
}

StreamDriver::StreamDriver(v1::Config config, DetectorOptions options, DriverOptions driver,
                           absl::Time start)
    : config_(std::move(config)), driver_(driver), clock_(start) {
  auto d = Detector::Create(std::move(options));
  if (!d.ok()) {
    abort();
  }
  detector_ = std::move(d).value();
  if (!detector_->SetConfig(config_, start).ok()) {
    abort();
  }
  const int n_regions = config_.regions_size();
  for (int ci = 0; ci < config_.checks_size(); ++ci) {
    const v1::Check& check = config_.checks(ci);
    const int64_t interval = absl::ToInt64Microseconds(common::ToDuration(check.interval()));
    interval_us_.push_back(interval);
    requests_per_run_.push_back(
        check.has_http() ? std::max<uint32_t>(1, check.http().requests_per_run()) : 1);
    for (int r = 0; r < n_regions; ++r) {
      const uint32_t series = static_cast<uint32_t>(ci * n_regions + r);
      // Stable offset inside the interval, like the scheduler's, in ms.
      const int64_t offset =
          static_cast<int64_t>(Mix(series * 7919 + 17) % (interval / 1000)) * 1000;
      schedule_.push_back({Us(start) + offset, series});
    }
  }
  std::make_heap(schedule_.begin(), schedule_.end(), std::greater<>());
  scratch_.set_kind("http");
}

StreamDriver::~StreamDriver() = default;

void StreamDriver::Send(const Pending& p) {
  const int n_regions = config_.regions_size();
  const v1::Check& check = config_.checks(static_cast<int>(p.series) / n_regions);
  const std::string& region = config_.regions(static_cast<int>(p.series) % n_regions);
  const Outcome& o = p.outcome;
  v1::ProbeResult& r = scratch_;
  r.set_check_id(check.name());
  r.set_service(check.service());
  r.set_region(region);
  r.set_prober_id(region);  // one prober per region, named after it
  r.set_seq(++seq_);
  r.mutable_start_time()->set_seconds(p.start_us / 1'000'000);
  r.mutable_start_time()->set_nanos(static_cast<int32_t>(p.start_us % 1'000'000) * 1000);
  r.set_ok(o.extras != nullptr && o.extras->ok.has_value() ? *o.extras->ok
                                                           : o.cls == v1::FailureClass::OK);
  r.set_failure_class(o.cls);
  r.set_detail(o.detail.data(), o.detail.size());
  r.set_dns_us(o.dns_us);
  r.set_connect_us(o.connect_us);
  r.set_tls_us(o.tls_us);
  r.set_first_byte_us(o.first_byte_us);
  r.set_total_us(o.total_us);
  r.set_http_status(o.http_status);
  r.set_request_index(p.request);
  // Rare fields: set only when used (the replay measures this loop too).
  static const OutcomeExtras kNone;
  const OutcomeExtras& x = o.extras != nullptr ? *o.extras : kNone;
  if (o.extras != nullptr || !r.fallback_address().empty() || !r.cert_not_after().empty()) {
    r.set_fallback_address(x.fallback_address);
    r.set_fallback_class(x.fallback_class);
    r.set_fallback_http_status(x.fallback_http_status);
    r.set_cert_not_after(x.cert_not_after);
    r.set_chain_not_after(x.chain_not_after);
    r.set_cert_days_left(x.cert_days_left);
  }
  detector_->Observe(r);
  ++results_sent_;
}

void StreamDriver::Generate(absl::Time until) {
  const int64_t end = Us(until);
  const int n_regions = config_.regions_size();
  while (!schedule_.empty() && schedule_.front().first < end) {
    auto [start_us, series] = schedule_.front();
    const int ci = static_cast<int>(series) / n_regions;
    const v1::Check& check = config_.checks(ci);
    // Reschedule in place: replace the top and sift it down.
    {
      const std::pair<int64_t, uint32_t> moved{start_us + interval_us_[ci], series};
      size_t i = 0;
      const size_t n = schedule_.size();
      while (true) {
        size_t child = 2 * i + 1;
        if (child >= n) {
          break;
        }
        if (child + 1 < n && schedule_[child + 1] < schedule_[child]) {
          ++child;
        }
        if (!(schedule_[child] < moved)) {
          break;
        }
        schedule_[i] = schedule_[child];
        i = child;
      }
      schedule_[i] = moved;
    }
    const uint32_t rpr = requests_per_run_[ci];
    for (uint32_t req = 0; req < rpr; ++req) {
      Pending p;
      p.series = series;
      p.start_us = start_us;
      p.request = req;
      const uint64_t h = Mix(Mix(series + 0x9e3779b97f4a7c15ULL * (start_us + 1)) + req);
      // Some jitter on the server's answer time.
      p.outcome.first_byte_us += static_cast<uint32_t>(h % 20000);
      if (behavior_) {
        RunContext ctx{ci,
                       static_cast<int>(series) % n_regions,
                       check.name(),
                       config_.regions(static_cast<int>(series) % n_regions),
                       absl::FromUnixMicros(start_us),
                       req,
                       h};
        behavior_(ctx, &p.outcome);
      }
      if (p.outcome.skip) {
        continue;
      }
      Outcome& o = p.outcome;
      if (o.total_us == 0) {
        o.total_us = o.dns_us + o.connect_us + o.tls_us + o.first_byte_us;
      }
      if (!driver_.real_time) {
        Send(p);
        continue;
      }
      const int64_t delay = static_cast<int64_t>(
          (h >> 20) %
          static_cast<uint64_t>(absl::ToInt64Microseconds(driver_.max_delivery_delay) + 1));
      p.deliver_us = start_us + o.total_us + delay;
      p.order = Mix(h);
      auto later = [](const Pending& a, const Pending& b) {
        return a.deliver_us != b.deliver_us ? a.deliver_us > b.deliver_us : a.order > b.order;
      };
      in_flight_.push_back(p);
      std::push_heap(in_flight_.begin(), in_flight_.end(), later);
      if (driver_.duplicate_every > 0 && h % driver_.duplicate_every == 0) {
        p.deliver_us += 300000;  // the batch resent after a lost ack
        p.order = Mix(p.order);
        in_flight_.push_back(p);
        std::push_heap(in_flight_.begin(), in_flight_.end(), later);
      }
    }
  }
}

void StreamDriver::Deliver(absl::Time until) {
  const int64_t end = Us(until);
  auto later = [](const Pending& a, const Pending& b) {
    return a.deliver_us != b.deliver_us ? a.deliver_us > b.deliver_us : a.order > b.order;
  };
  // Everything delivered during this tick, in shuffled order.
  std::vector<Pending> batch;
  while (!in_flight_.empty() && in_flight_.front().deliver_us < end) {
    std::pop_heap(in_flight_.begin(), in_flight_.end(), later);
    batch.push_back(in_flight_.back());
    in_flight_.pop_back();
  }
  std::sort(batch.begin(), batch.end(),
            [](const Pending& a, const Pending& b) { return a.order < b.order; });
  for (const Pending& p : batch) {
    Send(p);
  }
}

void StreamDriver::RunUntil(absl::Time end) {
  while (clock_.Now() < end) {
    const absl::Time next = std::min(end, clock_.Now() + driver_.tick);
    Generate(next);
    if (driver_.real_time) {
      Deliver(next);
    }
    clock_.Set(next);
    for (IncidentEvent& e : detector_->Tick(next)) {
      events_.push_back(TimedEvent{next, std::move(e)});
    }
  }
}

std::vector<TimedEvent> StreamDriver::EventsOf(IncidentKind kind) const {
  std::vector<TimedEvent> out;
  for (const TimedEvent& e : events_) {
    if (e.event.incident.kind == kind) {
      out.push_back(e);
    }
  }
  return out;
}

absl::Time StreamDriver::FirstOpened(IncidentKind kind, absl::Time since) const {
  for (const TimedEvent& e : events_) {
    if (e.tick >= since && e.event.kind == IncidentEventKind::kOpened &&
        e.event.incident.kind == kind) {
      return e.tick;
    }
  }
  return absl::InfiniteFuture();
}

std::string StreamDriver::Dump() const {
  std::string out;
  for (const TimedEvent& e : events_) {
    absl::StrAppend(&out, DebugString(e.event), "\n");
  }
  return out;
}

}  // namespace sonde::detect::testing
