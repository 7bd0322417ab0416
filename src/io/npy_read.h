// Reader of small .npy files (numpy format 1.0/2.0/3.0): C order, little-endian
// float32/float64/int64/int32/uint8/int8. Used by the quantizer's golden tests
// and by anything that loads calibration arrays; io/npy.h holds the writer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nb::io {

enum class NpyDType { F32, F64, I64, I32, U8, I8 };

struct NpyArray {
  NpyDType dtype = NpyDType::F32;
  std::vector<int64_t> shape;  // () for a scalar
  std::vector<uint8_t> bytes;  // numel() * element size, little-endian
  int64_t numel() const;
};

const char* npy_dtype_name(NpyDType t);
// The array in `size` bytes of a .npy file; errors start with `name`. The
// data must be exactly what the header's shape and dtype call for.
Result<NpyArray> parse_npy(const uint8_t* data, size_t size, const std::string& name);
Result<NpyArray> read_npy(const std::string& path);

// The values of an array whose dtype is exactly the requested one (no conversion).
Result<std::vector<float>> npy_as_f32(const NpyArray& a);
Result<std::vector<double>> npy_as_f64(const NpyArray& a);
Result<std::vector<int64_t>> npy_as_i64(const NpyArray& a);
Result<std::vector<int32_t>> npy_as_i32(const NpyArray& a);
Result<std::vector<uint8_t>> npy_as_u8(const NpyArray& a);
Result<std::vector<int8_t>> npy_as_i8(const NpyArray& a);

}  // namespace nb::io
