// GPT-2's pre-tokenizer, written out by hand (no regex engine):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// \p{L} / \p{N} are the Unicode general categories L* / N* and \s is the
// Unicode White_Space property, all from ICU (Debian libicu72, Unicode 15).
#pragma once
#include <string_view>
#include <vector>

namespace nb::tok {

// Split `text` into pre-tokens (views into it). Invalid UTF-8 bytes are
// treated as single non-letter, non-number, non-space characters.
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

}  // namespace nb::tok
