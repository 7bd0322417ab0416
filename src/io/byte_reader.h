// A bounds-checked little-endian cursor over bytes in memory. Reads return
// false instead of running past the end; the caller turns that into an error
// that names the file and the field (see truncated()).
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/status.h"

namespace nb::io {

static_assert(std::endian::native == std::endian::little, "io/ assumes a little-endian host");

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, const std::string& file) : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }

  template <class T>
  bool read(T* v) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool read_bytes(uint64_t n, std::string* out) {
    if (n > remaining()) return false;
    out->assign(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return true;
  }
  bool skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += size_t(n);
    return true;
  }

  // "<file>: truncated at byte P: <what> needs N bytes, only R left"
  Status truncated(const std::string& what, uint64_t need) const {
    return Status::Error(strfmt("%s: file ends at byte %zu while reading %s (needs %llu bytes, %zu left)",
                                file_.c_str(), size_, what.c_str(), (unsigned long long)need, remaining()));
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

}  // namespace nb::io
