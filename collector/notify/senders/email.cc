#include "collector/notify/senders/email.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "collector/notify/senders/transfer.h"
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

// One header line's value: no CR/LF (header injection), RFC 2047 encoded
// when it is not plain ASCII.
std::string HeaderValue(absl::string_view value) {
  std::string v(value);
  absl::StrReplaceAll({{"\r\n", " "}, {"\r", " "}, {"\n", " "}}, &v);
  const bool ascii =
      std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    return v;
  }
  return absl::StrCat("=?UTF-8?B?", absl::Base64Escape(v), "?=");
}

}  // namespace

absl::Status SendEmail(const v1::Notifier& notifier, absl::string_view payload, int64_t delivery_id,
                       absl::Time now, absl::Duration timeout) {
  const std::string what = absl::StrCat("email \"", notifier.name(), "\"");
  const v1::EmailNotifier& email = notifier.email();
  if (email.smtp_url().empty() || email.to_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": needs smtp_url and to"));
  }
  auto notification = ParseNotification(payload);
  if (!notification.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", notification.status().message()));
  }
  const std::string message = EmailMessage(notifier, *notification, delivery_id, now);
  char errbuf[CURL_ERROR_SIZE] = {0};
  ASSIGN_OR_RETURN(CurlEasy curl, NewTransfer(what, timeout, errbuf));
  common::UniqueCurlSlist rcpt;
  for (const std::string& to : email.to()) {
    common::AppendCurlSlist(&rcpt, Angle(to));
  }
  const std::string from = Angle(EmailFrom(notifier));
  UploadSource source{message};
  curl_easy_setopt(curl.get(), CURLOPT_URL, email.smtp_url().c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &source);
  curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  const CURLcode code = curl_easy_perform(curl.get());
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
  if (!n.has_incident) {
    return HeaderValue(absl::StrCat("[Sonde] ", n.event, " ", n.notifier, ": ", n.summary));
  }
  const std::string summary = n.summary.empty() ? Summary(n.incident) : n.summary;
  return HeaderValue(absl::StrCat("[Sonde] ", n.event, " ", n.incident.kind(), " ",
                                  n.incident.service(), ": ", summary));
}

std::string EmailMessage(const v1::Notifier& notifier, const Notification& n, int64_t delivery_id,
                         absl::Time now) {
  const std::string host = Hostname();
  std::vector<std::string> lines;
  lines.push_back(absl::StrCat("From: ", HeaderValue(EmailFrom(notifier))));
  lines.push_back(absl::StrCat("To: ", HeaderValue(absl::StrJoin(notifier.email().to(), ", "))));
  lines.push_back(absl::StrCat("Subject: ", EmailSubject(n)));
  lines.push_back(absl::StrCat(
      "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", now, absl::UTCTimeZone())));
  lines.push_back(absl::StrCat("Message-ID: <sonde.", delivery_id, ".", absl::ToUnixSeconds(now),
                               "@", host, ">"));
  lines.push_back("MIME-Version: 1.0");
  lines.push_back("Content-Type: text/plain; charset=utf-8");
  lines.push_back("Content-Transfer-Encoding: 8bit");
  lines.push_back(absl::StrCat("X-Sonde-Event: ", HeaderValue(n.event)));
  lines.push_back(absl::StrCat("X-Sonde-Delivery: ", delivery_id));
  lines.push_back("");
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
  // Body lines: CR/LF normalised to CRLF.
  std::string out;
  for (const std::string& line : lines) {
    std::string l = absl::StrReplaceAll(line, {{"\r\n", "\n"}, {"\r", "\n"}});
    absl::StrAppend(&out, absl::StrReplaceAll(l, {{"\n", "\r\n"}}), "\r\n");
  }
  return out;
}

}  // namespace sonde::notify
