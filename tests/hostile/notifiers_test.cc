// Hostile notification receivers (issue 10), against the real Dispatcher on
// a real PostgreSQL with its shipped options (10 s per attempt): an SMTP
// server that offers no STARTTLS (a man in the middle stripped it) gets no
// mail and no credentials, and the failure is counted in the outbox and in
// /metrics; a webhook that hangs costs one send timeout per pass (not one
// per row), is retried later, and the other notifier's row is delivered in
// the same pass; a webhook
// that answers 10 MB is delivered without the answer being read.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/notify/dispatcher.h"
#include "collector/notify/senders/notification.h"
#include "collector/storage/store.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/test_receivers.h"

namespace sonde::notify {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

class HostileNotifiersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(sonde::testing::PostgresEnvironment::conninfo().empty())
        << "no PostgreSQL (see the environment's failure above)";
    auto store = collector::Store::Connect(sonde::testing::PostgresEnvironment::conninfo());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->Execute("TRUNCATE outbox, incident_events, incidents").ok());
  }

  // A due HEARTBEAT row for `notifier` (no incident needed); its id.
  int64_t QueueHeartbeat(const std::string& notifier) {
    const std::string payload = NotificationJson(kHeartbeat, notifier, nullptr, kT0);
    EXPECT_TRUE(
        store_
            ->Execute(absl::StrCat("INSERT INTO outbox (notifier, event, payload, created_at,"
                                   " next_attempt_at) VALUES ('",
                                   notifier, "', 'HEARTBEAT', '", payload,
                                   "', to_timestamp(1700000000), to_timestamp(1700000000))"))
            .ok());
    return Int(absl::StrCat("SELECT max(id) FROM outbox WHERE notifier = '", notifier, "'"));
  }

  std::string Value(const std::string& sql) {
    auto r = store_->QueryColumn(sql);
    EXPECT_TRUE(r.ok()) << r.status() << "\n" << sql;
    return r.ok() && !r->empty() ? (*r)[0] : "<none>";
  }
  int64_t Int(const std::string& sql) {
    int64_t v = -1;
    EXPECT_TRUE(absl::SimpleAtoi(Value(sql), &v)) << sql;
    return v;
  }

  std::unique_ptr<Dispatcher> NewDispatcher(const v1::Config& config) {
    auto d = std::make_unique<Dispatcher>(sonde::testing::PostgresEnvironment::conninfo(),
                                          &clock_);  // shipped DispatcherOptions
    d->SetConfig(config);
    return d;
  }

  common::FakeClock clock_{kT0};
  std::unique_ptr<collector::Store> store_;
};

TEST_F(HostileNotifiersTest, SmtpWithoutStarttlsGetsNoMailAndTheFailureIsCounted) {
  testing::SmtpReceiver stripped;  // answers EHLO without STARTTLS
  v1::Config config;
  v1::Notifier* n = config.add_notifiers();
  n->set_name("mail");
  n->mutable_email()->set_smtp_url(stripped.url());  // tls: required by default
  n->mutable_email()->add_to("oncall@example.com");
  n->mutable_email()->set_username("sonde");
  n->mutable_email()->set_password("hunter2");
  const int64_t id = QueueHeartbeat("mail");
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());

  EXPECT_TRUE(stripped.mails().empty());
  for (const std::string& command : stripped.commands()) {
    const std::string upper = absl::AsciiStrToUpper(command);
    EXPECT_FALSE(absl::StartsWith(upper, "MAIL") || absl::StartsWith(upper, "AUTH") ||
                 absl::StartsWith(upper, "DATA"))
        << "sent in clear text: " << command;
  }
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NULL AND attempts = 1 AND"
                               " next_attempt_at > to_timestamp(1700000000)"
                               " FROM outbox WHERE id = ",
                               id)),
            "t");
  EXPECT_TRUE(absl::StrContains(
      Value(absl::StrCat("SELECT last_error FROM outbox WHERE id = ", id)), "STARTTLS"));
  EXPECT_EQ(d->stats().failed_attempts, 1u);
  EXPECT_EQ(d->stats().delivered, 0u);
  common::MetricsText metrics;
  d->AppendMetrics(&metrics);
  EXPECT_TRUE(absl::StrContains(metrics.text(), "sonde_notify_failed_attempts_total 1\n"))
      << metrics.text();
}

TEST_F(HostileNotifiersTest, HangingWebhookTimesOutIsRetriedAndBlocksNoOtherNotifier) {
  testing::HttpReceiver hanging;
  hanging.set_delay(absl::Seconds(12));  // past the 10 s send timeout
  testing::HttpReceiver healthy;
  v1::Config config;
  v1::Notifier* slow = config.add_notifiers();
  slow->set_name("slow");
  slow->mutable_webhook()->set_url(hanging.url("/slow"));
  v1::Notifier* ok = config.add_notifiers();
  ok->set_name("ok");
  ok->mutable_webhook()->set_url(healthy.url("/ok"));
  const int64_t slow_id = QueueHeartbeat("slow");  // older: claimed first
  const int64_t slow_second = QueueHeartbeat("slow");
  const int64_t ok_id = QueueHeartbeat("ok");
  auto d = NewDispatcher(config);

  const absl::Time start = absl::Now();
  ASSERT_TRUE(d->RunOnce(kT0).ok());
  const absl::Duration pass = absl::Now() - start;

  // The hanging receiver cost one send timeout, not one per row; its second
  // row waits for the next pass, and the healthy one was delivered in this.
  EXPECT_LT(pass, absl::Seconds(10) + absl::Seconds(5)) << pass;
  EXPECT_EQ(Value(absl::StrCat("SELECT attempts FROM outbox WHERE id = ", slow_second)), "0");
  EXPECT_EQ(healthy.requests().size(), 1u);
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NOT NULL FROM outbox WHERE id = ", ok_id)),
            "t");
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NULL AND attempts = 1 FROM outbox"
                               " WHERE id = ",
                               slow_id)),
            "t");
  EXPECT_TRUE(absl::StrContains(
      Value(absl::StrCat("SELECT last_error FROM outbox WHERE id = ", slow_id)), "timed out"));
  EXPECT_EQ(d->stats().failed_attempts, 1u);

  // Retried once its backoff (1 s +-20 %) has passed; it answers in time now.
  hanging.set_delay(absl::ZeroDuration());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Seconds(2)).ok());
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NOT NULL AND attempts = 2 FROM outbox"
                               " WHERE id = ",
                               slow_id)),
            "t");
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NOT NULL FROM outbox WHERE id = ",
                               slow_second)),
            "t");
  EXPECT_EQ(d->stats().delivered, 3u);
}

TEST_F(HostileNotifiersTest, TenMegabyteAnswerIsNotReadAndCountsAsDelivered) {
  httplib::Server server;
  const std::string ten_mb(10 << 20, 'x');
  server.Post(".*", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(ten_mb, "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  v1::Config config;
  v1::Notifier* n = config.add_notifiers();
  n->set_name("big");
  n->mutable_webhook()->set_url(absl::StrCat("http://127.0.0.1:", port, "/hook"));
  const int64_t id = QueueHeartbeat("big");
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());

  // Documented: a 2xx status is delivery; the answer's body is read up to
  // 4 KiB and the transfer stopped there.
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NOT NULL AND last_error IS NULL"
                               " FROM outbox WHERE id = ",
                               id)),
            "t");
  EXPECT_EQ(d->stats().delivered, 1u);
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace sonde::notify
