// HttpApi over a real QueryService and PostgreSQL (the environment is
// registered in incident_store_test.cc, same binary): listing, one
// incident with its timeline, acknowledgement, errors, and the query token
// when an Authenticator requires one. Loopback, port 0.
#include "collector/api/http_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/api/query_service.h"
#include "collector/api/status_page.h"
#include "collector/auth/auth.h"
#include "collector/incidents/incident_store.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sonde::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kQueryToken[] = "query-token-0123456789abcdef";
// 2025-11-21T09:00:00Z
const absl::Time kT0 = absl::FromUnixSeconds(1763715600);

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

const google::protobuf::Struct& Obj(const google::protobuf::Struct& s, const std::string& key) {
  static const google::protobuf::Struct* const kEmpty = new google::protobuf::Struct;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? *kEmpty : it->second.struct_value();
}

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<missing>" : it->second.string_value();
}

// The ids of the "incidents" list of a reply.
std::vector<std::string> Ids(const google::protobuf::Struct& reply) {
  std::vector<std::string> ids;
  auto it = reply.fields().find("incidents");
  if (it == reply.fields().end()) {
    return ids;
  }
  for (const auto& v : it->second.list_value().values()) {
    ids.push_back(Str(v.struct_value(), "id"));
  }
  return ids;
}

detect::Incident MakeIncident(const std::string& id, const std::string& service,
                              detect::IncidentKind kind, absl::Time opened) {
  detect::Incident i;
  i.id = id;
  i.kind = kind;
  i.service = service;
  i.checks = {service + "-login"};
  i.regions = {"ams", "fra"};
  i.dominant_class = v1::FailureClass::TCP_REFUSED;
  i.failing_share = 1;
  i.affected_targets = 1;
  i.evidence = "connection refused";
  i.opened_at = opened;
  i.updated_at = opened;
  return i;
}

detect::IncidentEvent Event(detect::IncidentEventKind kind, const detect::Incident& incident) {
  detect::IncidentEvent e;
  e.kind = kind;
  e.incident_id = incident.id;
  e.at = incident.resolved ? incident.resolved_at : incident.updated_at;
  e.incident = incident;
  return e;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = sonde::testing::PostgresEnvironment::conninfo();
    ASSERT_FALSE(conninfo_.empty());
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> s, Store::Connect(conninfo_));
    ASSERT_OK(s->Migrate());
    db_ = std::make_unique<sonde::testing::Db>(conninfo_);
    pool_ = std::make_unique<StorePool>(conninfo_);
    clock_.Set(kT0 + absl::Hours(1));
    query_ = std::make_unique<QueryService>(pool_.get(), &clock_);

    // Distinct services per test: run by hand, the cases share one server.
    const std::string suffix = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    open_id_ = absl::StrCat("web-", suffix, "/GLOBAL_OUTAGE/1763715600");
    resolved_id_ = absl::StrCat("db-", suffix, "/REGIONAL_OUTAGE/1763715600");
    IncidentStore store(conninfo_);
    detect::Incident open =
        MakeIncident(open_id_, "web-" + suffix, detect::IncidentKind::kGlobalOutage, kT0);
    detect::Incident resolved =
        MakeIncident(resolved_id_, "db-" + suffix, detect::IncidentKind::kRegionalOutage, kT0);
    ASSERT_OK(store.Record({Event(detect::IncidentEventKind::kOpened, open),
                            Event(detect::IncidentEventKind::kOpened, resolved)},
                           v1::Config(), kT0));
    resolved.resolved = true;
    resolved.resolved_at = kT0 + absl::Minutes(5);
    ASSERT_OK(store.Record({Event(detect::IncidentEventKind::kResolved, resolved)}, v1::Config(),
                           resolved.resolved_at));
  }

  void TearDown() override {
    if (api_ != nullptr) {
      api_->Stop();
    }
  }

  // Starts the API on 127.0.0.1:0 with `auth` (null: no authentication).
  void StartApi(const Authenticator* auth) {
    api_ = std::make_unique<HttpApi>(query_.get(), auth);
    ASSERT_OK(api_->Start("127.0.0.1:0"));
    ASSERT_GT(api_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
    client_->set_connection_timeout(5);
    client_->set_read_timeout(10);
  }

  std::string Service(const std::string& id) { return id.substr(0, id.find('/')); }

  // An Authenticator over `tokens_yaml`, its file in a scratch dir the
  // fixture keeps; null (and a failure) when it cannot be made.
  std::unique_ptr<Authenticator> Auth(const std::string& name, const std::string& tokens_yaml) {
    scratch_ = std::make_unique<sonde::testing::ScratchDir>(name);
    EXPECT_FALSE(scratch_->path().empty());
    std::ofstream(scratch_->Path("tokens.yaml")) << tokens_yaml;
    AuthOptions options;
    options.tokens_file = scratch_->Path("tokens.yaml");
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Create(options, "127.0.0.1:0");
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }
  static constexpr char kScopedTokens[] =
      "query:\n  - {name: grafana, token: read-token-0123456789, scopes: [read]}\n"
      "  - {name: oncall, token: ack-token-0123456789, scopes: [ack]}\n";

  std::string conninfo_;
  std::unique_ptr<sonde::testing::Db> db_;
  std::unique_ptr<StorePool> pool_;
  common::FakeClock clock_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<httplib::Client> client_;
  std::string open_id_, resolved_id_;
  std::unique_ptr<sonde::testing::ScratchDir> scratch_;
};

TEST_F(HttpApiTest, ListsIncidentsAsJson) {
  ASSERT_NO_FATAL_FAILURE(StartApi(nullptr));
  auto res = client_->Get(absl::StrCat("/api/v1/incidents?service=", Service(open_id_)).c_str());
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("application/json"));
  google::protobuf::Struct reply = ParseJson(res->body);
  ASSERT_THAT(Ids(reply), ElementsAre(open_id_));
  const google::protobuf::Struct& i =
      reply.fields().at("incidents").list_value().values(0).struct_value();
  EXPECT_EQ(Str(i, "kind"), "GLOBAL_OUTAGE");
  EXPECT_EQ(Str(i, "status"), "open");
  EXPECT_EQ(Str(i, "failure_class"), "TCP_REFUSED");
  EXPECT_EQ(Str(i, "opened_at"), "2025-11-21T09:00:00Z");
  EXPECT_EQ(Str(i, "acknowledged_by"), "");  // primitive fields always printed

  // Open incidents only, unless all=1 (then the resolved one opened within
  // the window too).
  res = client_->Get(absl::StrCat("/api/v1/incidents?service=", Service(resolved_id_)).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(Ids(ParseJson(res->body)), ElementsAre());
  res =
      client_->Get(absl::StrCat("/api/v1/incidents?all=1&service=", Service(resolved_id_)).c_str());
  ASSERT_TRUE(res);
  EXPECT_THAT(Ids(ParseJson(res->body)), ElementsAre(resolved_id_));
  // Opened 1 h before the clock: outside a 30m window.
  res = client_->Get(
      absl::StrCat("/api/v1/incidents?all=1&window=30m&service=", Service(resolved_id_)).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(Ids(ParseJson(res->body)), ElementsAre());

  res = client_->Get("/api/v1/incidents?window=soon");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(Str(ParseJson(res->body), "error"), HasSubstr("window"));
}

TEST_F(HttpApiTest, OneIncidentWithItsTimeline) {
  ASSERT_NO_FATAL_FAILURE(StartApi(nullptr));
  auto res = client_->Get(absl::StrCat("/api/v1/incidents/", resolved_id_).c_str());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  google::protobuf::Struct reply = ParseJson(res->body);
  EXPECT_EQ(Str(Obj(reply, "incident"), "id"), resolved_id_);
  EXPECT_EQ(Str(Obj(reply, "incident"), "status"), "resolved");
  EXPECT_EQ(Str(Obj(reply, "incident"), "resolved_at"), "2025-11-21T09:05:00Z");
  std::vector<std::string> kinds;
  for (const auto& e : reply.fields().at("events").list_value().values()) {
    kinds.push_back(Str(e.struct_value(), "kind"));
  }
  EXPECT_THAT(kinds, ElementsAre("OPENED", "RESOLVED"));
}

TEST_F(HttpApiTest, PostAckAcknowledgesOnce) {
  ASSERT_NO_FATAL_FAILURE(StartApi(nullptr));
  const std::string path = absl::StrCat("/api/v1/incidents/", open_id_, "/ack");
  auto res =
      client_->Post(path.c_str(), R"({"by": "alice", "comment": "on it"})", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  google::protobuf::Struct reply = ParseJson(res->body);
  EXPECT_FALSE(reply.fields().at("already_acknowledged").bool_value());
  EXPECT_EQ(Str(Obj(reply, "incident"), "acknowledged_by"), "alice");
  EXPECT_EQ(Str(Obj(reply, "incident"), "acknowledged_at"), "2025-11-21T10:00:00Z");

  absl::StatusOr<sonde::testing::Db::Rows> rows =
      db_->Query(absl::StrCat("SELECT acknowledged_by, acknowledged_at = '2025-11-21T10:00:00Z' "
                              "FROM incidents WHERE id = '",
                              open_id_, "'"));
  ASSERT_OK(rows);
  EXPECT_THAT(*rows, ElementsAre(ElementsAre("alice", "t")));
  rows = db_->Query(absl::StrCat("SELECT detail FROM incident_events WHERE incident_id = '",
                                 open_id_, "' AND kind = 'ACKNOWLEDGED'"));
  ASSERT_OK(rows);
  EXPECT_THAT(*rows, ElementsAre(ElementsAre("acknowledged by alice: on it")));

  // Again, without a body: harmless, says so, the first ack stays.
  res = client_->Post(path.c_str(), "", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  reply = ParseJson(res->body);
  EXPECT_TRUE(reply.fields().at("already_acknowledged").bool_value());
  EXPECT_EQ(Str(Obj(reply, "incident"), "acknowledged_by"), "alice");

  res = client_->Post(path.c_str(), "{by: alice", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  res = client_->Post(path.c_str(), "by=alice", "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 415) << res->body;
}

TEST_F(HttpApiTest, PostAckWithoutBodyNamesTheClient) {
  ASSERT_NO_FATAL_FAILURE(StartApi(nullptr));
  auto res = client_->Post(absl::StrCat("/api/v1/incidents/", open_id_, "/ack").c_str(), "",
                           "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Str(Obj(ParseJson(res->body), "incident"), "acknowledged_by"), "http 127.0.0.1");
}

TEST_F(HttpApiTest, UnknownIncidentIs404) {
  ASSERT_NO_FATAL_FAILURE(StartApi(nullptr));
  auto res = client_->Get("/api/v1/incidents/nope/GLOBAL_OUTAGE/1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body;
  EXPECT_THAT(Str(ParseJson(res->body), "error"), HasSubstr("nope/GLOBAL_OUTAGE/1"));
  res = client_->Post("/api/v1/incidents/nope/GLOBAL_OUTAGE/1/ack", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body;
}

TEST_F(HttpApiTest, QueryTokenRequiredWhenTheCollectorIsNotOpen) {
  sonde::testing::ScratchDir dir("http-api-auth");
  ASSERT_FALSE(dir.path().empty());
  std::ofstream(dir.Path("tokens.yaml")) << "query: [" << kQueryToken << "]\n";
  AuthOptions options;
  options.tokens_file = dir.Path("tokens.yaml");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Authenticator> auth,
                       Authenticator::Create(options, "127.0.0.1:0"));
  ASSERT_FALSE(auth->open());
  ASSERT_NO_FATAL_FAILURE(StartApi(auth.get()));

  const std::string list = absl::StrCat("/api/v1/incidents?service=", Service(open_id_));
  const std::string one = absl::StrCat("/api/v1/incidents/", open_id_);
  const std::string ack = one + "/ack";
  const httplib::Headers none;
  const httplib::Headers wrong = {{"Authorization", "Bearer not-the-query-token-at-all"}};
  const httplib::Headers basic = {{"Authorization", std::string("Basic ") + kQueryToken}};
  const httplib::Headers right = {{"Authorization", std::string("Bearer ") + kQueryToken}};
  for (const httplib::Headers* h : {&none, &wrong, &basic}) {
    auto res = client_->Get(list.c_str(), *h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    EXPECT_EQ(Ids(ParseJson(res->body)).size(), 0u) << "no data without the token";
    res = client_->Get(one.c_str(), *h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    res = client_->Post(ack.c_str(), *h, R"({"by": "mallory"})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
  }
  absl::StatusOr<int64_t> acked = db_->Int(
      absl::StrCat("SELECT count(*) FROM incidents WHERE acknowledged_at IS NOT NULL AND id = '",
                   open_id_, "'"));
  ASSERT_OK(acked);
  EXPECT_EQ(*acked, 0) << "an unauthenticated POST acknowledged the incident";

  auto res = client_->Get(list.c_str(), right);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(Ids(ParseJson(res->body)), ElementsAre(open_id_));
  res = client_->Get(one.c_str(), right);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  res = client_->Post(ack.c_str(), right, R"({"by": "alice"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Str(Obj(ParseJson(res->body), "incident"), "acknowledged_by"), "alice");

  res = client_->Get("/healthz");  // liveness needs no token
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpApiTest, ScopesOriginAndContentTypeGuardTheAck) {
  std::unique_ptr<Authenticator> auth = Auth("http-api-scopes", kScopedTokens);
  ASSERT_NE(auth, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartApi(auth.get()));
  const std::string ack = absl::StrCat("/api/v1/incidents/", open_id_, "/ack");
  const std::string self = absl::StrCat("http://127.0.0.1:", api_->port());
  const httplib::Headers read = {{"Authorization", "Bearer read-token-0123456789"}};
  const httplib::Headers oncall = {{"Authorization", "Bearer ack-token-0123456789"}};
  httplib::Headers evil = oncall;
  evil.emplace("Origin", "http://evil.example");
  httplib::Headers cross_site = oncall;
  cross_site.emplace("Sec-Fetch-Site", "cross-site");
  httplib::Headers same = oncall;
  same.emplace("Origin", self);
  same.emplace("Sec-Fetch-Site", "same-origin");

  auto res = client_->Get(absl::StrCat("/api/v1/incidents/", open_id_).c_str(), read);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  struct Refused {
    const httplib::Headers* headers;
    const char* content_type;
    int status;
  };
  for (const Refused& r :
       {Refused{&read, "application/json", 403},  // read scope only
        Refused{&evil, "application/json", 403}, Refused{&cross_site, "application/json", 403},
        Refused{&oncall, "text/plain", 415}}) {
    res = client_->Post(ack.c_str(), *r.headers, R"({"by": "mallory"})", r.content_type);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, r.status) << res->body;
  }
  absl::StatusOr<int64_t> acked = db_->Int(
      absl::StrCat("SELECT count(*) FROM incidents WHERE acknowledged_at IS NOT NULL AND id = '",
                   open_id_, "'"));
  ASSERT_OK(acked);
  EXPECT_EQ(*acked, 0) << "a refused POST acknowledged the incident";

  res = client_->Post(ack.c_str(), same, R"({"by": "alice"})", "application/json; charset=utf-8");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Str(Obj(ParseJson(res->body), "incident"), "acknowledged_by"), "alice (token oncall)");
  absl::StatusOr<sonde::testing::Db::Rows> rows =
      db_->Query(absl::StrCat("SELECT detail FROM incident_events WHERE incident_id = '", open_id_,
                              "' AND kind = 'ACKNOWLEDGED'"));
  ASSERT_OK(rows);
  EXPECT_THAT(*rows, ElementsAre(ElementsAre("acknowledged by alice (token oncall)")));
}

TEST_F(HttpApiTest, PostUpdateAddsAnUpdateLineGuardedLikeTheAck) {
  std::unique_ptr<Authenticator> auth = Auth("http-api-update", kScopedTokens);
  ASSERT_NE(auth, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartApi(auth.get()));
  const std::string path = absl::StrCat("/api/v1/incidents/", open_id_, "/updates");
  const httplib::Headers read = {{"Authorization", "Bearer read-token-0123456789"}};
  const httplib::Headers oncall = {{"Authorization", "Bearer ack-token-0123456789"}};
  const std::string body = R"({"message": "Fix deployed <b>now</b>\nwatching", "by": "alice"})";

  auto res = client_->Post(path.c_str(), read, body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403) << res->body;
  res = client_->Post(path.c_str(), oncall, "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << "no message: " << res->body;
  res = client_->Post("/api/v1/incidents/nope/GLOBAL_OUTAGE/1/updates", oncall, body,
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body;

  res = client_->Post(path.c_str(), oncall, body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  google::protobuf::Struct reply = ParseJson(res->body);
  EXPECT_EQ(Str(Obj(reply, "event"), "kind"), "UPDATE");
  EXPECT_EQ(Str(Obj(reply, "incident"), "id"), open_id_);
  // Stored as a timeline line, made safe (the newline escaped); markup is
  // kept as text for the renderers to escape.
  absl::StatusOr<sonde::testing::Db::Rows> rows =
      db_->Query(absl::StrCat("SELECT detail, at = '2025-11-21T10:00:00Z' FROM incident_events"
                              " WHERE incident_id = '",
                              open_id_, "' AND kind = 'UPDATE'"));
  ASSERT_OK(rows);
  EXPECT_THAT(*rows, ElementsAre(ElementsAre("Fix deployed <b>now</b>\\nwatching", "t")));
}

TEST_F(HttpApiTest, StatusPageIsOpenUnlessTheConfigRequiresAToken) {
  std::unique_ptr<Authenticator> auth =
      Auth("http-api-status", absl::StrCat("query: [", kQueryToken, "]\n"));
  ASSERT_NE(auth, nullptr);
  const std::string service = Service(open_id_);
  ASSERT_OK_AND_ASSIGN(v1::Config config,
                       common::ParseConfig(absl::StrCat("checks:\n  - {name: ", service,
                                                        "-login, service: ", service,
                                                        ", http: {url: 'http://x.example/'}}\n"),
                                           "status.yaml"));
  ConfigHolder holder(config);
  StatusPage page(query_.get(), pool_.get(), &holder, &clock_);
  api_ = std::make_unique<HttpApi>(query_.get(), auth.get());
  api_->set_status_page(&page);
  ASSERT_OK(api_->Start("127.0.0.1:0"));
  client_ = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
  client_->set_read_timeout(10);

  auto res = client_->Get("/status");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(res->body, HasSubstr(absl::StrCat("data-service=\"", service,
                                                "\" data-state=\"major_outage\"")));
  res = client_->Get("/status.json");
  ASSERT_TRUE(res);
  EXPECT_EQ(Str(ParseJson(res->body), "state"), "major_outage") << res->body;
  res = client_->Get(absl::StrCat("/status/shields/", service, ".json").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(Str(ParseJson(res->body), "message"), "major outage") << res->body;
  res = client_->Get("/status/badge/unknown.svg");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);

  config.mutable_status_page()->set_require_token(true);
  holder.Set(config);
  res = client_->Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401) << res->body;
  res = client_->Get("/status", {{"Authorization", absl::StrCat("Bearer ", kQueryToken)}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

}  // namespace
}  // namespace sonde::collector
