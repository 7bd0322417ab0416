#include "tokenizer/gpt2_pretokenizer.h"

#include <unicode/uchar.h>

#include <cstdint>

#include "tokenizer/utf8.h"

namespace nb::tok {
namespace {

enum Class : uint8_t { kOther, kLetter, kNumber, kSpace };

Class classify(uint32_t cp) {
  if (cp == utf8::kInvalid) return kOther;
  UChar32 c = UChar32(cp);
  if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) return kSpace;
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
      return kLetter;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
      return kNumber;
    default:
      return kOther;
  }
}

}  // namespace

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  // Code points with their classes and byte offsets (off[n] = text size).
  std::vector<uint32_t> cps;
  std::vector<Class> cls;
  std::vector<size_t> off;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    size_t len = utf8::decode(text, i, &cp);
    cps.push_back(cp);
    cls.push_back(classify(cp));
    off.push_back(i);
    i += len;
  }
  const size_t n = cps.size();
  off.push_back(text.size());

  std::vector<std::string_view> out;
  size_t start = 0;
  auto emit = [&](size_t end) {
    out.push_back(text.substr(off[start], off[end] - off[start]));
    start = end;
  };
  auto run_of = [&](size_t p, Class c) {  // end of the run of class c from p
    while (p < n && cls[p] == c) ++p;
    return p;
  };

  while (start < n) {
    const size_t p = start;
    // 's 't 're 've 'm 'll 'd (lower case only, as in GPT-2)
    if (cps[p] == '\'' && p + 1 < n) {
      uint32_t a = cps[p + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') { emit(p + 2); continue; }
      if (p + 2 < n) {
        uint32_t b = cps[p + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) { emit(p + 3); continue; }
      }
    }
    // ' ?X+' for X = letters, numbers, or anything else but whitespace.
    const size_t q = cps[p] == ' ' ? p + 1 : p;
    if (q < n && cls[q] != kSpace) { emit(run_of(q, cls[q])); continue; }
    // \s+(?!\S): a whitespace run followed by more text gives up its last
    // character (which then starts the next pre-token); at the end, \s+.
    size_t end = run_of(p, kSpace);
    if (end == p) { emit(p + 1); continue; }  // not reached: every class is handled above
    if (end - p > 1 && end < n) --end;
    emit(end);
  }
  return out;
}

}  // namespace nb::tok
