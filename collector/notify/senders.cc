#include "collector/notify/senders.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "collector/notify/notify.h"
#include "common/config/config.h"
#include "common/curl_handles.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::notify {
namespace {

constexpr size_t kMaxResponseBytes = 4096;
constexpr size_t kErrorBodyBytes = 200;
constexpr char kAlertsPath[] = "/api/v2/alerts";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

using CurlEasy = common::UniqueCurlEasy;
using common::AppendCurlSlist;

size_t CollectResponse(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t bytes = size * n;
  if (out->size() < kMaxResponseBytes) {
    out->append(data, std::min(bytes, kMaxResponseBytes - out->size()));
  }
  return bytes;
}

struct UploadSource {
  absl::string_view data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* src = static_cast<UploadSource*>(user);
  const size_t len = std::min(size * n, src->data.size() - src->offset);
  std::memcpy(buffer, src->data.data() + src->offset, len);
  src->offset += len;
  return len;
}

// The one place a CURLcode becomes a Status.
absl::Status CurlStatus(CURLcode code, const char* errbuf, absl::string_view what) {
  const std::string detail =
      errbuf != nullptr && errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out: ", detail));
  }
  if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", detail));
}

// Options every transfer shares. Loopback receivers never go through a
// proxy from the environment.
void CommonOptions(CURL* curl, absl::Duration timeout, char* errbuf) {
  const long ms = std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
}

// A fresh easy handle with CommonOptions (errors into `errbuf`).
absl::StatusOr<CurlEasy> NewTransfer(absl::string_view what, absl::Duration timeout, char* errbuf) {
  GlobalInitOnce();
  CurlEasy curl(curl_easy_init());
  if (curl == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": curl_easy_init failed"));
  }
  CommonOptions(curl.get(), timeout, errbuf);
  return curl;
}

// POSTs `body`; OK only for a 2xx answer.
absl::Status PostJson(absl::string_view what, const std::string& url, absl::string_view body,
                      const std::vector<std::string>& headers, absl::Duration timeout) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  ASSIGN_OR_RETURN(CurlEasy curl, NewTransfer(what, timeout, errbuf));
  common::UniqueCurlSlist header_list;
  for (const std::string& h : headers) {
    AppendCurlSlist(&header_list, h);
  }
  AppendCurlSlist(&header_list, "Expect:");  // no 100-continue round trip
  std::string response;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, CollectResponse);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    return CurlStatus(code, errbuf, what);
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    std::string snippet = response.substr(0, kErrorBodyBytes);
    absl::StrReplaceAll({{"\r", " "}, {"\n", " "}}, &snippet);
    return absl::UnavailableError(
        absl::StrCat(what, ": HTTP ", status, ": ", absl::StripAsciiWhitespace(snippet)));
  }
  return absl::OkStatus();
}

absl::Status SendWebhook(const v1::Notifier& notifier, absl::string_view event,
                         absl::string_view payload, int64_t delivery_id, absl::Duration timeout) {
  const std::string what = absl::StrCat("webhook \"", notifier.name(), "\"");
  if (notifier.webhook().url().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no url"));
  }
  std::vector<std::string> headers = {
      "Content-Type: application/json",
      absl::StrCat("X-Sonde-Event: ", event),
      absl::StrCat("X-Sonde-Delivery: ", delivery_id),
      "User-Agent: sonde-collector",
  };
  if (!notifier.webhook().secret().empty()) {
    headers.push_back(absl::StrCat("X-Sonde-Signature: ",
                                   WebhookSignature(notifier.webhook().secret(), payload)));
  }
  return PostJson(what, notifier.webhook().url(), payload, headers, timeout);
}

absl::Status SendAlertmanager(const v1::Notifier& notifier, absl::string_view payload,
                              absl::Time now, absl::Duration timeout) {
  const std::string what = absl::StrCat("alertmanager \"", notifier.name(), "\"");
  if (notifier.alertmanager().url().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no url"));
  }
  auto notification = ParseNotification(payload);
  if (!notification.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", notification.status().message()));
  }
  return PostJson(what, AlertmanagerAlertsUrl(notifier.alertmanager().url()),
                  AlertmanagerBody(notifier, *notification, now),
                  {"Content-Type: application/json", "User-Agent: sonde-collector"}, timeout);
}

std::string Angle(absl::string_view address) {
  if (absl::StartsWith(address, "<")) {
    return std::string(address);
  }
  return absl::StrCat("<", address, ">");
}

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
    AppendCurlSlist(&rcpt, Angle(to));
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

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

void AppendLabel(absl::string_view key, absl::string_view value, bool* first, std::string* out) {
  if (!*first) {
    out->push_back(',');
  }
  *first = false;
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

}  // namespace

absl::string_view NotifierKind(const v1::Notifier& notifier) {
  switch (notifier.kind_case()) {
    case v1::Notifier::kWebhook:
      return "webhook";
    case v1::Notifier::kEmail:
      return "email";
    case v1::Notifier::kAlertmanager:
      return "alertmanager";
    default:
      return "none";
  }
}

absl::Status Deliver(const v1::Notifier& notifier, absl::string_view event,
                     absl::string_view payload_json, int64_t delivery_id, absl::Time now,
                     absl::Duration timeout) {
  switch (notifier.kind_case()) {
    case v1::Notifier::kWebhook:
      return SendWebhook(notifier, event, payload_json, delivery_id, timeout);
    case v1::Notifier::kAlertmanager:
      return SendAlertmanager(notifier, payload_json, now, timeout);
    case v1::Notifier::kEmail:
      return SendEmail(notifier, payload_json, delivery_id, now, timeout);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("notifier \"", notifier.name(), "\" has no webhook, email or alertmanager"));
  }
}

absl::StatusOr<Notification> ParseNotification(absl::string_view payload_json) {
  namespace pbu = google::protobuf::util;
  google::protobuf::Struct doc;
  auto st = pbu::JsonStringToMessage(std::string(payload_json), &doc);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notification payload is not a JSON object: ", st.ToString()));
  }
  const auto& fields = doc.fields();
  auto str = [&fields](const char* key) -> std::string {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second.string_value();
  };
  Notification n;
  n.event = str("event");
  n.notifier = str("notifier");
  n.summary = str("summary");
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, str("created_at"), &n.created_at, &err)) {
    n.created_at = absl::UnixEpoch();
  }
  auto it = fields.find("incident");
  if (it != fields.end() && it->second.has_struct_value()) {
    std::string incident_json;
    st = pbu::MessageToJsonString(it->second.struct_value(), &incident_json);
    pbu::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (st.ok()) {
      st = pbu::JsonStringToMessage(incident_json, &n.incident, options);
    }
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("notification payload: bad incident: ", st.ToString()));
    }
    n.has_incident = true;
  }
  return n;
}

std::string WebhookSignature(absl::string_view secret, absl::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return absl::StrCat("sha256=", absl::BytesToHexString(
                                     absl::string_view(reinterpret_cast<const char*>(mac), len)));
}

std::string AlertmanagerAlertsUrl(absl::string_view url) {
  absl::string_view base = url;
  if (absl::EndsWith(base, kAlertsPath)) {
    return std::string(base);
  }
  while (absl::EndsWith(base, "/")) {
    base.remove_suffix(1);
  }
  return absl::StrCat(base, kAlertsPath);
}

std::string AlertmanagerBody(const v1::Notifier& notifier, const Notification& n, absl::Time now) {
  std::string out = "[{\"labels\":{";
  bool first = true;
  absl::Time starts = now;
  absl::Time ends;
  if (n.event == kHeartbeat || !n.has_incident) {
    const absl::Duration every = common::ToAbsl(notifier.heartbeat_every());
    AppendLabel("alertname", "SondeHeartbeat", &first, &out);
    AppendLabel("notifier", notifier.name(), &first, &out);
    AppendLabel("severity", "none", &first, &out);
    out.append("},\"annotations\":{");
    first = true;
    AppendLabel("summary", n.summary, &first, &out);
    AppendLabel("description",
                "Dead man's switch: Sonde's notification path works. Alert when "
                "this alert stops firing.",
                &first, &out);
    ends = now + 2 * (every > absl::ZeroDuration() ? every : absl::Minutes(5));
  } else {
    const v1::Incident& inc = n.incident;
    AppendLabel("alertname", "SondeIncident", &first, &out);
    AppendLabel("incident_id", inc.id(), &first, &out);
    AppendLabel("service", inc.service(), &first, &out);
    AppendLabel("kind", inc.kind(), &first, &out);
    AppendLabel("severity", Lower(inc.severity()), &first, &out);
    AppendLabel("regions", absl::StrJoin(inc.regions(), ","), &first, &out);
    AppendLabel("failure_class", v1::FailureClass::Code_Name(inc.failure_class()), &first, &out);
    out.append("},\"annotations\":{");
    first = true;
    AppendLabel("summary", n.summary.empty() ? Summary(inc) : n.summary, &first, &out);
    AppendLabel("evidence", inc.evidence(), &first, &out);
    AppendLabel("description",
                absl::StrCat("Sonde ", n.event, ": ", inc.kind(), " on ", inc.service(),
                             ". Checks: ", absl::StrJoin(inc.checks(), ", "),
                             ". Acknowledge: sondectl ack ", inc.id()),
                &first, &out);
    if (inc.has_opened_at()) {
      starts = ToTime(inc.opened_at());
    }
    if (inc.has_resolved_at()) {
      ends = ToTime(inc.resolved_at());
    } else {
      ends = now + std::max(2 * common::ToAbsl(notifier.repeat_every()), absl::Minutes(5));
    }
  }
  out.append("},\"startsAt\":");
  AppendJsonString(FormatRfc3339(starts), &out);
  out.append(",\"endsAt\":");
  AppendJsonString(FormatRfc3339(ends), &out);
  out.append("}]");
  return out;
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
        "Opened:    ", inc.has_opened_at() ? FormatRfc3339(ToTime(inc.opened_at())) : "-"));
    if (inc.has_resolved_at()) {
      lines.push_back(absl::StrCat("Resolved:  ", FormatRfc3339(ToTime(inc.resolved_at()))));
    }
    if (inc.has_acknowledged_at()) {
      lines.push_back(absl::StrCat("Acked:     ", FormatRfc3339(ToTime(inc.acknowledged_at())),
                                   inc.acknowledged_by().empty() ? "" : " by ",
                                   inc.acknowledged_by()));
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
