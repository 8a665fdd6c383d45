// Hostile notification receivers (issue 10), against the real Dispatcher on
// a real PostgreSQL with its shipped options (10 s per attempt): an SMTP
// server that offers no STARTTLS (a man in the middle stripped it) gets no
// mail and no credentials, and the failure is counted in the outbox and in
// /metrics, while one that offers it gets the AUTH and the mail inside TLS;
// a webhook that hangs costs one send timeout per pass (not one per row), is
// retried later, and the other notifier's row is delivered in the same
// pass; a webhook that answers 10 MB is delivered without the answer being
// read.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
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
#include "common/tls/openssl_handles.h"
#include "tests/faultd/cert_kit.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/test_receivers.h"

namespace sonde::notify {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

// One SMTP session that insists on STARTTLS before anything else, with
// faultd's certificate for 127.0.0.1: what a well-configured relay does.
// Records whether the AUTH and MAIL commands arrived inside TLS.
class StarttlsSmtp {
 public:
  explicit StarttlsSmtp(const faultd::CertKit& kit) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate(ctx_.get(), kit.cert(faultd::CertKind::kValid));
    SSL_CTX_use_PrivateKey(ctx_.get(), kit.key(faultd::CertKind::kValid));
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~StarttlsSmtp() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    thread_.join();
  }
  std::string url() const { return absl::StrCat("smtp://127.0.0.1:", port_); }
  bool mail_inside_tls() const { return mail_inside_tls_; }
  bool auth_inside_tls() const { return auth_inside_tls_; }

 private:
  // One line from the plain socket or, once TLS is up, from `ssl`.
  static bool ReadLine(int fd, SSL* ssl, std::string* line) {
    line->clear();
    char c;
    while (true) {
      const int n = ssl != nullptr ? SSL_read(ssl, &c, 1) : static_cast<int>(recv(fd, &c, 1, 0));
      if (n <= 0) {
        return false;
      }
      if (c == '\n') {
        if (!line->empty() && line->back() == '\r') {
          line->pop_back();
        }
        return true;
      }
      line->push_back(c);
    }
  }
  static void Send(int fd, SSL* ssl, const std::string& s) {
    if (ssl != nullptr) {
      SSL_write(ssl, s.data(), static_cast<int>(s.size()));
    } else {
      (void)send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    }
  }

  void Serve() {
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      return;
    }
    common::UniqueSsl ssl;
    std::string line;
    Send(fd, nullptr, "220 relay ESMTP\r\n");
    while (ReadLine(fd, ssl.get(), &line)) {
      const std::string upper = absl::AsciiStrToUpper(line);
      SSL* s = ssl.get();
      if (absl::StartsWith(upper, "EHLO")) {
        Send(fd, s,
             s == nullptr ? "250-relay\r\n250 STARTTLS\r\n" : "250-relay\r\n250 AUTH PLAIN\r\n");
      } else if (upper == "STARTTLS" && s == nullptr) {
        Send(fd, nullptr, "220 go ahead\r\n");
        ssl.reset(SSL_new(ctx_.get()));
        SSL_set_fd(ssl.get(), fd);
        if (SSL_accept(ssl.get()) != 1) {
          break;
        }
      } else if (absl::StartsWith(upper, "AUTH")) {
        auth_inside_tls_ = s != nullptr;
        if (upper == "AUTH PLAIN") {  // the credentials follow on their own line
          Send(fd, s, "334 \r\n");
          ReadLine(fd, s, &line);
        }
        Send(fd, s, "235 ok\r\n");
      } else if (absl::StartsWith(upper, "MAIL")) {
        mail_inside_tls_ = s != nullptr;
        Send(fd, s, s == nullptr ? "530 STARTTLS first\r\n" : "250 ok\r\n");
      } else if (upper == "DATA") {
        Send(fd, s, "354 go\r\n");
        while (ReadLine(fd, s, &line) && line != ".") {
        }
        Send(fd, s, "250 queued\r\n");
      } else if (upper == "QUIT") {
        Send(fd, s, "221 bye\r\n");
        break;
      } else {
        Send(fd, s, "250 ok\r\n");
      }
    }
    ssl.reset();
    close(fd);
  }

  common::UniqueSslCtx ctx_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> mail_inside_tls_{false};
  std::atomic<bool> auth_inside_tls_{false};
};

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

  // One e-mail notifier "mail" at `url` with credentials and the default
  // (required) TLS.
  static v1::Config MailConfig(const std::string& url) {
    v1::Config config;
    v1::Notifier* n = config.add_notifiers();
    n->set_name("mail");
    n->mutable_email()->set_smtp_url(url);
    n->mutable_email()->add_to("oncall@example.com");
    n->mutable_email()->set_username("sonde");
    n->mutable_email()->set_password("hunter2");
    return config;
  }

  common::FakeClock clock_{kT0};
  std::unique_ptr<collector::Store> store_;
};

TEST_F(HostileNotifiersTest, SmtpWithoutStarttlsGetsNoMailAndTheFailureIsCounted) {
  testing::SmtpReceiver stripped;  // answers EHLO without STARTTLS
  const v1::Config config = MailConfig(stripped.url());
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

TEST_F(HostileNotifiersTest, SmtpWithStarttlsDeliversInsideTls) {
  auto kit = faultd::CertKit::Generate({});
  ASSERT_TRUE(kit.ok()) << kit.status();
  const std::string ca = absl::StrCat(::testing::TempDir(), "/smtp_ca.", getpid(), ".pem");
  std::ofstream(ca) << (*kit)->ca_pem();
  StarttlsSmtp relay(**kit);
  v1::Config config = MailConfig(relay.url());
  config.mutable_notifiers(0)->mutable_email()->set_ca_file(ca);
  const int64_t id = QueueHeartbeat("mail");
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());

  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at IS NOT NULL FROM outbox WHERE id = ", id)), "t")
      << Value(absl::StrCat("SELECT last_error FROM outbox WHERE id = ", id));
  EXPECT_TRUE(relay.auth_inside_tls());
  EXPECT_TRUE(relay.mail_inside_tls());
  unlink(ca.c_str());
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
  EXPECT_EQ(
      Value(absl::StrCat("SELECT delivered_at IS NOT NULL FROM outbox WHERE id = ", slow_second)),
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
