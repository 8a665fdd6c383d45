#include "collector/notify/senders/mime.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace sonde::notify {
namespace {

constexpr size_t kQpLineMax = 76;         // RFC 2045: encoded lines at most 76
constexpr size_t kFoldAt = 78;            // RFC 5322: lines SHOULD be at most 78
constexpr size_t kEncodedWordBytes = 45;  // 60 base64 characters, 72 with the markers

bool IsPlainAscii(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u < 0x7f) || c == '\t';
  });
}

// "=?UTF-8?B?..?=" words, each of at most kEncodedWordBytes input bytes, cut
// before a UTF-8 continuation byte so that no character is split.
std::vector<std::string> EncodedWords(absl::string_view value) {
  std::vector<std::string> words;
  while (!value.empty()) {
    size_t n = std::min(value.size(), kEncodedWordBytes);
    while (n < value.size() && n > 1 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) {
      --n;
    }
    words.push_back(absl::StrCat("=?UTF-8?B?", absl::Base64Escape(value.substr(0, n)), "?="));
    value.remove_prefix(n);
  }
  return words;
}

}  // namespace

std::string QuotedPrintable(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string normalized = absl::StrReplaceAll(text, {{"\r\n", "\n"}, {"\r", "\n"}});
  std::string out;
  for (absl::string_view line : absl::StrSplit(normalized, '\n')) {
    size_t column = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const auto u = static_cast<unsigned char>(line[i]);
      const bool at_end = i + 1 == line.size();
      std::string token;
      if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !at_end)) {
        token.push_back(static_cast<char>(u));
      } else {
        token = {'=', kHex[u >> 4], kHex[u & 0xF]};
      }
      // Room for the token and, should a soft break follow, its "=".
      if (column + token.size() > kQpLineMax - 1) {
        out += "=\r\n";
        column = 0;
      }
      out += token;
      column += token.size();
    }
    out += "\r\n";
  }
  return out;
}

std::string HeaderField(absl::string_view name, absl::string_view raw_value) {
  const std::string value =
      absl::StrReplaceAll(raw_value, {{"\r\n", " "}, {"\r", " "}, {"\n", " "}});
  std::vector<std::string> words;
  bool encoded = !IsPlainAscii(value);
  if (!encoded) {
    std::vector<std::string> split = absl::StrSplit(value, ' ');
    words = std::move(split);
    encoded = std::any_of(words.begin(), words.end(),
                          [](const std::string& w) { return w.size() > kFoldAt; });
  }
  if (encoded) {
    words = EncodedWords(value);
  }
  // Encoded words are joined by folding whitespace, which decoders drop
  // between two encoded words; plain words keep their single space.
  std::string out = absl::StrCat(name, ":");
  size_t column = out.size();
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (i > 0 && column + 1 + word.size() > kFoldAt) {
      out += "\r\n";
      column = 0;
    }
    out += " ";
    out += word;
    column += 1 + word.size();
  }
  out += "\r\n";
  return out;
}

}  // namespace sonde::notify
