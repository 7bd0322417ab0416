#include "support/gptq_golden.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/test_support.h"

namespace nb::test::gptq_golden {

io::NpyArray load(const std::string& name) {
  auto a = io::read_npy(data_path(kDir + name));
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? std::move(a).value() : io::NpyArray{};
}

namespace {
template <class T, class Convert>
std::vector<T> typed(const std::string& name, Convert convert) {
  auto v = convert(load(name));
  EXPECT_TRUE(v.ok()) << name << ": " << v.status().message();
  return v.ok() ? std::move(v).value() : std::vector<T>{};
}
}  // namespace

std::vector<float> f32(const std::string& name) { return typed<float>(name, io::npy_as_f32); }
std::vector<uint8_t> u8(const std::string& name) { return typed<uint8_t>(name, io::npy_as_u8); }
std::vector<int32_t> i32(const std::string& name) { return typed<int32_t>(name, io::npy_as_i32); }

std::vector<int8_t> i8(const std::string& name) {
  io::NpyArray a = load(name);
  EXPECT_EQ(a.dtype, io::NpyDType::I8) << name;
  std::vector<int8_t> v(a.bytes.size());
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

}  // namespace nb::test::gptq_golden
