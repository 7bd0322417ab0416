// GPT-2's byte-level alphabet: every byte maps to one printable code point
// so that BPE vocabularies hold only visible characters (' ' -> 'Ġ' U+0120,
// '\n' -> 'Ċ' U+010A).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace nb::tok {

// UTF-8 of the code point that stands for byte b.
const std::string& byte_to_char(uint8_t b);
// Map every byte of `raw` to its character.
std::string bytes_to_chars(std::string_view raw);
// Inverse for one code point: the byte, or -1 if cp stands for no byte.
int char_to_byte(uint32_t cp);
// Inverse for a piece: characters of the alphabet become their bytes; any
// other character is kept as its UTF-8 (llama.cpp would reject such a piece).
std::string chars_to_bytes(std::string_view piece);

}  // namespace nb::tok
