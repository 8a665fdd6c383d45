// Incidents end to end, real processes on loopback: two probers (fra, ams)
// probe a closed TCP port every second; the collector detects the outage,
// stores the incident and pages a webhook receiver run by this test (HMAC
// signed with a timestamp), repeats until `sondectl ack`, lists it in `sondectl incidents`,
// and continues the same incident after a SIGTERM and restart.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/cluster.h"
#include "tests/testing/cluster_test.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_receivers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::Db;
using sonde::testing::FreePort;
using sonde::testing::Prober;
using sonde::testing::Tail;
using sonde::testing::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "itest-webhook-secret";
constexpr int kRepeatEverySeconds = 3;

// A receiver's check: the signature verifies with the secret and is fresh
// (signed within the last minute by this machine's clock).
bool SignedAndFresh(const std::string& secret, const std::string& header, const std::string& body) {
  int64_t t = 0;
  if (!notify::testing::SignatureValid(secret, header, body, &t)) {
    return false;
  }
  const int64_t age = absl::ToUnixSeconds(absl::Now()) - t;
  return age >= -5 && age <= 60;
}

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

// A webhook receiver on 127.0.0.1:0 that keeps every request.
class WebhookReceiver {
 public:
  struct Delivery {
    std::string event;      // X-Sonde-Event
    std::string signature;  // X-Sonde-Signature
    std::string body;
    std::chrono::steady_clock::time_point at;
  };

  WebhookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      absl::MutexLock lock(&mu_);
      deliveries_.push_back({req.get_header_value("X-Sonde-Event"),
                             req.get_header_value("X-Sonde-Signature"), req.body,
                             std::chrono::steady_clock::now()});
      res.status = 200;
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookReceiver() {
    server_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  int port() const { return port_; }
  std::vector<Delivery> deliveries() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }
  // Deliveries of `event` whose payload names incident `id`.
  std::vector<Delivery> Of(const std::string& event, const std::string& id) {
    std::vector<Delivery> out;
    for (Delivery& d : deliveries()) {
      if (d.event != event) {
        continue;
      }
      google::protobuf::Struct body = ParseJson(d.body);
      auto it = body.fields().find("incident");
      if (it != body.fields().end() && Str(it->second.struct_value(), "id") == id) {
        out.push_back(std::move(d));
      }
    }
    return out;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
};

class IncidentsTest : public sonde::testing::ClusterTest {
 protected:
  IncidentsTest() : ClusterTest("incidents") {}

  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    receiver_ = std::make_unique<WebhookReceiver>();
    ASSERT_GT(receiver_->port(), 0);
  }

  void PrintMoreEvidence() override {
    if (receiver_ == nullptr) {
      return;
    }
    for (const auto& d : receiver_->deliveries()) {
      std::cerr << "--- webhook " << d.event << "\n" << Tail(d.body, 600) << "\n";
    }
  }

  void StopMore() override { receiver_.reset(); }

  std::unique_ptr<WebhookReceiver> receiver_;
};

TEST_F(IncidentsTest, OutageIsPagedRepeatedAcknowledgedAndSurvivesARestart) {
  const int closed_port = FreePort();  // nothing listens: TCP_REFUSED
  const std::string config = scratch_->Path("sonde.yaml");
  std::ofstream(config) << "regions: [fra, ams]\n"
                        << "defaults: {interval: 1s, timeout: 800ms}\n"
                        << "checks:\n"
                        << "  - {name: dead-tcp, service: dead, tcp: {host: 127.0.0.1, port: "
                        << closed_port << "}}\n"
                        << "notifiers:\n"
                        << "  - name: hook\n"
                        << "    webhook: {url: \"http://127.0.0.1:" << receiver_->port()
                        << "/hook\", secret: \"" << kSecret << "\"}\n"
                        << "    repeat_every: " << kRepeatEverySeconds << "s\n";
  const int http_port = FreePort();
  collector_ = std::make_unique<Collector>(
      scratch_->Path("collector.log"),
      Collector::Options{
          pg_->conninfo(), config, {"--http-listen", absl::StrCat("127.0.0.1:", http_port)}});
  ASSERT_OK(collector_->Start());
  for (const char* region : {"fra", "ams"}) {
    Prober::Options o;
    o.id = absl::StrCat("p-", region);
    o.region = region;
    o.config_path = config;
    o.spool_dir = scratch_->Path(absl::StrCat("spool-", region));
    probers_.push_back(
        std::make_unique<Prober>(scratch_->Path(o.id + ".log"), collector_->address(), o));
    ASSERT_OK(probers_.back()->Start());
  }

  // The outage is detected: one incident for the service, GLOBAL_OUTAGE
  // once both regions see it (it may open REGIONAL and be reclassified).
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int("SELECT count(*) FROM incidents WHERE service = 'dead'"
                   " AND kind = 'GLOBAL_OUTAGE' AND resolved_at IS NULL") == 1;
      },
      seconds(40)))
      << "no GLOBAL_OUTAGE incident";
  absl::StatusOr<Db::Rows> rows = db_->Query(
      "SELECT id, failure_class, array_to_string(regions, ',') FROM incidents"
      " WHERE service = 'dead'");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  const std::string id = (*rows)[0][0];
  EXPECT_EQ((*rows)[0][1], "TCP_REFUSED");
  EXPECT_EQ((*rows)[0][2], "ams,fra");

  // OPENED reaches the receiver, signed with the secret.
  ASSERT_TRUE(WaitUntil([&] { return !receiver_->Of("OPENED", id).empty(); }, seconds(15)))
      << "no OPENED webhook for " << id;
  const WebhookReceiver::Delivery opened = receiver_->Of("OPENED", id).front();
  EXPECT_TRUE(SignedAndFresh(kSecret, opened.signature, opened.body)) << opened.signature;
  EXPECT_FALSE(SignedAndFresh("another-secret", opened.signature, opened.body));
  google::protobuf::Struct payload = ParseJson(opened.body);
  EXPECT_EQ(payload.fields().at("version").number_value(), 1);
  EXPECT_EQ(Str(payload, "event"), "OPENED");
  EXPECT_EQ(Str(payload, "notifier"), "hook");
  EXPECT_EQ(Str(payload.fields().at("incident").struct_value(), "service"), "dead");

  // Unacknowledged: REPEAT, signed as well.
  ASSERT_TRUE(WaitUntil([&] { return !receiver_->Of("REPEAT", id).empty(); },
                        seconds(4 * kRepeatEverySeconds)))
      << "no REPEAT within " << 4 * kRepeatEverySeconds << " s";
  const WebhookReceiver::Delivery repeat = receiver_->Of("REPEAT", id).front();
  EXPECT_TRUE(SignedAndFresh(kSecret, repeat.signature, repeat.body)) << repeat.signature;

  // The HTTP API serves the same incident.
  {
    httplib::Client http("127.0.0.1", http_port);
    http.set_read_timeout(10);
    auto res = http.Get("/api/v1/incidents?service=dead");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_NE(res->body.find(id), std::string::npos) << res->body;
  }

  int rc = -1;
  std::string out = Sondectl({"ack", id, "--by", "itest", "--comment", "looking"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("acknowledged by itest"), std::string::npos) << out;
  EXPECT_EQ(Int(absl::StrCat("SELECT count(*) FROM incidents WHERE id = '", id,
                             "' AND acknowledged_by = 'itest' AND acknowledged_at IS NOT NULL")),
            1);

  // A REPEAT already being sent when the ack landed may still arrive; give
  // it a second, then none for 2 x repeat_every.
  std::this_thread::sleep_for(seconds(1));
  const size_t repeats_at_ack = receiver_->Of("REPEAT", id).size();
  std::this_thread::sleep_for(seconds(2 * kRepeatEverySeconds));
  EXPECT_EQ(receiver_->Of("REPEAT", id).size(), repeats_at_ack)
      << "REPEAT sent after the acknowledgement";

  out = Sondectl({"incidents", "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  google::protobuf::Struct list = ParseJson(out);
  bool listed = false;
  for (const auto& v : list.fields().at("incidents").list_value().values()) {
    const google::protobuf::Struct& i = v.struct_value();
    if (Str(i, "id") != id) {
      continue;
    }
    listed = true;
    EXPECT_EQ(Str(i, "acknowledged_by"), "itest");
    EXPECT_EQ(Str(i, "kind"), "GLOBAL_OUTAGE");
    EXPECT_EQ(Str(i, "status"), "open");
  }
  EXPECT_TRUE(listed) << out;

  // SIGTERM, restart: the open incident is continued, not opened again.
  std::optional<int> status = collector_->Stop(seconds(20));
  ASSERT_TRUE(status.has_value()) << "collector did not stop on SIGTERM";
  EXPECT_EQ(*status, 0);
  const absl::Time restarted = absl::Now();
  ASSERT_OK(collector_->Start());
  // Both regions deliver 8 s of results probed after the restart: more than
  // a fresh detector needs to open the outage again (it did so the first
  // time); then two more seconds for the detector to tick and store.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int(absl::StrCat("SELECT CASE WHEN count(*) = 2 THEN min(n) ELSE 0 END FROM"
                                " (SELECT region, count(*) AS n FROM results WHERE check_id ="
                                " 'dead-tcp' AND started_at > to_timestamp(",
                                absl::ToUnixSeconds(restarted) + 1, ") GROUP BY region) r")) >= 8;
      },
      seconds(40)))
      << "not enough results from both regions after the restart";
  std::this_thread::sleep_for(seconds(2));

  rows = db_->Query(
      "SELECT id, resolved_at IS NULL, acknowledged_by FROM incidents"
      " WHERE service = 'dead'");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u) << "a second incident was opened after the restart";
  EXPECT_EQ((*rows)[0][0], id);
  EXPECT_EQ((*rows)[0][1], "t");
  EXPECT_EQ((*rows)[0][2], "itest");
  EXPECT_EQ(Int("SELECT count(*) FROM incident_events e JOIN incidents i ON i.id = e.incident_id"
                " WHERE i.service = 'dead' AND e.kind = 'OPENED'"),
            1);
  EXPECT_EQ(Int("SELECT count(*) FROM outbox o JOIN incidents i ON i.id = o.incident_id"
                " WHERE i.service = 'dead' AND o.event = 'OPENED'"),
            1);
  EXPECT_EQ(receiver_->Of("OPENED", id).size(), 1u);
  EXPECT_EQ(receiver_->Of("REPEAT", id).size(), repeats_at_ack)
      << "REPEAT sent after the restart of an acknowledged incident";
}

}  // namespace
}  // namespace sonde
