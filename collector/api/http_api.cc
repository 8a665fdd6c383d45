#include "collector/api/http_api.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/flags.h"
#include "common/http_server.h"
#include "common/result_json.h"
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

}  // namespace

HttpApi::HttpApi(QueryService* query, const Authenticator* auth) : query_(query), auth_(auth) {}

HttpApi::~HttpApi() { Stop(); }

absl::Status HttpApi::Start(const std::string& listen) {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (auth_ == nullptr) {
      return true;
    }
    std::string header = req.get_header_value("Authorization");
    std::string token = absl::StartsWith(header, "Bearer ") ? header.substr(7) : "";
    absl::Status ok = auth_->QueryToken(token);
    if (!ok.ok()) {
      Reply(res, ok, nullptr);
    }
    return ok.ok();
  };
  server_.routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_.routes().Get(
      "/api/v1/incidents", [this, authorized](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) {
          return;
        }
        v1::IncidentsRequest request;
        std::string all = req.get_param_value("all");
        request.set_include_resolved(all == "1" || all == "true");
        request.set_service(req.get_param_value("service"));
        if (req.has_param("window")) {
          auto w = common::ParseDuration(req.get_param_value("window"));
          if (!w.ok()) {
            return Reply(res, absl::InvalidArgumentError("window: bad duration"), nullptr);
          }
          common::FromAbsl(*w, request.mutable_window());
        }
        auto reply = query_->ListIncidents(request);
        Reply(res, reply.status(), reply.ok() ? &*reply : nullptr);
      });
  server_.routes().Post(R"(/api/v1/incidents/(.+)/ack)", [this, authorized](
                                                             const httplib::Request& req,
                                                             httplib::Response& res) {
    if (!authorized(req, res)) {
      return;
    }
    v1::AcknowledgeRequest request;
    if (!req.body.empty()) {
      google::protobuf::util::JsonParseOptions o;
      o.ignore_unknown_fields = true;
      if (!google::protobuf::util::JsonStringToMessage(req.body, &request, o).ok()) {
        return Reply(res, absl::InvalidArgumentError("body must be JSON like {\"by\": \"alice\"}"),
                     nullptr);
      }
    }
    request.set_incident_id(req.matches[1]);
    if (request.by().empty()) {
      request.set_by(absl::StrCat("http ", req.remote_addr));
    }
    auto reply = query_->Ack(request);
    Reply(res, reply.status(), reply.ok() ? &*reply : nullptr);
  });
  server_.routes().Get(R"(/api/v1/incidents/(.+))",
                       [this, authorized](const httplib::Request& req, httplib::Response& res) {
                         if (!authorized(req, res)) {
                           return;
                         }
                         auto reply = query_->GetTimeline(req.matches[1]);
                         Reply(res, reply.status(), reply.ok() ? &*reply : nullptr);
                       });
  if (absl::Status st = server_.Start(listen, "HTTP API"); !st.ok()) {
    return st;
  }
  spdlog::info("HTTP API on {} port {} (/api/v1/incidents)", listen, server_.port());
  return absl::OkStatus();
}

void HttpApi::Stop() { server_.Stop(); }

}  // namespace sonde::collector
