#include "tokenizer/utf8.h"

#include "tokenizer/tokenizer.h"

namespace nb {
namespace utf8 {

size_t lead_len(uint8_t lead) {
  // Indexed by the high nibble: 0x0-0xB -> 1 (ASCII or a stray continuation
  // byte), 0xC-0xD -> 2, 0xE -> 3, 0xF -> 4.
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Strict decoder: the shortest form only, no surrogates, nothing above
// U+10FFFF. Returns 0 on a bad sequence and sets *why.
static size_t decode_strict(std::string_view s, size_t pos, uint32_t* cp, const char** why) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[pos + i]); };
  uint8_t c = b(0);
  size_t n;
  uint32_t v, min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c < 0xC0) { *why = "unexpected continuation byte"; return 0; }
  if (c < 0xE0) { n = 2; v = c & 0x1F; min = 0x80; }
  else if (c < 0xF0) { n = 3; v = c & 0x0F; min = 0x800; }
  else if (c < 0xF8) { n = 4; v = c & 0x07; min = 0x10000; }
  else { *why = "invalid lead byte"; return 0; }
  if (pos + n > s.size()) { *why = "truncated sequence"; return 0; }
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) { *why = "truncated sequence"; return 0; }
    v = (v << 6) | (b(i) & 0x3F);
  }
  if (v < min) { *why = "overlong encoding"; return 0; }
  if (v >= 0xD800 && v <= 0xDFFF) { *why = "surrogate code point"; return 0; }
  if (v > 0x10FFFF) { *why = "code point above U+10FFFF"; return 0; }
  *cp = v;
  return n;
}

size_t decode(std::string_view s, size_t pos, uint32_t* cp) {
  const char* why = nullptr;
  size_t n = decode_strict(s, pos, cp, &why);
  if (n == 0) { *cp = kInvalid; return 1; }
  return n;
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace utf8

Status check_utf8(std::string_view text, const char* what) {
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp;
    const char* why = nullptr;
    size_t n = utf8::decode_strict(text, pos, &cp, &why);
    if (n == 0)
      return Status::Error(strfmt("%s: invalid UTF-8 at byte offset %zu (byte 0x%02X): %s", what ? what : "text",
                                  pos, unsigned(uint8_t(text[pos])), why));
    pos += n;
  }
  return Status::Ok();
}

}  // namespace nb
