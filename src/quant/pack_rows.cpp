#include "quant/pack_rows.h"

#include <cstring>

#include "formats/blocks.h"
#include "formats/format.h"

namespace nb::quant {
namespace {

using namespace formats;

inline uint8_t canonical(uint8_t code) { return code == 0x8 ? 0x0 : code; }

void pack_mx(const uint8_t* c, uint16_t e, BlockMXFP4& b) {
  b.e = uint8_t(e);
  for (int j = 0; j < kQKMXFP4 / 2; ++j) b.qs[j] = uint8_t(canonical(c[j]) | canonical(c[j + kQKMXFP4 / 2]) << 4);
}

void pack_nv(const uint8_t* c, uint16_t d, BlockNVFP4& b) {
  b.d = uint8_t(d);
  for (int j = 0; j < kQKNVFP4 / 2; ++j) b.qs[j] = uint8_t(canonical(c[j]) | canonical(c[j + kQKNVFP4 / 2]) << 4);
}

template <int G>
void pack_int4(const uint8_t* c, uint16_t d, BlockInt4<G>& b) {
  b.d = d;
  for (int k = 0; k < G; k += 32)  // each run of 32: element j low nibble, j + 16 high nibble
    for (int j = 0; j < 16; ++j) b.qs[k / 2 + j] = uint8_t((c[k + j] & 0xF) | (c[k + j + 16] & 0xF) << 4);
}

template <class Block, class Fn>
void pack_all(int64_t rows, int64_t cols, int64_t bs, const uint8_t* codes, const uint16_t* stored, uint8_t* out,
              Fn fn) {
  const int64_t nb = cols / bs;
  auto* blocks = reinterpret_cast<Block*>(out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < nb; ++t) fn(codes + r * cols + t * bs, stored[r * nb + t], blocks[r * nb + t]);
}

}  // namespace

Result<std::vector<uint8_t>> pack_rows(FormatId format, int64_t rows, int64_t cols, const uint8_t* codes,
                                       const uint16_t* stored) {
  const FormatTraits& tr = traits(format);
  NB_TRY(check_row(format, cols, "pack_rows: matrix row"));
  std::vector<uint8_t> out(row_bytes(format, cols) * size_t(rows));
  const int64_t bs = tr.block_size;
  switch (format) {
    case FormatId::MXFP4:
    case FormatId::MXFP4_FPQ: pack_all<BlockMXFP4>(rows, cols, bs, codes, stored, out.data(), pack_mx); break;
    case FormatId::NVFP4: pack_all<BlockNVFP4>(rows, cols, bs, codes, stored, out.data(), pack_nv); break;
    case FormatId::INT4_G32: pack_all<BlockInt4<32>>(rows, cols, bs, codes, stored, out.data(), pack_int4<32>); break;
    case FormatId::INT4_G64: pack_all<BlockInt4<64>>(rows, cols, bs, codes, stored, out.data(), pack_int4<64>); break;
    case FormatId::INT4_G128: pack_all<BlockInt4<128>>(rows, cols, bs, codes, stored, out.data(), pack_int4<128>); break;
    default: return Status::Error(std::string("pack_rows: cannot pack format ") + tr.name);
  }
  return out;
}

}  // namespace nb::quant
