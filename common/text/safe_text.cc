#include "common/text/safe_text.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/text/byte_scan.h"

namespace sonde {
namespace {

// Length of the well-formed UTF-8 sequence at p[0..n), or 0 if there is none.
size_t Utf8SequenceLength(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3;
    hi = 0x9F;
  } else if (c == 0xF0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) {
      return 0;
    }
  }
  return len;
}

// The display form of the character at p[0..len), appended to `out`.
void AppendSafe(const unsigned char* p, size_t len, std::string* out) {
  if (len == 0) {  // not UTF-8: show the byte
    absl::StrAppendFormat(out, "\\x%02x", p[0]);
    return;
  }
  if (len == 1) {
    switch (p[0]) {
      case '\n':
        out->append("\\n");
        return;
      case '\r':
        out->append("\\r");
        return;
      case '\t':
        out->append("\\t");
        return;
      default:
        if (p[0] < 0x20 || p[0] == 0x7F) {
          absl::StrAppendFormat(out, "\\x%02x", p[0]);
        } else {
          out->push_back(static_cast<char>(p[0]));
        }
        return;
    }
  }
  if (len == 2 && p[0] == 0xC2 && p[1] < 0xA0) {  // C1 control U+0080..U+009F
    absl::StrAppendFormat(out, "\\u%04x", p[1]);
    return;
  }
  out->append(reinterpret_cast<const char*>(p), len);
}

bool PrintableAscii(uint64_t w) {
  return !text::HasHighByte(w) && !text::HasByteBelow(w, 0x20) && !text::HasByte(w, 0x7F);
}

bool CleanAscii(uint64_t w) { return !text::HasHighByte(w) && !text::HasByte(w, 0); }

// Both checks below read 8 bytes at a time; the last fewer than 8 in the
// word that ends the text (it overlaps bytes already read: a multi-byte
// character among them fails the word, and the byte-by-byte path goes on).
bool IsPrintableUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {  // 8 printable ASCII bytes, the common case
      if (PrintableAscii(text::LoadWord(s.data() + i))) {
        i += 8;
        continue;
      }
    } else if (s.size() >= 8 && PrintableAscii(text::LoadWord(s.data() + s.size() - 8))) {
      return true;  // the last (fewer than 8) bytes, in the word that ends the text
    }
    if (p[i] >= 0x20 && p[i] < 0x7F) {  // printable ASCII
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(p + i, s.size() - i);
    if (len <= 1 || (len == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0)) {
      return false;  // control character or not UTF-8
    }
    i += len;
  }
  return true;
}

}  // namespace

bool IsCleanUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {  // 8 ASCII bytes without NUL, the common case
      if (CleanAscii(text::LoadWord(s.data() + i))) {
        i += 8;
        continue;
      }
    } else if (s.size() >= 8 && CleanAscii(text::LoadWord(s.data() + s.size() - 8))) {
      return true;
    }
    if (p[i] != 0 && p[i] < 0x80) {  // ASCII
      ++i;
      continue;
    }
    if (p[i] == 0) {
      return false;
    }
    size_t len = Utf8SequenceLength(p + i, s.size() - i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string SanitizeUtf8(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  while (i < in.size()) {
    if (p[i] == 0) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(p + i, in.size() - i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    out.append(in.data() + i, len);
    i += len;
  }
  return out;
}

std::string SafeText(absl::string_view in, size_t max_bytes) {
  if (in.size() <= max_bytes && IsPrintableUtf8(in)) {
    return std::string(in);
  }
  static constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026
  std::string out;
  out.reserve(std::min(in.size(), max_bytes));
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  std::string one;
  while (i < in.size()) {
    size_t len = Utf8SequenceLength(p + i, in.size() - i);
    one.clear();
    AppendSafe(p + i, len, &one);
    size_t consumed = len == 0 ? 1 : len;
    // Keep room for the ellipsis unless this character ends the text.
    size_t room =
        i + consumed == in.size() ? max_bytes : max_bytes - std::min(max_bytes, kEllipsis.size());
    if (out.size() + one.size() > room) {
      if (out.size() + kEllipsis.size() <= max_bytes) {
        out.append(kEllipsis.data(), kEllipsis.size());
      }
      return out;
    }
    out.append(one);
    i += consumed;
  }
  return out;
}

void AssignSafeText(absl::string_view in, size_t max_bytes, std::string* out) {
  if (in.size() <= max_bytes && IsPrintableUtf8(in)) {
    out->assign(in.data(), in.size());
    return;
  }
  *out = SafeText(in, max_bytes);
}

}  // namespace sonde
