#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace nb::tok {
namespace {

struct Tables {
  std::array<uint32_t, 256> cp{};
  std::array<std::string, 256> utf8;
  Tables() {
    // Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    // themselves; the other 68 bytes take U+0100, U+0101, ... in byte order.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cp[b] = keep ? uint32_t(b) : next++;
      utf8::append(utf8[b], cp[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& byte_to_char(uint8_t b) { return tables().utf8[b]; }

std::string bytes_to_chars(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += byte_to_char(uint8_t(c));
  return out;
}

int char_to_byte(uint32_t cp) {
  if (cp < 0x21 || cp > 0x143) return -1;  // the alphabet spans U+0021..U+0143
  static const std::array<int, 0x144> inverse = [] {
    std::array<int, 0x144> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[tables().cp[b]] = b;
    return inv;
  }();
  return inverse[cp];
}

std::string chars_to_bytes(std::string_view piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    uint32_t cp;
    size_t n = utf8::decode(piece, i, &cp);
    int b = cp == utf8::kInvalid ? -1 : char_to_byte(cp);
    if (b >= 0) out += char(b);
    else out.append(piece.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace nb::tok
