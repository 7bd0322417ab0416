// Invariants every parser fuzz target checks on a result: a failure names the
// input, and a success hands out views that lie inside the input.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/model_file.h"

namespace nb::fuzz {

[[noreturn]] inline void fail(const char* why, const std::string& detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s: %s\n", why, detail.c_str());
  std::abort();
}

inline void check_error(const Status& st, const std::string& name) {
  if (st.message().rfind(name + ":", 0) != 0) fail("error does not start with the file name", st.message());
}

inline void check_model(const io::ModelFile& m, const uint8_t* data, size_t size) {
  for (const io::TensorInfo& t : m.tensors) {
    const uint8_t* p = static_cast<const uint8_t*>(t.view.data);
    if (t.bytes == 0) continue;
    if (p < data || p > data + size || t.bytes > size_t(data + size - p)) fail("tensor outside the input", t.name);
    if (t.view.ndim >= 2 && uint64_t(t.view.stride[0]) * uint64_t(t.view.shape[0]) != t.bytes)
      fail("strides do not cover the tensor", t.name);
    // Touch both ends so ASan checks the range too.
    volatile uint8_t sink = p[0] ^ p[t.bytes - 1];
    (void)sink;
    // require() reads the block scales of quantized tensors (corrupt ones are
    // an error naming the file).
    Status st = Status::Ok();
    switch (t.view.ndim) {
      case 1: st = m.require(t.name, {-1}).status(); break;
      case 2: st = m.require(t.name, {-1, -1}).status(); break;
      case 3: st = m.require(t.name, {-1, -1, -1}).status(); break;
      case 4: st = m.require(t.name, {-1, -1, -1, -1}).status(); break;
      default: break;
    }
    if (!st.ok()) check_error(st, t.file);
  }
  if (!m.tensors.empty() && m.find(m.tensors.back().name) != &m.tensors.back())
    fail("find() does not return the tensor", m.tensors.back().name);
}

}  // namespace nb::fuzz
