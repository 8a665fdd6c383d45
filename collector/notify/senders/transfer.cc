#include "collector/notify/senders/transfer.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"

namespace sonde::notify {
namespace {

constexpr size_t kMaxResponseBytes = 4096;
constexpr size_t kErrorBodyBytes = 200;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Response {
  std::string head;  // the first kMaxResponseBytes of the body
  bool cut = false;  // the body went on past them; the transfer was stopped
};

// Keeps the start of the answer and stops the transfer past it: a receiver
// answering megabytes costs neither memory nor the time to read them.
size_t CollectResponse(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<Response*>(user);
  const size_t bytes = size * n;
  if (out->head.size() + bytes > kMaxResponseBytes) {
    out->head.append(data, kMaxResponseBytes - out->head.size());
    out->cut = true;
    return 0;  // CURLE_WRITE_ERROR: the status line has been read already
  }
  out->head.append(data, bytes);
  return bytes;
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

}  // namespace

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* src = static_cast<UploadSource*>(user);
  const size_t len = std::min(size * n, src->data.size() - src->offset);
  std::memcpy(buffer, src->data.data() + src->offset, len);
  src->offset += len;
  return len;
}

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

absl::StatusOr<CurlEasy> NewTransfer(absl::string_view what, absl::Duration timeout, char* errbuf) {
  GlobalInitOnce();
  CurlEasy curl(curl_easy_init());
  if (curl == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": curl_easy_init failed"));
  }
  CommonOptions(curl.get(), timeout, errbuf);
  return curl;
}

absl::Status PostJson(absl::string_view what, const std::string& url, absl::string_view body,
                      const std::vector<std::string>& headers, absl::Duration timeout) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  ASSIGN_OR_RETURN(CurlEasy curl, NewTransfer(what, timeout, errbuf));
  common::UniqueCurlSlist header_list;
  for (const std::string& h : headers) {
    common::AppendCurlSlist(&header_list, h);
  }
  common::AppendCurlSlist(&header_list, "Expect:");  // no 100-continue round trip
  Response response;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, CollectResponse);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && response.cut)) {
    return CurlStatus(code, errbuf, what);
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    std::string snippet = response.head.substr(0, kErrorBodyBytes);
    absl::StrReplaceAll({{"\r", " "}, {"\n", " "}}, &snippet);
    return absl::UnavailableError(
        absl::StrCat(what, ": HTTP ", status, ": ", absl::StripAsciiWhitespace(snippet)));
  }
  return absl::OkStatus();
}

}  // namespace sonde::notify
