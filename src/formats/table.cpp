// The format table: rows indexed by FormatId, lookups by GGUF id and by name,
// and the row-size arithmetic every loader and kernel relies on.
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "formats/format.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

constexpr size_t kCount = size_t(FormatId::kCount);
using Table = std::array<FormatTraits, kCount>;

Table build_table() {
  const FormatTraits all[] = {
      rows::f32(),  rows::f16(),  rows::bf16(), rows::q8_0(), rows::q4_0(),
      rows::q4_k(), rows::q5_k(), rows::q6_k(), rows::q8_k(), rows::i8_row(),
      rows::tq1_0(), rows::tq2_0(), rows::t2(), rows::t1_6(),
      rows::mxfp4(), rows::mxfp4_fpq(), rows::nvfp4(), rows::int4_g32(), rows::int4_g64(), rows::int4_g128(),
      rows::q8_0r(), rows::tq2_0r(),
      rows::mxfp4r(), rows::mxfp4_fpqr(), rows::nvfp4r(), rows::int4_g32r(), rows::int4_g64r(),
      rows::q4_kr(), rows::q5_kr(), rows::q6_kr(),
  };
  Table t{};
  std::array<bool, kCount> filled{};
  for (const FormatTraits& row : all) {
    const size_t i = size_t(row.id);
    if (i >= kCount || filled[i]) {
      std::fprintf(stderr, "nibble: format table: row '%s' has a bad or duplicate id\n", row.name);
      std::abort();
    }
    t[i] = row;
    filled[i] = true;
  }
  // A FormatId without a row would make traits() return garbage; catch it at
  // the first use rather than in some kernel.
  for (size_t i = 0; i < kCount; ++i) {
    if (!filled[i]) {
      std::fprintf(stderr, "nibble: format table: FormatId %zu has no row\n", i);
      std::abort();
    }
  }
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

}  // namespace

const FormatTraits& traits(FormatId id) {
  const size_t i = size_t(id);
  if (i >= kCount) {
    std::fprintf(stderr, "nibble: traits(): FormatId %zu out of range\n", i);
    std::abort();
  }
  return table()[i];
}

const FormatTraits* find_by_gguf_type(uint32_t gguf_type) {
  for (const FormatTraits& row : table())
    if (row.gguf_type >= 0 && uint32_t(row.gguf_type) == gguf_type) return &row;
  return nullptr;
}

const FormatTraits* find_by_name(std::string_view name) {
  for (const FormatTraits& row : table()) {
    std::string_view want(row.name);
    if (want.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) == want[i];
    if (same) return &row;
  }
  return nullptr;
}

size_t row_bytes(FormatId id, int64_t n) {
  const FormatTraits& t = traits(id);
  return size_t(padded_cols(id, n) / t.block_size) * t.block_bytes + t.row_overhead;
}

int64_t padded_cols(FormatId id, int64_t n) {
  const FormatTraits& t = traits(id);
  return t.pads_rows ? (n + t.block_size - 1) / t.block_size * t.block_size : n;
}

namespace {

template <ScaleType T>
bool bad_scale(const uint8_t* s) {
  if constexpr (T == ScaleType::F16) return (s[1] & 0x7C) == 0x7C;  // little-endian: the exponent's bits in the high byte
  if constexpr (T == ScaleType::E8M0) return s[0] == 0xFF;
  if constexpr (T == ScaleType::E4M3) return (s[0] & 0x7F) == 0x7F;
  return false;
}

// One tight loop per pair of field types the table uses (F16 alone or
// twice, E8M0, E4M3; a new pair needs its case below, which the unit test
// of every row's fields would show). A switch per block ran at half
// the speed: 5.5 GB/s of blocks on one core, warm).
template <ScaleType A, ScaleType B>
int64_t scan(const uint8_t* blk, int64_t nblocks, size_t bytes, const std::array<ScaleField, 2>& f) {
  const uint8_t *a = blk + f[0].offset, *b = blk + f[1].offset;
  for (int64_t i = 0; i < nblocks; ++i, a += bytes, b += bytes)
    if (bad_scale<A>(a) || bad_scale<B>(b)) return i;
  return -1;
}

}  // namespace

int64_t first_bad_scale(FormatId id, const void* data, int64_t nblocks) {
  const FormatTraits& t = traits(id);
  const uint8_t* blk = static_cast<const uint8_t*>(data);
  const std::array<ScaleField, 2>& f = t.scales;
  using S = ScaleType;
  switch (f[0].type) {
    case S::F16:
      return f[1].type == S::F16 ? scan<S::F16, S::F16>(blk, nblocks, t.block_bytes, f)
                                 : scan<S::F16, S::None>(blk, nblocks, t.block_bytes, f);
    case S::E8M0: return scan<S::E8M0, S::None>(blk, nblocks, t.block_bytes, f);
    case S::E4M3: return scan<S::E4M3, S::None>(blk, nblocks, t.block_bytes, f);
    case S::None: return -1;
  }
  return -1;
}

Status check_row(FormatId id, int64_t n, const char* what) {
  const FormatTraits& t = traits(id);
  if (n <= 0 || (!t.pads_rows && n % t.block_size != 0)) {
    return Status::Error(strfmt("%s: format %s needs a row length that is a positive multiple of its block size %lld, "
                                "but the row has %lld elements",
                                what, t.name, static_cast<long long>(t.block_size), static_cast<long long>(n)));
  }
  return Status::Ok();
}

TensorView matrix_view(FormatId id, int64_t rows, int64_t cols, const void* data, float scale, int64_t row_stride) {
  TensorView v;
  v.format = id;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.stride[0] = row_stride > 0 ? row_stride : int64_t(row_bytes(id, cols));
  v.stride[1] = traits(id).block_size == 1 ? int64_t(row_bytes(id, 1)) : 0;  // unused for blocked formats
  v.data = const_cast<void*>(data);
  v.scale = scale;
  return v;
}

}  // namespace nb::formats
