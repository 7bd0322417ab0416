// I8_ROW: per-row int8, e.g. per-token activations. A row of n elements is an
// fp32 scale followed by n int8 codes (4 + n bytes, so block_size 1,
// block_bytes 1, row_overhead 4). x = scale * q.
// The codecs and the dot take exactly one row: n is the row length.
// The scale is read and written with memcpy: rows of 4 + n bytes packed one
// after another leave most scales unaligned.
#include <cmath>
#include <cstring>

#include "formats/rows.h"

namespace nb::formats {
namespace {

float row_scale(const void* row) {
  float s;
  std::memcpy(&s, row, sizeof s);
  return s;
}
const int8_t* row_codes(const void* row) { return static_cast<const int8_t*>(row) + sizeof(float); }

void i8_row_to_float(const void* src, float* dst, int64_t n) {
  const float s = row_scale(src);
  const int8_t* q = row_codes(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = s * float(q[i]);
}

// scale = max|x| / 127; q = round-half-to-even(x * (127 / max|x|)), which
// lies in [-127, 127]. An all-zero row gets scale 0 and zero codes.
void i8_row_from_float(const float* src, void* dst, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(src[i]));
  const float scale = amax / 127.0f;
  const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
  std::memcpy(dst, &scale, sizeof scale);
  int8_t* q = static_cast<int8_t*>(dst) + sizeof(float);
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyintf(src[i] * iscale);  // default rounding mode: half to even
    q[i] = int8_t(v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v));
  }
}

// Exact int32 sum of products, then both scales. int32 holds n up to
// 2^31 / 127^2 = 133k elements, far beyond any row width we use.
float i8_row_dot(const void* w, const void* a, int64_t n) {
  const int8_t* x = row_codes(w);
  const int8_t* y = row_codes(a);
  int32_t isum = 0;
  for (int64_t i = 0; i < n; ++i) isum += int32_t(x[i]) * int32_t(y[i]);
  return float(isum) * (row_scale(w) * row_scale(a));
}

}  // namespace

FormatTraits rows::i8_row() {
  return {FormatId::I8_ROW,  "i8_row",        -1, 1, 1, sizeof(float), FormatId::I8_ROW, i8_row_to_float, i8_row_from_float,
          i8_row_dot};
}

}  // namespace nb::formats
