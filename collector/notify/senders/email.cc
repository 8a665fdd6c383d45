#include "collector/notify/senders/email.h"

#include <unistd.h>

#include <fstream>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "collector/notify/senders/mime.h"
#include "collector/notify/senders/transfer.h"
#include "common/net.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::notify {
namespace {

std::string Angle(absl::string_view address) {
  if (absl::StartsWith(address, "<")) {
    return std::string(address);
  }
  return absl::StrCat("<", address, ">");
}

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

// The password: the `password` field, or the first line of `password_file`
// (read at every delivery, so a rotated file takes effect at once).
absl::StatusOr<std::string> Password(const v1::EmailNotifier& email, absl::string_view what) {
  if (email.password_file().empty()) {
    return email.password();
  }
  std::ifstream in(email.password_file());
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": cannot read password_file \"", email.password_file(), "\""));
  }
  return std::string(absl::StripTrailingAsciiWhitespace(line));
}

}  // namespace

absl::Status SendEmail(const Delivery& d) {
  const v1::Notifier& notifier = d.notifier;
  const std::string what = d.What();
  const v1::EmailNotifier& email = notifier.email();
  if (email.smtp_url().empty() || email.to_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": needs smtp_url and to"));
  }
  auto notification = ParseNotification(d.payload);
  if (!notification.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", notification.status().message()));
  }
  if (common::UrlHasUserinfo(email.smtp_url())) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": credentials in smtp_url are refused; use email.username and password_file"));
  }
  ASSIGN_OR_RETURN(const std::string password, Password(email, what));
  const std::string message = EmailMessage(notifier, *notification, d.id, d.now);
  char errbuf[CURL_ERROR_SIZE] = {0};
  ASSIGN_OR_RETURN(CurlEasy curl, NewTransfer(what, d.timeout, errbuf));
  common::UniqueCurlSlist rcpt;
  for (const std::string& to : email.to()) {
    common::AppendCurlSlist(&rcpt, Angle(to));
  }
  const std::string from = Angle(EmailFrom(notifier));
  UploadSource source{message};
  curl_easy_setopt(curl.get(), CURLOPT_URL, email.smtp_url().c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // TLS is required unless the config says `tls: optional` (opportunistic
  // STARTTLS, which a man in the middle can strip). smtps:// is TLS anyway.
  const bool optional = email.tls() == "optional";
  curl_easy_setopt(curl.get(), CURLOPT_USE_SSL,
                   static_cast<long>(optional ? CURLUSESSL_TRY : CURLUSESSL_ALL));
  if (!email.ca_file().empty()) {
    curl_easy_setopt(curl.get(), CURLOPT_CAINFO, email.ca_file().c_str());
  }
  if (!email.username().empty()) {
    curl_easy_setopt(curl.get(), CURLOPT_USERNAME, email.username().c_str());
    curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &source);
  curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  const CURLcode code = curl_easy_perform(curl.get());
  if (code == CURLE_USE_SSL_FAILED) {
    return absl::UnavailableError(
        absl::StrCat(what, ": the server offers no STARTTLS; not sending in clear text (",
                     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code), ")"));
  }
  if (code != CURLE_OK) {
    long reply = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &reply);
    absl::Status st = CurlStatus(code, errbuf, what);
    if (reply != 0) {
      return absl::Status(st.code(), absl::StrCat(st.message(), " (SMTP ", reply, ")"));
    }
    return st;
  }
  return absl::OkStatus();
}

std::string EmailFrom(const v1::Notifier& notifier) {
  if (!notifier.email().from().empty()) {
    return notifier.email().from();
  }
  return absl::StrCat("sonde@", Hostname());
}

std::string EmailSubject(const Notification& n) {
  // One line: CR/LF in outside text must not start a header of its own.
  std::string subject;
  if (!n.has_incident) {
    subject = absl::StrCat("[Sonde] ", n.event, " ", n.notifier, ": ", n.summary);
  } else {
    const std::string summary = n.summary.empty() ? Summary(n.incident) : n.summary;
    subject = absl::StrCat("[Sonde] ", n.event, " ", n.incident.kind(), " ", n.incident.service(),
                           ": ", summary);
  }
  absl::StrReplaceAll({{"\r\n", " "}, {"\r", " "}, {"\n", " "}}, &subject);
  return subject;
}

std::string EmailMessage(const v1::Notifier& notifier, const Notification& n, int64_t delivery_id,
                         absl::Time now) {
  const std::string host = Hostname();
  std::string out;
  absl::StrAppend(&out, HeaderField("From", EmailFrom(notifier)),
                  HeaderField("To", absl::StrJoin(notifier.email().to(), ", ")),
                  HeaderField("Subject", EmailSubject(n)));
  absl::StrAppend(
      &out, "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", now, absl::UTCTimeZone()),
      "\r\n");
  absl::StrAppend(&out, "Message-ID: <sonde.", delivery_id, ".", absl::ToUnixSeconds(now), "@",
                  host, ">\r\n");
  absl::StrAppend(&out,
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n");
  absl::StrAppend(&out, HeaderField("X-Sonde-Event", n.event), "X-Sonde-Delivery: ", delivery_id,
                  "\r\n\r\n");
  std::vector<std::string> lines;
  if (!n.has_incident) {
    lines.push_back(n.summary);
    lines.push_back("");
    lines.push_back(absl::StrCat("This is Sonde's heartbeat for notifier \"", n.notifier,
                                 "\": the notification path works."));
    lines.push_back("Worry when these messages stop arriving.");
  } else {
    const v1::Incident& inc = n.incident;
    lines.push_back(n.summary.empty() ? Summary(inc) : n.summary);
    lines.push_back("");
    lines.push_back(absl::StrCat("Event:     ", n.event));
    lines.push_back(absl::StrCat("Incident:  ", inc.id()));
    lines.push_back(absl::StrCat("Kind:      ", inc.kind(), " (", inc.severity(), ")"));
    lines.push_back(absl::StrCat("Service:   ", inc.service()));
    lines.push_back(absl::StrCat("Regions:   ", absl::StrJoin(inc.regions(), ", ")));
    lines.push_back(absl::StrCat("Checks:    ", absl::StrJoin(inc.checks(), ", ")));
    lines.push_back(absl::StrCat(
        "Opened:    ", inc.has_opened_at() ? FormatRfc3339(common::ToTime(inc.opened_at())) : "-"));
    if (inc.has_resolved_at()) {
      lines.push_back(
          absl::StrCat("Resolved:  ", FormatRfc3339(common::ToTime(inc.resolved_at()))));
    }
    if (inc.has_acknowledged_at()) {
      lines.push_back(
          absl::StrCat("Acked:     ", FormatRfc3339(common::ToTime(inc.acknowledged_at())),
                       inc.acknowledged_by().empty() ? "" : " by ", inc.acknowledged_by()));
    }
    lines.push_back(absl::StrCat("Evidence:  ", inc.evidence()));
    lines.push_back("");
    lines.push_back(absl::StrCat("Acknowledge: sondectl ack ", inc.id()));
  }
  // Quoted-printable: every line at most 76 characters, 7-bit clean.
  absl::StrAppend(&out, QuotedPrintable(absl::StrJoin(lines, "\n")));
  return out;
}

}  // namespace sonde::notify
