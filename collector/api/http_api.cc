#include "collector/api/http_api.h"

#include <httplib.h>

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/flags.h"
#include "common/http_server.h"
#include "common/result_json.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

int HttpCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void Reply(httplib::Response& res, const absl::Status& s, const google::protobuf::Message* m) {
  if (!s.ok()) {
    std::string text = "{\"error\":";
    common::AppendJsonString(s.message(), &text);
    res.status = HttpCode(s);
    res.set_content(text + "}\n", "application/json");
    return;
  }
  res.set_content(common::ToJsonLine(*m) + "\n", "application/json");
}

// The reply of a call that may fail.
template <typename Message>
void Reply(httplib::Response& res, const absl::StatusOr<Message>& reply) {
  Reply(res, reply.status(), reply.ok() ? &*reply : nullptr);
}

void ReplyError(httplib::Response& res, int code, absl::string_view message) {
  Reply(res, absl::UnknownError(message), nullptr);
  res.status = code;
}

// A browser can be made to POST anywhere with a simple form or fetch(); two
// things it cannot forge: a JSON content type without a CORS preflight
// (which this server never answers), and its Origin / Sec-Fetch-Site
// headers. Returns false, with the reply made, when `req` must not act.
bool SameOriginJson(const httplib::Request& req, httplib::Response& res) {
  const std::string site = absl::AsciiStrToLower(req.get_header_value("Sec-Fetch-Site"));
  const std::string host = req.get_header_value("Host");
  if (req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    if (host.empty() ||
        (origin != absl::StrCat("http://", host) && origin != absl::StrCat("https://", host))) {
      ReplyError(res, 403, "cross-origin request refused");
      return false;
    }
  }
  if (!site.empty() && site != "same-origin" && site != "none") {
    ReplyError(res, 403, "cross-site request refused");
    return false;
  }
  std::string type = req.get_header_value("Content-Type");
  type = std::string(absl::StripAsciiWhitespace(type.substr(0, type.find(';'))));
  if (!absl::EqualsIgnoreCase(type, "application/json")) {
    ReplyError(res, 415, "POST needs Content-Type: application/json");
    return false;
  }
  return true;
}

// The query parameter `window` (a duration, e.g. 30d) into the request's
// `window` field, left unset when absent.
template <typename Request>
absl::Status WindowParam(const httplib::Request& req, Request* request) {
  if (!req.has_param("window")) {
    return absl::OkStatus();
  }
  absl::StatusOr<absl::Duration> w = common::ParseDuration(req.get_param_value("window"));
  if (!w.ok()) {
    return absl::InvalidArgumentError("window: bad duration, e.g. 30d");
  }
  common::FromAbsl(*w, request->mutable_window());
  return absl::OkStatus();
}

// The filters Query.Checks and Query.Status share: ?service= and ?check=.
template <typename Request>
Request StateFilter(const httplib::Request& req) {
  Request request;
  request.set_service(req.get_param_value("service"));
  request.set_check(req.get_param_value("check"));
  return request;
}

// GET `path` with scope read: `answer(req)`, an absl::StatusOr of the reply
// message, is the reply.
template <typename Authorized, typename Answer>
void AddReadRoute(httplib::Server& routes, const char* path, Authorized authorized, Answer answer) {
  routes.Get(path, [authorized, answer](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res, Scope::kRead)) {
      return;
    }
    Reply(res, answer(req));
  });
}

}  // namespace

HttpApi::HttpApi(QueryService* query, const Authenticator* auth) : query_(query), auth_(auth) {}

HttpApi::~HttpApi() { Stop(); }

absl::Status HttpApi::Start(const std::string& listen) {
  // The caller when the request's token has `scope`; otherwise the reply
  // (401 or 403) is made and nullopt returned.
  auto authorized = [this](const httplib::Request& req, httplib::Response& res,
                           Scope scope) -> std::optional<Caller> {
    if (auth_ == nullptr) {
      return Caller{};
    }
    absl::StatusOr<Caller> who =
        auth_->Authorize(Authenticator::BearerToken(req.get_header_value("Authorization")), scope);
    if (!who.ok()) {
      Reply(res, who.status(), nullptr);
      return std::nullopt;
    }
    return *std::move(who);
  };
  // For a POST that acts on an incident (scope ack): the same-origin JSON
  // rules, the caller, and the body (optional: {} when empty) parsed into
  // `request`; otherwise the reply is made and nullopt returned.
  auto acting = [authorized](const httplib::Request& req, httplib::Response& res,
                             google::protobuf::Message* request,
                             absl::string_view example) -> std::optional<Caller> {
    if (!SameOriginJson(req, res)) {
      return std::nullopt;
    }
    std::optional<Caller> caller = authorized(req, res, Scope::kAck);
    if (!caller) {
      return std::nullopt;
    }
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!req.body.empty() &&
        !google::protobuf::util::JsonStringToMessage(req.body, request, o).ok()) {
      Reply(res, absl::InvalidArgumentError(absl::StrCat("body must be JSON like ", example)),
            nullptr);
      return std::nullopt;
    }
    return caller;
  };
  httplib::Server& routes = server_.routes();
  routes.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  AddReadRoute(routes, "/api/v1/incidents", authorized,
               [this](const httplib::Request& req) -> absl::StatusOr<v1::IncidentsReply> {
                 v1::IncidentsRequest request;
                 const std::string all = req.get_param_value("all");
                 request.set_include_resolved(all == "1" || all == "true");
                 request.set_service(req.get_param_value("service"));
                 RETURN_IF_ERROR(WindowParam(req, &request));
                 return query_->ListIncidents(request);
               });
  routes.Post(R"(/api/v1/incidents/(.+)/ack)",
              [this, acting](const httplib::Request& req, httplib::Response& res) {
                v1::AcknowledgeRequest request;
                std::optional<Caller> caller = acting(req, res, &request, R"({"by": "alice"})");
                if (!caller) {
                  return;
                }
                request.set_incident_id(req.matches[1]);
                if (request.by().empty() && caller->token_name.empty()) {
                  request.set_by(absl::StrCat("http ", req.remote_addr));
                }
                Reply(res, query_->Ack(request, *caller));
              });
  routes.Post(R"(/api/v1/incidents/(.+)/updates)",
              [this, acting](const httplib::Request& req, httplib::Response& res) {
                v1::PostUpdateRequest request;
                std::optional<Caller> caller = acting(req, res, &request, R"({"message": "..."})");
                if (!caller) {
                  return;
                }
                request.set_incident_id(req.matches[1]);
                Reply(res, query_->Update(request, *caller));
              });
  AddReadRoute(routes, R"(/api/v1/incidents/(.+))", authorized,
               [this](const httplib::Request& req) { return query_->GetTimeline(req.matches[1]); });
  // Reports (docs/api.md, "Availability and SLOs"): the JSON of
  // AvailabilityReply and SloReply with proto field names.
  AddReadRoute(routes, "/api/v1/availability", authorized,
               [this](const httplib::Request& req) -> absl::StatusOr<v1::AvailabilityReply> {
                 v1::AvailabilityRequest request;
                 RETURN_IF_ERROR(WindowParam(req, &request));
                 request.set_month(req.get_param_value("month"));
                 request.set_time_zone(req.get_param_value("time_zone"));
                 request.set_check_id(req.get_param_value("check"));
                 request.set_region(req.get_param_value("region"));
                 request.set_service(req.get_param_value("service"));
                 const std::string daily = req.get_param_value("daily");
                 request.set_daily(daily == "1" || daily == "true");
                 return query_->reports().Availability(request);
               });
  AddReadRoute(routes, "/api/v1/slos", authorized, [this](const httplib::Request& req) {
    v1::SloRequest request;
    request.set_name(req.get_param_value("name"));
    request.set_service(req.get_param_value("service"));
    return query_->reports().Slo(request);
  });
  // Query.Checks and Query.Status with their filters as query parameters.
  AddReadRoute(routes, "/api/v1/checks", authorized,
               [this](const httplib::Request& req) -> absl::StatusOr<v1::ChecksReply> {
                 return query_->ListChecks(StateFilter<v1::ChecksRequest>(req));
               });
  AddReadRoute(routes, "/api/v1/status", authorized,
               [this](const httplib::Request& req) -> absl::StatusOr<v1::StatusReply> {
                 v1::StatusRequest request = StateFilter<v1::StatusRequest>(req);
                 request.set_region(req.get_param_value("region"));
                 return query_->CurrentStatus(request);
               });
  if (status_page_ != nullptr) {
    AddStatusRoutes(routes, status_page_,
                    [authorized](const httplib::Request& req, httplib::Response& res) {
                      return authorized(req, res, Scope::kRead).has_value();
                    });
  }
  if (absl::Status st = server_.Start(listen, "HTTP API"); !st.ok()) {
    return st;
  }
  spdlog::info("HTTP API on {} port {} (/api/v1/incidents)", listen, server_.port());
  return absl::OkStatus();
}

void HttpApi::Stop() { server_.Stop(); }

}  // namespace sonde::collector
