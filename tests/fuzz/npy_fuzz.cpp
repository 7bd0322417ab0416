// libFuzzer target: the .npy reader (io/npy_read.h) on arbitrary bytes must
// return a clean error naming the input, or an array whose bytes are exactly
// its shape times its element size; never crash.
#include "fuzz_check.h"
#include "io/npy_read.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.npy";
  auto r = nb::io::parse_npy(data, size, kName);
  if (!r.ok()) {
    nb::fuzz::check_error(r.status(), kName);
    return 0;
  }
  const nb::io::NpyArray& a = r.value();
  const size_t elem = a.dtype == nb::io::NpyDType::F64 || a.dtype == nb::io::NpyDType::I64 ? 8
                      : a.dtype == nb::io::NpyDType::F32 || a.dtype == nb::io::NpyDType::I32 ? 4
                                                                                              : 1;
  if (a.numel() < 0 || a.bytes.size() != size_t(a.numel()) * elem)
    nb::fuzz::fail("bytes do not match the shape", std::to_string(a.bytes.size()));
  return 0;
}
