#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/gpt2_pretokenizer.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/piece_text.h"

namespace nb::tok {
namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  for (auto v : gpt2_pretokenize(s)) out.emplace_back(v);
  return out;
}

using V = std::vector<std::string>;

TEST(TokenizerGpt2Pretokenizer, SplitsLikeTheRegex) {
  EXPECT_EQ(split(""), V{});
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("I'm don't we'll they've you're he'd"),
            (V{"I", "'m", " don", "'t", " we", "'ll", " they", "'ve", " you", "'re", " he", "'d"}));
  EXPECT_EQ(split("IT'S"), (V{"IT", "'", "S"}));  // contractions are lower-case only
  EXPECT_EQ(split("abc123 456!!? x"), (V{"abc", "123", " 456", "!!?", " x"}));
  // \s+(?!\S): a run of spaces leaves its last one to the next word.
  EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split("a \n\n b"), (V{"a", " \n\n", " b"}));
  EXPECT_EQ(split("a\nb"), (V{"a", "\n", "b"}));
  EXPECT_EQ(split("end   "), (V{"end", "   "}));
  EXPECT_EQ(split(" "), (V{" "}));
  EXPECT_EQ(split("\t\n"), (V{"\t\n"}));
  // Unicode letters and numbers (ICU categories), punctuation runs.
  EXPECT_EQ(split("Zo\xC3\xAB caf\xC3\xA9"), (V{"Zo\xC3\xAB", " caf\xC3\xA9"}));
  EXPECT_EQ(split("\xE6\x97\xA5\xE6\x9C\xAC \xD9\xA3\xD9\xA4"), (V{"\xE6\x97\xA5\xE6\x9C\xAC", " \xD9\xA3\xD9\xA4"}));
  EXPECT_EQ(split(" \xF0\x9F\x99\x82\xF0\x9F\x99\x82"), (V{" \xF0\x9F\x99\x82\xF0\x9F\x99\x82"}));
  // U+3000 is White_Space.
  EXPECT_EQ(split("a\xE3\x80\x80" "b"), (V{"a", "\xE3\x80\x80", "b"}));
}

TEST(TokenizerGpt2Pretokenizer, InvalidBytesDoNotCrash) {
  std::string bad = "ab\xFF\xFE cd\xC3";
  size_t total = 0;
  for (auto v : gpt2_pretokenize(bad)) total += v.size();
  EXPECT_EQ(total, bad.size());
}

TEST(TokenizerByteLevel, AlphabetRoundTrips) {
  EXPECT_EQ(byte_to_char(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(byte_to_char('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_to_char('A'), "A");
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(chars_to_bytes(bytes_to_chars(all)), all);
  EXPECT_EQ(char_to_byte(0x41), 0x41);
  EXPECT_EQ(char_to_byte(0x2581), -1);
}

TEST(TokenizerPieceText, RunCPrintingRules) {
  EXPECT_EQ(parse_byte_piece("<0x0A>"), 0x0A);
  EXPECT_EQ(parse_byte_piece("<0xff>"), 0xFF);
  EXPECT_EQ(parse_byte_piece("<0x0A"), -1);
  EXPECT_EQ(parse_byte_piece("<0xG0>"), -1);
  EXPECT_EQ(spaces_from_markers("\xE2\x96\x81the\xE2\x96\x81"), " the ");
  EXPECT_EQ(markers_from_spaces(" a b"), "\xE2\x96\x81" "a\xE2\x96\x81" "b");
  EXPECT_EQ(print_piece(" Once", true), "Once");
  EXPECT_EQ(print_piece(" Once", false), " Once");
  EXPECT_EQ(print_piece("<0x0A>", false), "\n");
  EXPECT_EQ(print_piece("<0x07>", false), "");      // control byte: dropped, as run.c
  EXPECT_EQ(print_piece("<0xC3>", false), "\xC3");  // kept, unlike run.c (UTF-8 from byte fallback)
  EXPECT_EQ(print_piece("<0x41>", false), "A");
}

TEST(TokenizerPairMerge, BestScoreThenLeftmost) {
  // Scores: "ab" 1, "bc" 1, "abc" 2; "ab" wins the tie by position.
  auto scorer = [](std::string_view l, std::string_view r, double* s, int32_t* id) {
    std::string j = std::string(l) + std::string(r);
    if (j == "ab" || j == "bc") { *s = 1; *id = 10; return true; }
    if (j == "abc") { *s = 2; *id = 11; return true; }
    return false;
  };
  std::vector<Symbol> in = {{"a", 0}, {"b", 1}, {"c", 2}, {"b", 1}, {"c", 2}};
  auto out = merge_pairs(in, scorer);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "abc");
  EXPECT_EQ(out[0].id, 11);
  EXPECT_EQ(out[1].text, "bc");
  EXPECT_TRUE(merge_pairs({}, scorer).empty());
}

}  // namespace
}  // namespace nb::tok
