#include "common/text/safe_text.h"

#include <string>

#include "gtest/gtest.h"

namespace sonde {
namespace {

TEST(SafeTextTest, PrintableUtf8IsUnchanged) {
  EXPECT_EQ(SafeText("GET / 200 — grüß dich"), "GET / 200 — grüß dich");
  EXPECT_EQ(SafeText(""), "");
}

TEST(SafeTextTest, InvalidBytesAreShownAsHex) {
  EXPECT_EQ(SafeText("caf\xe9 ok"), "caf\\xe9 ok");        // Latin-1
  EXPECT_EQ(SafeText("\xe2\x9c"), "\\xe2\\x9c");           // cut sequence
  EXPECT_EQ(SafeText("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(SafeText("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
}

TEST(SafeTextTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(SafeText("a\nb\r\tc"), "a\\nb\\r\\tc");
  EXPECT_EQ(SafeText(std::string("x\0y", 3)), "x\\x00y");
  EXPECT_EQ(SafeText("\x1b[2J"), "\\x1b[2J");  // terminal escape
  EXPECT_EQ(SafeText("\x7f"), "\\x7f");
  EXPECT_EQ(SafeText("\xc2\x9b"
                     "31m"),
            "\\u009b31m");  // C1 CSI
}

// The scan steps over 8 plain bytes at a time: a byte to escape is found
// at every offset of a longer text, and the printable edges (' ', '~') pass.
TEST(SafeTextTest, EveryOffsetOfALongTextIsChecked) {
  const std::string plain = "The quick brown fox jumps over 13 lazy dogs ~";
  EXPECT_EQ(SafeText(plain), plain);
  const std::pair<std::string, std::string> bad[] = {{std::string(1, '\0'), "\\x00"},
                                                     {"\x1f", "\\x1f"},
                                                     {"\x7f", "\\x7f"},
                                                     {"\x80", "\\x80"},
                                                     {"\xc2\x85", "\\u0085"}};
  for (size_t at = 0; at <= plain.size(); ++at) {
    for (const auto& [byte, shown] : bad) {
      std::string in = plain;
      in.insert(at, byte);
      std::string want = plain;
      want.insert(at, shown);
      EXPECT_EQ(SafeText(in), want) << "at " << at << " " << shown;
    }
  }
}

// Texts of every length up to three words: a bad byte at every offset is
// found (also in the last bytes, read in a word that overlaps the ones
// before), and a good multi-byte character anywhere is kept.
TEST(SafeTextTest, EveryOffsetOfEveryLengthIsChecked) {
  const std::string plain = "abcdefghijklmnopqrstuvwx";
  for (size_t len = 0; len <= plain.size(); ++len) {
    const std::string text = plain.substr(0, len);
    EXPECT_TRUE(IsCleanUtf8(text));
    EXPECT_EQ(SafeText(text), text);
    for (size_t at = 0; at <= len; ++at) {
      std::string nul = text, high = text, c0 = text, good = text;
      nul.insert(at, 1, '\0');
      high.insert(at, "\x80");
      c0.insert(at, "\x01");
      good.insert(at, "\xc3\xbc");
      EXPECT_FALSE(IsCleanUtf8(nul)) << len << " " << at;
      EXPECT_FALSE(IsCleanUtf8(high)) << len << " " << at;
      EXPECT_TRUE(IsCleanUtf8(c0)) << len << " " << at;  // clean, not printable
      EXPECT_TRUE(IsCleanUtf8(good)) << len << " " << at;
      std::string want = text;
      EXPECT_EQ(SafeText(c0), want.insert(at, "\\x01")) << len << " " << at;
      EXPECT_EQ(SafeText(good), good) << len << " " << at;
    }
  }
}

TEST(SafeTextTest, CapCutsAtACharacterAndMarksTheCut) {
  std::string out = SafeText(std::string(5000, 'a'), 100);
  EXPECT_LE(out.size(), 100u);
  EXPECT_EQ(out.substr(out.size() - 3), "\xE2\x80\xA6");
  // Never splits a multi-byte character or an escape.
  std::string umlauts;
  for (int i = 0; i < 100; ++i) {
    umlauts += "\xc3\xbc";
  }
  out = SafeText(umlauts, 10);
  EXPECT_TRUE(IsCleanUtf8(out));
  EXPECT_EQ(out, "\xc3\xbc\xc3\xbc\xc3\xbc\xE2\x80\xA6");
  EXPECT_EQ(SafeText("\n\n\n\n", 5), "\\n\xE2\x80\xA6");
  EXPECT_EQ(SafeText("abcde", 5), "abcde");
  EXPECT_EQ(SafeText("abcd\n", 5), "ab\xE2\x80\xA6");
}

TEST(SafeTextTest, ResultIsAlwaysCleanUtf8) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(static_cast<char>(b));
  }
  EXPECT_TRUE(IsCleanUtf8(SafeText(bytes)));
  EXPECT_TRUE(IsCleanUtf8(SafeText(bytes, 37)));
}

TEST(SafeTextTest, AssignSafeTextEqualsSafeTextOverAnEarlierValue) {
  std::string out = "an earlier, longer value of the field that keeps its capacity";
  for (const std::string& in :
       {std::string("bench.test A: 127.0.0.1 (ttl 60)"), std::string("line\nforged \xff"),
        std::string(2000, 'x'), std::string()}) {
    AssignSafeText(in, 64, &out);
    EXPECT_EQ(out, SafeText(in, 64));
  }
}

TEST(Utf8Test, SanitizeReplacesInvalidAndDropsNul) {
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), "ab");
  EXPECT_EQ(SanitizeUtf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_TRUE(IsCleanUtf8("grüß\n"));
  EXPECT_FALSE(IsCleanUtf8("\xff"));
}

// The check steps over 8-byte words: a NUL or a bad byte is found at every
// position of a word and of the tail, a good multi-byte character passes.
TEST(Utf8Test, CleanCheckSeesEveryPosition) {
  for (size_t len = 1; len <= 20; ++len) {
    for (size_t at = 0; at < len; ++at) {
      std::string s(len, 'a');
      s[at] = '\0';
      EXPECT_FALSE(IsCleanUtf8(s)) << len << " " << at;
      s[at] = '\xff';
      EXPECT_FALSE(IsCleanUtf8(s)) << len << " " << at;
      s.replace(at, 1, "\xc3\xa9");
      EXPECT_TRUE(IsCleanUtf8(s)) << len << " " << at;
    }
  }
}

}  // namespace
}  // namespace sonde
