#include "tokenizer/piece_text.h"

namespace nb::tok {

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int parse_byte_piece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

static constexpr std::string_view kMarker = "\xE2\x96\x81";  // U+2581

std::string spaces_from_markers(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size();) {
    if (p.substr(i, 3) == kMarker) { out += ' '; i += 3; }
    else out += p[i++];
  }
  return out;
}

std::string markers_from_spaces(std::string_view t) {
  std::string out;
  out.reserve(t.size() + t.size() / 2);
  for (char c : t) {
    if (c == ' ') out += kMarker;
    else out += c;
  }
  return out;
}

std::string printable(std::string piece) {
  if (piece.size() != 1) return piece;
  unsigned char c = static_cast<unsigned char>(piece[0]);
  // run.c drops every single byte for which isprint() and isspace() are both
  // false in the C locale, which includes all bytes >= 0x80. But a model
  // emits non-ASCII text (é, 日本, emoji) that its vocabulary lacks as
  // byte-fallback pieces <0xC3><0xA9>, one byte per token; dropping them
  // would turn valid UTF-8 output into nothing. So only ASCII control bytes
  // are dropped here (they could garble a terminal); bytes >= 0x80 are kept
  // so the UTF-8 they form survives. For ASCII-only output, which is what
  // the llama2.c reference files hold, this is exactly run.c's behaviour.
  bool ascii_print = c >= 0x20 && c <= 0x7E;
  bool space = c == ' ' || (c >= '\t' && c <= '\r');
  if (c < 0x80 && !ascii_print && !space) return std::string();
  return piece;
}

std::string print_piece(std::string_view piece, bool after_bos) {
  if (after_bos && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  int byte = parse_byte_piece(piece);
  if (byte >= 0) return printable(std::string(1, char(byte)));
  return printable(std::string(piece));
}

}  // namespace nb::tok
