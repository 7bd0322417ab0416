// F32, F16, BF16: one element per "block"; dots take fp32 activations and
// accumulate in fp32, element by element in order.
#include <cstring>

#include "core/half.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

// Rows may sit at any byte offset (safetensors does not align tensor data),
// so elements are read with memcpy, never through a cast pointer.
inline float load_f32(const void* p, int64_t i) {
  float v;
  std::memcpy(&v, static_cast<const char*>(p) + i * 4, 4);
  return v;
}
inline uint16_t load_u16(const void* p, int64_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const char*>(p) + i * 2, 2);
  return v;
}
inline void store_u16(void* p, int64_t i, uint16_t v) { std::memcpy(static_cast<char*>(p) + i * 2, &v, 2); }

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * sizeof(float)); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * sizeof(float)); }
float f32_dot(const void* w, const void* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += load_f32(w, i) * load_f32(a, i);
  return sum;
}

void f16_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(load_u16(src, i));
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_fp16(src[i]));
}
float f16_dot(const void* w, const void* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_f32(load_u16(w, i)) * load_f32(a, i);
  return sum;
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_at(src, i);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_bf16(src[i]));
}
float bf16_dot(const void* w, const void* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_at(w, i) * load_f32(a, i);
  return sum;
}

}  // namespace

namespace rows {

FormatTraits f32() {
  return {FormatId::F32, "f32", 0, 1, 4, 0, FormatId::F32, f32_to_float, f32_from_float, f32_dot};
}
FormatTraits f16() {
  return {FormatId::F16, "f16", 1, 1, 2, 0, FormatId::F32, f16_to_float, f16_from_float, f16_dot};
}
FormatTraits bf16() {
  return {FormatId::BF16, "bf16", 30, 1, 2, 0, FormatId::F32, bf16_to_float, bf16_from_float, bf16_dot};
}

}  // namespace rows
}  // namespace nb::formats
