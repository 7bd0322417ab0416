// Small UTF-8 helpers shared by the tokenizers. check_utf8 (strict) is
// declared in tokenizer.h; these are the lenient walkers the encoders use so
// that arbitrary bytes never crash them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nb::utf8 {

// Length of the sequence a lead byte announces (1 for ASCII, continuation
// bytes and invalid leads), the way llama.cpp's SPM splitter counts it.
size_t lead_len(uint8_t lead);

// Decode the code point at `pos`; returns its byte length (>= 1). An invalid
// or truncated sequence yields one byte and `*cp = kInvalid`.
constexpr uint32_t kInvalid = 0xFFFFFFFFu;
size_t decode(std::string_view s, size_t pos, uint32_t* cp);

void append(std::string& out, uint32_t cp);  // cp must be <= U+10FFFF

}  // namespace nb::utf8
