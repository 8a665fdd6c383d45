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
#include "common/curl_handles.h"

namespace sonde::notify {

using CurlEasy = common::UniqueCurlEasy;

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
// UNAVAILABLE naming the status and the start of the answer). At most 4 KiB
// of the answer's body is read: past that the transfer stops and the status
// alone decides.
absl::Status PostJson(absl::string_view what, const std::string& url, absl::string_view body,
                      const std::vector<std::string>& headers, absl::Duration timeout);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_TRANSFER_H_
