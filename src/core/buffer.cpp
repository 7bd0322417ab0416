#include "core/buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace nb {

Buffer::Buffer(size_t bytes, Device device) : size_(bytes), device_(device) {
  if (device != Device::CPU) throw std::bad_alloc();  // CUDA buffers come from kernels/cuda
  if (bytes == 0) return;
  size_t rounded = (bytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, rounded);
}

Buffer::~Buffer() { std::free(data_); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    device_ = o.device_;
  }
  return *this;
}

}  // namespace nb
