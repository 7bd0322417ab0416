#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace nb {
namespace {

TEST(TokenizerUtf8, AcceptsValidText) {
  EXPECT_TRUE(check_utf8("", "prompt").ok());
  EXPECT_TRUE(check_utf8("plain ASCII\n", "prompt").ok());
  EXPECT_TRUE(check_utf8("Zo\xC3\xAB \xE6\x97\xA5 \xF0\x9F\x99\x82 \xF4\x8F\xBF\xBF", "prompt").ok());  // up to U+10FFFF
}

TEST(TokenizerUtf8, RejectsBadSequencesWithOffset) {
  struct Case { std::string text; size_t offset; const char* why; };
  const Case cases[] = {
      {"ab\x80", 2, "continuation"},
      {"a\xC0\xAF", 1, "overlong"},          // '/' in two bytes
      {"\xE0\x80\xAF", 0, "overlong"},
      {"\xF0\x80\x80\xAF", 0, "overlong"},
      {"xy\xED\xA0\x80", 2, "surrogate"},    // U+D800
      {"\xF4\x90\x80\x80", 0, "above"},      // U+110000
      {"\xF8\x88\x80\x80\x80", 0, "lead"},
      {"abc\xE6\x97", 3, "truncated"},
      {"\xC3" "a", 0, "truncated"},
  };
  for (const auto& c : cases) {
    Status st = check_utf8(c.text, "prompt");
    ASSERT_FALSE(st.ok()) << c.why;
    EXPECT_NE(st.message().find("byte offset " + std::to_string(c.offset)), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(c.why), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("prompt"), std::string::npos) << st.message();
  }
}

TEST(TokenizerUtf8, LenientDecodeAndAppend) {
  uint32_t cp;
  EXPECT_EQ(utf8::decode("\xE6\x97\xA5", 0, &cp), 3u);
  EXPECT_EQ(cp, 0x65E5u);
  EXPECT_EQ(utf8::decode("\xE6\x97", 0, &cp), 1u);
  EXPECT_EQ(cp, utf8::kInvalid);
  for (uint32_t c : {0x41u, 0xE9u, 0x2581u, 0x1F642u, 0x10FFFFu}) {
    std::string s;
    utf8::append(s, c);
    EXPECT_TRUE(check_utf8(s, "x").ok());
    EXPECT_EQ(utf8::decode(s, 0, &cp), s.size());
    EXPECT_EQ(cp, c);
  }
  EXPECT_EQ(utf8::lead_len(0x41), 1u);
  EXPECT_EQ(utf8::lead_len(0x80), 1u);
  EXPECT_EQ(utf8::lead_len(0xC3), 2u);
  EXPECT_EQ(utf8::lead_len(0xE6), 3u);
  EXPECT_EQ(utf8::lead_len(0xF0), 4u);
}

}  // namespace
}  // namespace nb
