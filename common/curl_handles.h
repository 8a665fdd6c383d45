// RAII owners for libcurl handles: an easy handle, a multi handle and a
// header/resolve list (curl_slist). Header-only; the users (the prober's
// CurlMulti and HTTP probe, the collector's notification senders) link
// libcurl, common/ itself does not. A handle is used by one thread at a time.
#ifndef SONDE_COMMON_CURL_HANDLES_H_
#define SONDE_COMMON_CURL_HANDLES_H_

#include <curl/curl.h>

#include <string>

#include "common/unique_handle.h"

namespace sonde::common {

using UniqueCurlEasy = UniqueHandle<CURL, curl_easy_cleanup>;
using UniqueCurlMulti = UniqueHandle<CURLM, curl_multi_cleanup>;
using UniqueCurlSlist = UniqueHandle<curl_slist, curl_slist_free_all>;

// Appends a copy of `line` to `list`. Returns false (the list unchanged) when
// curl could not allocate.
inline bool AppendCurlSlist(UniqueCurlSlist* list, const std::string& line) {
  curl_slist* head = curl_slist_append(list->get(), line.c_str());
  if (head == nullptr) {
    return false;
  }
  (void)list->release();  // `head` is the same list, now one longer
  list->reset(head);
  return true;
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_CURL_HANDLES_H_
