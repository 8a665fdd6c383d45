// The libcurl transfer every sender shares: an owned easy handle with the
// common options (timeouts, no signals, no proxy for loopback receivers),
// the one place a CURLcode becomes an absl::Status, and a JSON POST that
// succeeds only on a 2xx answer. Each call owns its handles, so any thread
// may transfer, several at once; a call blocks for at most about `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_TRANSFER_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_TRANSFER_H_

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sonde::notify {

struct CurlEasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

// A curl_slist owned for the duration of one transfer.
class CurlList {
 public:
  CurlList() = default;
  ~CurlList() { curl_slist_free_all(list_); }
  CurlList(const CurlList&) = delete;
  CurlList& operator=(const CurlList&) = delete;
  void Append(const std::string& s) { list_ = curl_slist_append(list_, s.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// The bytes an upload (SMTP DATA) reads from; borrowed for one transfer.
struct UploadSource {
  absl::string_view data;
  size_t offset = 0;
};

// CURLOPT_READFUNCTION over an UploadSource.
size_t ReadUpload(char* buffer, size_t size, size_t n, void* user);

// UNAVAILABLE for transport failures, DEADLINE_EXCEEDED for a timeout,
// INVALID_ARGUMENT for a URL or protocol curl cannot use; `what` names the
// notifier.
absl::Status CurlStatus(CURLcode code, const char* errbuf, absl::string_view what);

// A fresh easy handle with the shared options; errors are written into
// `errbuf` (CURL_ERROR_SIZE bytes, owned by the caller).
absl::StatusOr<CurlEasy> NewTransfer(absl::string_view what, absl::Duration timeout, char* errbuf);

// POSTs `body` to `url` with `headers`; OK only for a 2xx answer (otherwise
// UNAVAILABLE naming the status and the start of the answer).
absl::Status PostJson(absl::string_view what, const std::string& url, absl::string_view body,
                      const std::vector<std::string>& headers, absl::Duration timeout);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_TRANSFER_H_
