// Senders against loopback receivers (tests/testing/test_receivers.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
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

TEST(NotifySendersTest, SignatureSignsTimestampDotBody) {
  // The expected hex was computed outside Sonde:
  //   printf '1700000000.{}' | openssl dgst -sha256 -hmac Jefe
  EXPECT_EQ(WebhookSignature("Jefe", 1700000000, "{}"),
            "t=1700000000,v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207");
}

TEST(NotifySendersTest, SignatureBindsTimestampAndBody) {
  const std::string sig = WebhookSignature("k", 1700000000, "body");
  EXPECT_TRUE(testing::SignatureValid("k", sig, "body"));
  EXPECT_FALSE(testing::SignatureValid("k", sig, "bodx"));
  EXPECT_FALSE(testing::SignatureValid("other", sig, "body"));
  // A replay with a fresher timestamp but the old MAC does not verify.
  EXPECT_FALSE(testing::SignatureValid(
      "k", absl::StrReplaceAll(sig, {{"t=1700000000", "t=1700000999"}}), "body"));
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
  int64_t t = 0;
  EXPECT_TRUE(testing::SignatureValid("s3cret", r.headers.at("x-sonde-signature"), r.body, &t))
      << r.headers.at("x-sonde-signature");
  EXPECT_EQ(t, absl::ToUnixSeconds(kNow));
  EXPECT_FALSE(testing::SignatureValid("other", r.headers.at("x-sonde-signature"), r.body));
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

// RFC 2045 6.7 decoding, written here independently of the encoder: soft
// breaks ("=" CRLF) vanish, "=XX" becomes its byte.
std::string DecodeQuotedPrintable(absl::string_view qp) {
  std::string out;
  for (size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] != '=') {
      out.push_back(qp[i]);
    } else if (qp.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      int byte = 0;
      EXPECT_TRUE(absl::SimpleHexAtoi(qp.substr(i + 1, 2), &byte)) << qp.substr(i, 3);
      out.push_back(static_cast<char>(byte));
      i += 2;
    }
  }
  return out;
}

// The message split at its blank line: headers unfolded, body decoded.
std::pair<std::string, std::string> HeadersAndBody(const std::string& data) {
  const size_t blank = data.find("\r\n\r\n");
  EXPECT_NE(blank, std::string::npos) << data;
  std::string headers = absl::StrReplaceAll(data.substr(0, blank + 2), {{"\r\n ", " "}});
  return {headers, DecodeQuotedPrintable(data.substr(blank + 4))};
}

v1::Notifier MailNotifier(const SmtpReceiver& smtp) {
  v1::Notifier n;
  n.set_name("mail");
  n.mutable_email()->set_smtp_url(smtp.url());
  n.mutable_email()->add_to("lead@example.com");
  // The test receiver speaks no TLS: opportunistic, said explicitly.
  n.mutable_email()->set_tls("optional");
  return n;
}

TEST(NotifySendersTest, EmailOverSmtp) {
  SmtpReceiver smtp;
  v1::Notifier n = MailNotifier(smtp);
  n.mutable_email()->add_to("ops@example.com");
  n.mutable_email()->set_from("sonde@example.com");
  ASSERT_TRUE(Deliver(n, kOpened, Payload(kOpened, "mail"), 42, kNow, absl::Seconds(5)).ok());
  const auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].mail_from, "<sonde@example.com>");
  EXPECT_EQ(mails[0].rcpt_to,
            (std::vector<std::string>{"<lead@example.com>", "<ops@example.com>"}));
  const auto [headers, body] = HeadersAndBody(mails[0].data);
  EXPECT_TRUE(absl::StrContains(headers, "From: sonde@example.com\r\n")) << headers;
  EXPECT_TRUE(absl::StrContains(headers, "To: lead@example.com, ops@example.com\r\n"));
  EXPECT_TRUE(absl::StrContains(
      headers,
      absl::StrCat("Subject: [Sonde] OPENED REGIONAL_OUTAGE app: ", Summary(Incident()), "\r\n")))
      << headers;
  EXPECT_TRUE(absl::StrContains(headers, "Date: Tue, 14 Nov 2023 22:23:20 +0000\r\n")) << headers;
  EXPECT_TRUE(absl::StrContains(headers, "Message-ID: <sonde.42."));
  EXPECT_TRUE(absl::StrContains(headers, "Content-Transfer-Encoding: quoted-printable\r\n"));
  EXPECT_TRUE(absl::StrContains(body, "Evidence:  fra, ams: connection refused\r\n"));
  EXPECT_TRUE(absl::StrContains(body, "Regions:   ams, fra\r\n"));
  EXPECT_TRUE(absl::StrContains(body, "Checks:    app-login, app-tls\r\n"));
  EXPECT_TRUE(absl::StrContains(body, "Opened:    2023-11-14T22:13:20Z\r\n"));
  EXPECT_TRUE(
      absl::StrContains(body, "Acknowledge: sondectl ack app/REGIONAL_OUTAGE/1700000000\r\n"));
}

TEST(NotifySendersTest, EmailDefaultsFromToHostname) {
  SmtpReceiver smtp;
  ASSERT_TRUE(Deliver(MailNotifier(smtp), kResolved, Payload(kResolved, "mail", true), 1, kNow,
                      absl::Seconds(5))
                  .ok());
  const auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(mails[0].mail_from, "<sonde@")) << mails[0].mail_from;
  EXPECT_TRUE(absl::StrContains(HeadersAndBody(mails[0].data).second,
                                "Resolved:  2023-11-14T22:28:20Z\r\n"))
      << mails[0].data;
}

TEST(NotifySendersTest, EmailRequiresTlsByDefault) {
  SmtpReceiver smtp;  // offers no STARTTLS
  v1::Notifier n = MailNotifier(smtp);
  n.mutable_email()->clear_tls();
  n.mutable_email()->set_username("sonde");
  n.mutable_email()->set_password("hunter2");
  const absl::Status st = Deliver(n, kOpened, Payload(kOpened, "mail"), 7, kNow, absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "STARTTLS")) << st;
  EXPECT_TRUE(smtp.mails().empty());
  for (const std::string& command : smtp.commands()) {
    // Nothing but the greeting exchange went over the clear connection.
    EXPECT_FALSE(absl::StartsWith(absl::AsciiStrToUpper(command), "MAIL")) << command;
    EXPECT_FALSE(absl::StartsWith(absl::AsciiStrToUpper(command), "AUTH")) << command;
    EXPECT_FALSE(absl::StrContains(command, "hunter2")) << command;
  }
}

TEST(NotifySendersTest, EmailRefusesCredentialsInTheUrl) {
  SmtpReceiver smtp;
  v1::Notifier n = MailNotifier(smtp);
  n.mutable_email()->set_smtp_url(
      absl::StrReplaceAll(smtp.url(), {{"smtp://", "smtp://sonde:hunter2@"}}));
  const absl::Status st = Deliver(n, kOpened, Payload(kOpened, "mail"), 7, kNow, absl::Seconds(5));
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), "hunter2")) << st;
  EXPECT_TRUE(smtp.commands().empty());
}

TEST(NotifySendersTest, EmailLinesStayShortWhateverTheIncidentSays) {
  v1::Incident inc = Incident();
  // One 5,000-byte evidence line, non-ASCII and '=' included, and a long
  // non-ASCII service name in the subject.
  std::string evidence;
  for (int i = 0; i < 500; ++i) {
    absl::StrAppend(&evidence, "Zürich=", i, " ");
  }
  inc.set_evidence(evidence);
  inc.set_service(std::string(300, 'x') + "-größe");
  auto notification = ParseNotification(NotificationJson(kOpened, "mail", &inc, kNow));
  ASSERT_TRUE(notification.ok());
  v1::Notifier n;
  n.set_name("mail");
  n.mutable_email()->add_to("lead@example.com");
  const std::string message = EmailMessage(n, *notification, 5, kNow);
  for (absl::string_view line : absl::StrSplit(message, "\r\n")) {
    EXPECT_LE(line.size(), 100u) << line;
    EXPECT_TRUE(std::all_of(line.begin(), line.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x80;
    })) << line;
  }
  const auto [headers, body] = HeadersAndBody(message);
  EXPECT_TRUE(absl::StrContains(body, absl::StrCat("Evidence:  ", evidence, "\r\n")));
  for (absl::string_view line :
       absl::StrSplit(message.substr(message.find("\r\n\r\n") + 4), "\r\n")) {
    EXPECT_LE(line.size(), 76u) << line;
  }
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
