// How a stored piece becomes printed bytes: the rules llama2.c's run.c
// applies in decode() + safe_printf(), shared by every SentencePiece-style
// tokenizer, plus the token-type numbering llama.cpp and SentencePiece share.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace nb::tok {

// SentencePiece's piece types; llama.cpp's tokenizer.ggml.token_type uses
// the same numbers.
enum TokenType : int32_t {
  kTypeUndefined = 0,
  kTypeNormal = 1,
  kTypeUnknown = 2,
  kTypeControl = 3,
  kTypeUserDefined = 4,
  kTypeUnused = 5,
  kTypeByte = 6,
};

// "<0xHH>" (exactly six characters, hex digits either case) -> HH, else -1.
int parse_byte_piece(std::string_view piece);

// U+2581 '▁' -> ' ' everywhere in the piece.
std::string spaces_from_markers(std::string_view piece);
// ' ' -> U+2581 everywhere.
std::string markers_from_spaces(std::string_view text);

// run.c's safe_printf filter: a piece of one byte that is neither printable
// ASCII nor whitespace prints nothing. See piece_text.cpp for the one
// deliberate difference (bytes >= 0x80 are kept).
std::string printable(std::string piece);

// The whole SentencePiece-style printing rule for a piece whose spaces are
// already ' ': drop its leading space when it follows BOS, map a byte piece
// to its byte, then apply the safe_printf filter.
std::string print_piece(std::string_view piece, bool after_bos);

}  // namespace nb::tok
