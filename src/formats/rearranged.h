// Private to formats/: the reference functions of a layout made at load time
// (FormatTraits::rearranges), from its file format's own. Block i of a row is
// put back in the file's layout (BlockAt) and the file format's function runs
// on that one block; a one-block dot is its term exactly (0 + t = t), so the
// dot adds the same terms in the same order and gives the same value.
#pragma once
#include <cstdint>
#include <vector>

namespace nb::formats {

template <class Block, int64_t kBlockSize, Block (*BlockAt)(const uint8_t* row, int64_t nb, int64_t i),
          void (*ToFloat)(const void*, float*, int64_t), void (*FromFloat)(const float*, void*, int64_t),
          float (*Dot)(const void*, const void*, int64_t), void (*Rearrange)(const void*, void*, int64_t),
          class ActBlock>
struct RearrangedRow {
  static void to_float(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kBlockSize; ++i) {
      const Block b = BlockAt(static_cast<const uint8_t*>(src), n / kBlockSize, i);
      ToFloat(&b, dst + i * kBlockSize, kBlockSize);
    }
  }
  static void from_float(const float* src, void* dst, int64_t n) {
    std::vector<Block> blocks(size_t(n / kBlockSize));
    FromFloat(src, blocks.data(), n);
    Rearrange(blocks.data(), dst, n);
  }
  static float dot(const void* w, const void* a, int64_t n) {
    const ActBlock* ab = static_cast<const ActBlock*>(a);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kBlockSize; ++i) {
      const Block b = BlockAt(static_cast<const uint8_t*>(w), n / kBlockSize, i);
      sum += Dot(&b, &ab[i], kBlockSize);
    }
    return sum;
  }
};

}  // namespace nb::formats
