// Arrays of ../shared/data/gptq-golden (the original GPTQ / FP-Quant outputs),
// read as typed vectors; a missing or mistyped file records a test failure
// and gives an empty vector.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/npy_read.h"

namespace nb::test::gptq_golden {

inline const std::string kDir = "gptq-golden/";

io::NpyArray load(const std::string& name);
std::vector<float> f32(const std::string& name);
std::vector<uint8_t> u8(const std::string& name);
std::vector<int32_t> i32(const std::string& name);
std::vector<int8_t> i8(const std::string& name);  // raw bytes of an int8 array

}  // namespace nb::test::gptq_golden
