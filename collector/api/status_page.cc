#include "collector/api/status_page.h"

#include <httplib.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/api/status_page_builder.h"
#include "collector/report/reader.h"
#include "common/html/status_page_html.h"
#include "common/html/status_page_json.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

// At most this many incidents get their timeline read per build.
constexpr int kMaxIncidents = 50;

// Even if a renderer ever let markup through, the browser runs no script,
// loads nothing and submits nothing.
constexpr char kCsp[] =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'";

void Send(httplib::Response& res, std::string body, const char* type) {
  res.set_header("Content-Security-Policy", kCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "public, max-age=5");
  res.set_content(std::move(body), type);
}

void Fail(httplib::Response& res, int code, const std::string& text) {
  res.status = code;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::vector<ServiceDay>> StatusDayNumbers(ReportQuery* reports,
                                                         const v1::Config& config, absl::Time from,
                                                         absl::Time to) {
  report::ReportScope scope;
  scope.now = to;
  // Whole seconds, as every report's window (the days add up to the row).
  scope.window = {from, absl::FromUnixSeconds(absl::ToUnixSeconds(to))};
  scope.days = report::CalendarDays(scope.window, absl::UTCTimeZone());
  absl::StatusOr<v1::AvailabilityReply> reply =
      reports->Report(scope, {"status page", "UTC"}, config);
  if (!reply.ok()) {
    return reply.status();
  }
  std::map<std::string, std::vector<const v1::AvailabilityRow*>> by_service;
  for (const v1::AvailabilityRow& row : reply->overall()) {
    by_service[row.service()].push_back(&row);
  }
  std::vector<ServiceDay> out;
  for (const auto& [service, rows] : by_service) {
    const v1::AvailabilityRow sum = report::SumRows(rows, "", service);
    for (const v1::DayAvailability& d : sum.days()) {
      ServiceDay day;
      day.service = service;
      day.day = absl::ToCivilDay(common::ToTime(d.start()), absl::UTCTimeZone());
      day.probes = static_cast<int64_t>(d.probes());
      day.failures = static_cast<int64_t>(d.failures());
      day.availability = d.availability();
      day.counted_seconds = d.counted_seconds();
      day.down_seconds = d.down_seconds();
      out.push_back(std::move(day));
    }
  }
  return out;
}

StatusPage::StatusPage(QueryService* query, StorePool* pool, const ConfigHolder* config,
                       const common::Clock* clock)
    : query_(query), pool_(pool), config_(config), clock_(clock) {}

bool StatusPage::require_token() const { return config_->Get()->status_page().require_token(); }

absl::StatusOr<std::shared_ptr<const html::StatusPageModel>> StatusPage::Model() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    const absl::Time now = clock_->Now();
    if (now - built_at_ < kStatusPageCacheFor) {  // fresh, or failed a moment ago
      if (cached_ == nullptr || !last_error_.ok()) {
        return last_error_.ok() ? absl::UnavailableError("no page yet") : last_error_;
      }
      return cached_;
    }
    if (!building_) {
      break;
    }
    if (cached_ != nullptr) {  // another visitor is building: the previous page will do
      return cached_;
    }
    mu_.Await(absl::Condition(
        +[](bool* building) { return !*building; }, &building_));
  }
  building_ = true;
  absl::StatusOr<html::StatusPageModel> model;
  {
    mu_.Unlock();  // the database is read without the lock
    model = Build();
    mu_.Lock();
  }
  building_ = false;
  built_at_ = clock_->Now();
  if (!model.ok()) {
    last_error_ = model.status();
    return last_error_;
  }
  last_error_ = absl::OkStatus();
  cached_ = std::make_shared<const html::StatusPageModel>(*std::move(model));
  return cached_;
}

absl::StatusOr<html::StatusPageModel> StatusPage::Build() {
  std::shared_ptr<const v1::Config> config = config_->Get();
  StatusPageInputs in;
  in.config = config.get();
  in.now = clock_->Now();

  v1::IncidentsRequest request;
  request.set_include_resolved(true);
  common::SetDuration(kStatusPageRecent, request.mutable_window());
  absl::StatusOr<v1::IncidentsReply> list = query_->ListIncidents(request);
  if (!list.ok()) {
    return list.status();
  }
  int read = 0;
  for (const v1::Incident& i : list->incidents()) {
    if (i.kind() == "CERT_EXPIRING" || i.kind() == "PROBER_FAULT") {
      continue;
    }
    if (++read > kMaxIncidents) {
      break;
    }
    absl::StatusOr<v1::TimelineReply> t = query_->GetTimeline(i.id());
    if (absl::IsNotFound(t.status())) {
      continue;
    }
    if (!t.ok()) {
      return t.status();
    }
    in.incidents.push_back(*std::move(t));
  }

  const absl::CivilDay today = absl::ToCivilDay(in.now, absl::UTCTimeZone());
  const absl::Time from = absl::FromCivil(today - (kStatusPageDays - 1), absl::UTCTimeZone());
  absl::StatusOr<std::vector<ServiceDay>> days =
      StatusDayNumbers(&query_->reports(), *config, from, in.now);
  if (!days.ok()) {
    return days.status();
  }
  in.days = *std::move(days);
  absl::StatusOr<StorePool::Lease> store = pool_->Acquire();
  if (!store.ok()) {
    return store.status();
  }
  absl::StatusOr<std::vector<ServiceRegionHealth>> recent =
      (*store)->RecentHealth(in.now - kStatusPageHealthWindow);
  if (!recent.ok()) {
    return recent.status();
  }
  in.recent = *std::move(recent);
  return BuildStatusPage(in);
}

void AddStatusRoutes(httplib::Server& server, StatusPage* page,
                     std::function<bool(const httplib::Request&, httplib::Response&)> authorized) {
  // The model for a request, or null with the reply made.
  auto model = [page, authorized](
                   const httplib::Request& req,
                   httplib::Response& res) -> std::shared_ptr<const html::StatusPageModel> {
    if (page->require_token() && !authorized(req, res)) {
      return nullptr;
    }
    absl::StatusOr<std::shared_ptr<const html::StatusPageModel>> m = page->Model();
    if (!m.ok()) {
      spdlog::warn("status page: {}", std::string(m.status().message()));
      Fail(res, 503, "the status page is unavailable right now; try again");
      return nullptr;
    }
    return *std::move(m);
  };
  server.Get("/status", [model](const httplib::Request& req, httplib::Response& res) {
    if (auto m = model(req, res)) {
      Send(res, html::RenderStatusPage(*m), "text/html; charset=utf-8");
    }
  });
  server.Get("/status.json", [model](const httplib::Request& req, httplib::Response& res) {
    if (auto m = model(req, res)) {
      Send(res, html::StatusJson(*m), "application/json");
    }
  });
  server.Get("/status/feed.atom", [model](const httplib::Request& req, httplib::Response& res) {
    if (auto m = model(req, res)) {
      Send(res, html::RenderAtomFeed(*m), "application/atom+xml; charset=utf-8");
    }
  });
  server.Get(R"(/status/badge/([A-Za-z0-9._-]+)\.svg)",
             [model](const httplib::Request& req, httplib::Response& res) {
               if (auto m = model(req, res)) {
                 const html::ServiceView* s = html::FindService(*m, req.matches[1]);
                 if (s == nullptr) {
                   return Fail(res, 404, "no such service on the status page");
                 }
                 Send(res, html::RenderBadgeSvg(*s), "image/svg+xml");
               }
             });
  server.Get(R"(/status/shields/([A-Za-z0-9._-]+)\.json)",
             [model](const httplib::Request& req, httplib::Response& res) {
               if (auto m = model(req, res)) {
                 const html::ServiceView* s = html::FindService(*m, req.matches[1]);
                 if (s == nullptr) {
                   return Fail(res, 404, "no such service on the status page");
                 }
                 Send(res, html::ShieldsJson(*s), "application/json");
               }
             });
}

}  // namespace sonde::collector
