// UniqueHandle<T, Free>: a std::unique_ptr owning a C library handle `T*`
// that is released by calling `Free` (curl_easy_cleanup, SSL_free, PQclear).
// One generic deleter instead of one hand-written struct per handle type.
// Header-only, no state; a handle is used by one thread at a time.
#ifndef SONDE_COMMON_UNIQUE_HANDLE_H_
#define SONDE_COMMON_UNIQUE_HANDLE_H_

#include <memory>

namespace sonde::common {

// Calls `Free` on a non-null handle (unique_ptr never passes null).
template <typename T, auto Free>
struct FreeWith {
  void operator()(T* p) const { Free(p); }
};

template <typename T, auto Free>
using UniqueHandle = std::unique_ptr<T, FreeWith<T, Free>>;

}  // namespace sonde::common

#endif  // SONDE_COMMON_UNIQUE_HANDLE_H_
