// Helpers for the io/ tests: building hostile files byte by byte and checking
// that a load failed with a message that names the file.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/model_file.h"

namespace nb::io::testing {

// Little-endian byte builder.
struct Bytes {
  std::vector<uint8_t> b;
  template <class T>
  Bytes& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {  // GGUF string: u64 length + bytes
    put<uint64_t>(s.size());
    return raw(s);
  }
  Bytes& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  size_t size() const { return b.size(); }
};

inline void write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), std::streamsize(n));
}
inline void write_file(const std::string& path, const std::vector<uint8_t>& b) { write_file(path, b.data(), b.size()); }
inline void write_file(const std::string& path, const std::string& s) { write_file(path, s.data(), s.size()); }

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// The load failed, and its message names `file` and contains `part`.
template <class T>
::testing::AssertionResult FailsWith(const Result<T>& r, const std::string& file, const std::string& part = "") {
  if (r.ok()) return ::testing::AssertionFailure() << "expected an error naming " << file << ", but it loaded";
  const std::string& m = r.status().message();
  if (m.find(file) == std::string::npos)
    return ::testing::AssertionFailure() << "message does not name " << file << ": " << m;
  if (!part.empty() && m.find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "message lacks '" << part << "': " << m;
  return ::testing::AssertionSuccess() << m;
}

}  // namespace nb::io::testing
