// Senders against loopback receivers (tests/testing/test_receivers.h).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "collector/notify/senders/alertmanager.h"
#include "collector/notify/senders/email.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "collector/notify/senders/webhook.h"
#include "common/config/config.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/test_receivers.h"

namespace sonde::notify {
namespace {

using testing::HttpReceiver;
using testing::SmtpReceiver;

const absl::Time kNow = absl::FromUnixSeconds(1700000600);

v1::Incident Incident(bool resolved = false) {
  v1::Incident inc;
  inc.set_id("app/REGIONAL_OUTAGE/1700000000");
  inc.set_kind("REGIONAL_OUTAGE");
  inc.set_severity("PAGE");
  inc.set_service("app");
  inc.add_checks("app-login");
  inc.add_checks("app-tls");
  inc.add_regions("ams");
  inc.add_regions("fra");
  inc.set_failure_class(v1::FailureClass::TCP_REFUSED);
  inc.set_failing_share(1.0);
  inc.set_evidence("fra, ams: connection refused");
  inc.mutable_opened_at()->set_seconds(1700000000);
  if (resolved) {
    inc.mutable_resolved_at()->set_seconds(1700000900);
    inc.set_status("resolved");
  }
  return inc;
}

std::string Payload(const char* event, const std::string& notifier, bool resolved = false) {
  const v1::Incident inc = Incident(resolved);
  return NotificationJson(event, notifier, &inc, kNow);
}

// HMAC-SHA256 through OpenSSL's EVP_MAC interface, hex by hand: a second
// computation independent of the sender's.
std::string IndependentSignature(const std::string& key, const std::string& body) {
  unsigned char out[64];
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, sizeof(out),
            &len);
  std::string hex = "sha256=";
  for (size_t i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", out[i]);
    hex += b;
  }
  return hex;
}

TEST(NotifySendersTest, SignatureMatchesRfc4231Vector) {
  // RFC 4231 test case 2.
  EXPECT_EQ(WebhookSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifySendersTest, WebhookPostsPayloadWithHeadersAndSignature) {
  HttpReceiver receiver;
  v1::Notifier n;
  n.set_name("oncall");
  n.mutable_webhook()->set_url(receiver.url("/hook"));
  n.mutable_webhook()->set_secret("s3cret");
  const std::string payload = Payload(kOpened, "oncall");
  ASSERT_TRUE(Deliver(n, kOpened, payload, 17, kNow, absl::Seconds(5)).ok());
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  EXPECT_EQ(r.path, "/hook");
  EXPECT_EQ(r.body, payload);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("x-sonde-event"), "OPENED");
  EXPECT_EQ(r.headers.at("x-sonde-delivery"), "17");
  EXPECT_EQ(r.headers.at("x-sonde-signature"), IndependentSignature("s3cret", r.body));
  EXPECT_NE(r.headers.at("x-sonde-signature"), IndependentSignature("other", r.body));
}

TEST(NotifySendersTest, WebhookWithoutSecretSendsNoSignature) {
  HttpReceiver receiver;
  v1::Notifier n;
  n.set_name("plain");
  n.mutable_webhook()->set_url(receiver.url());
  ASSERT_TRUE(
      Deliver(n, kResolved, Payload(kResolved, "plain", true), 3, kNow, absl::Seconds(5)).ok());
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests()[0].headers.count("x-sonde-signature"), 0u);
}

TEST(NotifySendersTest, WebhookNon2xxIsAnErrorNamingStatusAndBody) {
  HttpReceiver receiver;
  receiver.set_status(500);
  v1::Notifier n;
  n.set_name("oncall");
  n.mutable_webhook()->set_url(receiver.url());
  const absl::Status st =
      Deliver(n, kOpened, Payload(kOpened, "oncall"), 1, kNow, absl::Seconds(5));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "HTTP 500")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "receiver says no")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "webhook \"oncall\"")) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), "\n")) << st;
}

TEST(NotifySendersTest, WebhookTimeoutIsDeadlineExceeded) {
  HttpReceiver receiver;
  receiver.set_delay(absl::Seconds(2));
  v1::Notifier n;
  n.set_name("slow");
  n.mutable_webhook()->set_url(receiver.url());
  const absl::Status st =
      Deliver(n, kOpened, Payload(kOpened, "slow"), 1, kNow, absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
}

TEST(NotifySendersTest, ConnectionRefusedIsUnavailable) {
  int port;
  {
    HttpReceiver gone;
    port = gone.port();
  }
  v1::Notifier n;
  n.set_name("gone");
  n.mutable_webhook()->set_url(absl::StrCat("http://127.0.0.1:", port, "/hook"));
  const absl::Status st = Deliver(n, kOpened, Payload(kOpened, "gone"), 1, kNow, absl::Seconds(2));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
}

google::protobuf::ListValue ParseList(const std::string& json) {
  google::protobuf::Value v;
  auto st = google::protobuf::util::JsonStringToMessage(json, &v);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return v.list_value();
}

TEST(NotifySendersTest, AlertmanagerUrl) {
  EXPECT_EQ(AlertmanagerAlertsUrl("http://127.0.0.1:9093"), "http://127.0.0.1:9093/api/v2/alerts");
  EXPECT_EQ(AlertmanagerAlertsUrl("http://127.0.0.1:9093/"), "http://127.0.0.1:9093/api/v2/alerts");
  EXPECT_EQ(AlertmanagerAlertsUrl("http://127.0.0.1:9093/api/v2/alerts"),
            "http://127.0.0.1:9093/api/v2/alerts");
}

TEST(NotifySendersTest, AlertmanagerPostsOneAlertForAnOpenIncident) {
  HttpReceiver receiver;
  v1::Notifier n;
  n.set_name("am");
  n.mutable_alertmanager()->set_url(receiver.url("/"));
  common::FromAbsl(absl::Minutes(5), n.mutable_repeat_every());
  ASSERT_TRUE(Deliver(n, kRepeat, Payload(kRepeat, "am"), 9, kNow, absl::Seconds(5)).ok());
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/api/v2/alerts");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/json");
  const auto alerts = ParseList(requests[0].body);
  ASSERT_EQ(alerts.values_size(), 1);
  const auto& alert = alerts.values(0).struct_value().fields();
  const auto& labels = alert.at("labels").struct_value().fields();
  EXPECT_EQ(labels.at("alertname").string_value(), "SondeIncident");
  EXPECT_EQ(labels.at("incident_id").string_value(), "app/REGIONAL_OUTAGE/1700000000");
  EXPECT_EQ(labels.at("service").string_value(), "app");
  EXPECT_EQ(labels.at("kind").string_value(), "REGIONAL_OUTAGE");
  EXPECT_EQ(labels.at("severity").string_value(), "page");
  EXPECT_EQ(labels.at("regions").string_value(), "ams,fra");
  EXPECT_EQ(labels.at("failure_class").string_value(), "TCP_REFUSED");
  const auto& annotations = alert.at("annotations").struct_value().fields();
  EXPECT_EQ(annotations.at("summary").string_value(), Summary(Incident()));
  EXPECT_EQ(annotations.at("evidence").string_value(), "fra, ams: connection refused");
  EXPECT_TRUE(absl::StrContains(annotations.at("description").string_value(),
                                "sondectl ack app/REGIONAL_OUTAGE/1700000000"));
  EXPECT_EQ(alert.at("startsAt").string_value(), "2023-11-14T22:13:20Z");
  // now + max(2 x 5m, 5m) = 1700000600 + 600.
  EXPECT_EQ(alert.at("endsAt").string_value(), FormatRfc3339(kNow + absl::Minutes(10)));
}

TEST(NotifySendersTest, AlertmanagerResolvedAndHeartbeat) {
  v1::Notifier n;
  n.set_name("am");
  n.mutable_alertmanager()->set_url("http://127.0.0.1:1");
  auto resolved = ParseNotification(Payload(kResolved, "am", true));
  ASSERT_TRUE(resolved.ok());
  auto alert = ParseList(AlertmanagerBody(n, *resolved, kNow)).values(0).struct_value();
  EXPECT_EQ(alert.fields().at("endsAt").string_value(),
            FormatRfc3339(absl::FromUnixSeconds(1700000900)));
  // Without repeat_every the alert lives 5 minutes past now.
  auto open = ParseNotification(Payload(kOpened, "am"));
  ASSERT_TRUE(open.ok());
  alert = ParseList(AlertmanagerBody(n, *open, kNow)).values(0).struct_value();
  EXPECT_EQ(alert.fields().at("endsAt").string_value(), FormatRfc3339(kNow + absl::Minutes(5)));

  common::FromAbsl(absl::Minutes(1), n.mutable_heartbeat_every());
  auto hb = ParseNotification(NotificationJson(kHeartbeat, "am", nullptr, kNow));
  ASSERT_TRUE(hb.ok());
  alert = ParseList(AlertmanagerBody(n, *hb, kNow)).values(0).struct_value();
  const auto& labels = alert.fields().at("labels").struct_value().fields();
  EXPECT_EQ(labels.at("alertname").string_value(), "SondeHeartbeat");
  EXPECT_EQ(labels.at("severity").string_value(), "none");
  EXPECT_EQ(alert.fields().at("endsAt").string_value(), FormatRfc3339(kNow + absl::Minutes(2)));
}

TEST(NotifySendersTest, EmailOverSmtp) {
  SmtpReceiver smtp;
  v1::Notifier n;
  n.set_name("mail");
  n.mutable_email()->set_smtp_url(smtp.url());
  n.mutable_email()->add_to("lead@example.com");
  n.mutable_email()->add_to("ops@example.com");
  n.mutable_email()->set_from("sonde@example.com");
  ASSERT_TRUE(Deliver(n, kOpened, Payload(kOpened, "mail"), 42, kNow, absl::Seconds(5)).ok());
  const auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].mail_from, "<sonde@example.com>");
  EXPECT_EQ(mails[0].rcpt_to,
            (std::vector<std::string>{"<lead@example.com>", "<ops@example.com>"}));
  const std::string& data = mails[0].data;
  EXPECT_TRUE(absl::StrContains(data, "From: sonde@example.com\r\n")) << data;
  EXPECT_TRUE(absl::StrContains(data, "To: lead@example.com, ops@example.com\r\n"));
  EXPECT_TRUE(absl::StrContains(data, absl::StrCat("Subject: [Sonde] OPENED REGIONAL_OUTAGE app: ",
                                                   Summary(Incident()), "\r\n")))
      << data;
  EXPECT_TRUE(absl::StrContains(data, "Date: Tue, 14 Nov 2023 22:23:20 +0000\r\n")) << data;
  EXPECT_TRUE(absl::StrContains(data, "Message-ID: <sonde.42."));
  EXPECT_TRUE(absl::StrContains(data, "Evidence:  fra, ams: connection refused\r\n"));
  EXPECT_TRUE(absl::StrContains(data, "Regions:   ams, fra\r\n"));
  EXPECT_TRUE(absl::StrContains(data, "Checks:    app-login, app-tls\r\n"));
  EXPECT_TRUE(absl::StrContains(data, "Opened:    2023-11-14T22:13:20Z\r\n"));
  EXPECT_TRUE(
      absl::StrContains(data, "Acknowledge: sondectl ack app/REGIONAL_OUTAGE/1700000000\r\n"));
}

TEST(NotifySendersTest, EmailDefaultsFromToHostname) {
  SmtpReceiver smtp;
  v1::Notifier n;
  n.set_name("mail");
  n.mutable_email()->set_smtp_url(smtp.url());
  n.mutable_email()->add_to("lead@example.com");
  ASSERT_TRUE(
      Deliver(n, kResolved, Payload(kResolved, "mail", true), 1, kNow, absl::Seconds(5)).ok());
  const auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(mails[0].mail_from, "<sonde@")) << mails[0].mail_from;
  EXPECT_TRUE(absl::StrContains(mails[0].data, "Resolved:  2023-11-14T22:28:20Z\r\n"))
      << mails[0].data;
}

TEST(NotifySendersTest, SubjectCannotInjectHeaders) {
  v1::Incident inc = Incident();
  inc.set_service("app\r\nBcc: victim@example.com");
  auto n = ParseNotification(NotificationJson(kOpened, "mail", &inc, kNow));
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(absl::StrContains(EmailSubject(*n), "\n"));
  EXPECT_FALSE(absl::StrContains(EmailSubject(*n), "\r"));
}

}  // namespace
}  // namespace sonde::notify
