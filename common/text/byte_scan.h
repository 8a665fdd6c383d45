// Eight bytes at a time: the word tests the hot text scanners share (COPY
// and JSON escaping, the UTF-8 check of every stored string) to step over
// runs of plain ASCII without looking at each byte. Each answers whether ANY
// byte of the word matches; the caller then finds which one byte by byte.
// Header-only, pure; any thread.
#ifndef SONDE_COMMON_TEXT_BYTE_SCAN_H_
#define SONDE_COMMON_TEXT_BYTE_SCAN_H_

#include <cstdint>
#include <cstring>

namespace sonde::text {

inline constexpr uint64_t kEachByte = 0x0101010101010101ull;
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

// The 8 bytes at `p` (any alignment).
inline uint64_t LoadWord(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Some byte is below `n` (n <= 128; bytes >= 0x80 never count).
inline bool HasByteBelow(uint64_t w, uint8_t n) {
  return ((w - kEachByte * n) & ~w & kHighBits) != 0;
}

// Some byte equals `b`.
inline bool HasByte(uint64_t w, uint8_t b) { return HasByteBelow(w ^ (kEachByte * b), 1); }

// Some byte has its high bit set (not ASCII).
inline bool HasHighByte(uint64_t w) { return (w & kHighBits) != 0; }

}  // namespace sonde::text

#endif  // SONDE_COMMON_TEXT_BYTE_SCAN_H_
