// A read-only memory map of a whole file. Everything io/ hands out points
// into one of these; it must outlive the views.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace nb {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True when [offset, offset+len) lies inside the file (overflow-safe).
  bool contains(uint64_t offset, uint64_t len) const { return offset <= size_ && len <= size_ - offset; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Tells the kernel that the mapped pages covering [p, p+n) of a read-only
// file mapping are not needed for now: they leave this process's resident set
// (a later read faults them back in from the file). For one-pass readers such
// as the quantizer, which touch each tensor once. A hint; errors are ignored.
void release_mapped_pages(const void* p, size_t n);

}  // namespace nb
