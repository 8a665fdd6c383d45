// StatusPage: the public status page served on the HTTP API's listener
// (docs/status-page.md):
//   GET /status                      HTML, no script, no external assets
//   GET /status.json                 the same data as JSON (version 1)
//   GET /status/feed.atom            incidents and their updates
//   GET /status/badge/<service>.svg  a flat SVG badge
//   GET /status/shields/<service>.json  a shields.io endpoint document
// Read-only and without a token unless the config's status_page says
// require_token (then a query token with scope read, as for /api/v1).
//
// Builds the model (status_page_builder.h) from the config, the Query
// service's incidents and timelines and the rollups, at most once per
// kStatusPageCacheFor, failures included: a public page must not let
// visitors drive the database. Borrowed pointers must outlive it.
// Thread-safe: handlers run on the HttpServer's threads; one builds (without
// the lock) while the others get the previous page, or wait for the first.
#ifndef SONDE_COLLECTOR_API_STATUS_PAGE_H_
#define SONDE_COLLECTOR_API_STATUS_PAGE_H_

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/api/config_service.h"
#include "collector/api/query_service.h"
#include "collector/api/report_query.h"
#include "collector/api/status_page_builder.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/html/status_page_model.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sonde::collector {

inline constexpr absl::Duration kStatusPageCacheFor = absl::Seconds(5);

// The numbers of the day bars: per service and UTC day from `from` to `to`,
// the report engine's per-day numbers (docs/availability.md, "Per-day
// numbers") of the service's checks added up — the same numbers as
// `sondectl report` and the HTML report.
absl::StatusOr<std::vector<ServiceDay>> StatusDayNumbers(ReportQuery* reports,
                                                         const v1::Config& config, absl::Time from,
                                                         absl::Time to);

class StatusPage {
 public:
  StatusPage(QueryService* query, StorePool* pool, const ConfigHolder* config,
             const common::Clock* clock);
  StatusPage(const StatusPage&) = delete;
  StatusPage& operator=(const StatusPage&) = delete;

  // The current model, built at most kStatusPageCacheFor ago (older while a
  // rebuild runs). The build's error, e.g. UNAVAILABLE while PostgreSQL is
  // away, for kStatusPageCacheFor after it failed.
  absl::StatusOr<std::shared_ptr<const html::StatusPageModel>> Model();
  // The config's status_page.require_token, now.
  bool require_token() const;

 private:
  absl::StatusOr<html::StatusPageModel> Build();

  QueryService* const query_;
  StorePool* const pool_;
  const ConfigHolder* const config_;
  const common::Clock* const clock_;
  absl::Mutex mu_;
  std::shared_ptr<const html::StatusPageModel> cached_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);  // of the newest build
  absl::Time built_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool building_ ABSL_GUARDED_BY(mu_) = false;  // a visitor's thread is in Build()
};

// Registers the /status routes on `server`. `authorized` answers whether a
// request may read (making the 401/403 reply when not); it is asked only
// when the page requires a token.
void AddStatusRoutes(httplib::Server& server, StatusPage* page,
                     std::function<bool(const httplib::Request&, httplib::Response&)> authorized);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_STATUS_PAGE_H_
