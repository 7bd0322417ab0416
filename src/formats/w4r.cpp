// W4R rows (blocks.h): MXFP4, MXFP4_FPQ, NVFP4, INT4-g32 and INT4-g64 rows
// rearranged at load time for the AVX-512 kernels. The reference functions
// put the whole row back in the file's layout and run the file format's own,
// so they give its values and its dot bit for bit.
#include <cstring>
#include <vector>

#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

// G elements per block of `Bytes` bytes, the scale field first (S bytes)
// and then the codes in runs of `Run` elements (blocks.h); chunks in Ord.
template <FormatId File, int G, int Bytes, int S, int Run, W4ROrder Ord>
struct W4R {
  // Element of a chunk held by nibble V of word w (blocks.h), all 128.
  struct Order {
    uint8_t e[4][32];
  };
  static constexpr Order order() {
    Order o{};
    for (int V = 0; V < 4; ++V)
      for (int w = 0; w < 32; ++w) o.e[V][w] = uint8_t(w4r_elem(Ord, V, w));
    return o;
  }
  static constexpr Order kOrder = order();
  static_assert(kW4RChunk % G == 0, "a chunk is whole blocks");

  // The codes of elements e0 .. e0 + 127 of a file row, in element order.
  static void chunk_codes(const uint8_t* in, int64_t e0, uint8_t* c) {
    for (int64_t b = 0; b < kW4RChunk / G; ++b) {
      const uint8_t* q = in + (e0 / G + b) * Bytes + S;
      for (int r = 0; r < G / Run; ++r)
        for (int j = 0; j < Run / 2; ++j) {
          const uint8_t byte = q[r * (Run / 2) + j];
          c[b * G + r * Run + j] = byte & 0xF;
          c[b * G + r * Run + j + Run / 2] = byte >> 4;
        }
    }
  }

  static void rearrange(const void* src, void* dst, int64_t n) {
    const uint8_t* in = static_cast<const uint8_t*>(src);
    uint8_t* out = static_cast<uint8_t*>(dst);
    const int64_t nb = n / G, chunks = n / kW4RChunk;
    for (int64_t b = 0; b < nb; ++b) std::memcpy(out + S * b, in + Bytes * b, S);
    uint8_t* codes = out + S * nb;
    for (int64_t c = 0; c < chunks; ++c) {
      uint8_t e[kW4RChunk];
      chunk_codes(in, kW4RChunk * c, e);
      for (int w = 0; w < 32; ++w) {
        const unsigned word = e[kOrder.e[0][w]] | e[kOrder.e[1][w]] << 4 | e[kOrder.e[2][w]] << 8 |
                              unsigned(e[kOrder.e[3][w]]) << 12;
        codes[64 * c + 2 * w] = uint8_t(word);
        codes[64 * c + 2 * w + 1] = uint8_t(word >> 8);
      }
    }
    for (int64_t b = chunks * kW4RChunk / G, o = 64 * chunks; b < nb; ++b, o += Bytes - S)
      std::memcpy(codes + o, in + Bytes * b + S, Bytes - S);
  }

  // The inverse: the file row of n elements.
  static void restore(const void* src, void* dst, int64_t n) {
    const uint8_t* in = static_cast<const uint8_t*>(src);
    uint8_t* out = static_cast<uint8_t*>(dst);
    const int64_t nb = n / G, chunks = n / kW4RChunk;
    for (int64_t b = 0; b < nb; ++b) std::memcpy(out + Bytes * b, in + S * b, S);
    const uint8_t* codes = in + S * nb;
    for (int64_t c = 0; c < chunks; ++c) {
      uint8_t e[kW4RChunk];
      for (int w = 0; w < 32; ++w) {
        const unsigned word = codes[64 * c + 2 * w] | unsigned(codes[64 * c + 2 * w + 1]) << 8;
        for (int V = 0; V < 4; ++V) e[kOrder.e[V][w]] = uint8_t((word >> (4 * V)) & 0xF);
      }
      for (int64_t b = 0; b < kW4RChunk / G; ++b) {
        uint8_t* q = out + (c * kW4RChunk / G + b) * Bytes + S;
        for (int r = 0; r < G / Run; ++r)
          for (int j = 0; j < Run / 2; ++j)
            q[r * (Run / 2) + j] = uint8_t(e[b * G + r * Run + j] | e[b * G + r * Run + j + Run / 2] << 4);
      }
    }
    for (int64_t b = chunks * kW4RChunk / G, o = 64 * chunks; b < nb; ++b, o += Bytes - S)
      std::memcpy(out + Bytes * b + S, codes + o, Bytes - S);
  }

  // This thread's file row of n elements restored from w.
  static const uint8_t* file_row(const void* w, int64_t n) {
    thread_local std::vector<uint8_t> row;
    row.resize(size_t(n / G * Bytes));
    restore(w, row.data(), n);
    return row.data();
  }
  static void to_float(const void* src, float* dst, int64_t n) { traits(File).to_float(file_row(src, n), dst, n); }
  static void from_float(const float* src, void* dst, int64_t n) {
    std::vector<uint8_t> row(size_t(n / G * Bytes));
    traits(File).from_float(src, row.data(), n);
    rearrange(row.data(), dst, n);
  }
  static float dot(const void* w, const void* a, int64_t n) { return traits(File).dot(file_row(w, n), a, n); }

  // (The table is being built: traits(File) cannot be read here.)
  static FormatTraits row(FormatId id, const char* name, bool tensor_scale = false) {
    FormatTraits t{id, name, -1, G, size_t(Bytes), 0, FormatId::BF16, to_float, from_float, dot};
    t.tensor_scale = tensor_scale;
    t.rearranges = File;
    t.rearrange = rearrange;
    t.aligned_at = [](int64_t n) { return S * (n / G); };
    return t;
  }
};

using Mx = W4R<FormatId::MXFP4, kQKMXFP4, sizeof(BlockMXFP4), 1, 32, W4ROrder::RunPairs>;
using MxFpq = W4R<FormatId::MXFP4_FPQ, kQKMXFP4, sizeof(BlockMXFP4), 1, 32, W4ROrder::RunPairs>;
using Nv = W4R<FormatId::NVFP4, kQKNVFP4, sizeof(BlockNVFP4), 1, 16, W4ROrder::RunPairs>;
using Int4G32 = W4R<FormatId::INT4_G32, 32, sizeof(BlockInt4<32>), 2, 32, W4ROrder::RunPairs>;
using Int4G64 = W4R<FormatId::INT4_G64, 64, sizeof(BlockInt4<64>), 2, 32, W4ROrder::RunPairs>;
static_assert(offsetof(BlockMXFP4, qs) == 1 && offsetof(BlockNVFP4, qs) == 1 && offsetof(BlockInt4<32>, qs) == 2 &&
              offsetof(BlockInt4<64>, qs) == 2, "W4R: each block is its scale field, then its codes");

}  // namespace

FormatTraits rows::mxfp4r() { return Mx::row(FormatId::MXFP4R, "mxfp4r"); }
FormatTraits rows::mxfp4_fpqr() { return MxFpq::row(FormatId::MXFP4_FPQR, "mxfp4_fpqr"); }
FormatTraits rows::nvfp4r() { return Nv::row(FormatId::NVFP4R, "nvfp4r", true); }
FormatTraits rows::int4_g32r() { return Int4G32::row(FormatId::INT4_G32R, "int4_g32r"); }
FormatTraits rows::int4_g64r() { return Int4G64::row(FormatId::INT4_G64R, "int4_g64r"); }

}  // namespace nb::formats
