#include "core/buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace nb {
namespace {

// Large buffers come straight from the kernel: its pages are zero already and
// are faulted in where they are first written. A 600 MB weight copy made at
// load is then written once, by the threads that fill it, instead of zeroed
// first by one thread (that memset was a third of TinyLlama's load time).
constexpr size_t kMapAtLeast = size_t(1) << 21;

}  // namespace

Buffer::Buffer(size_t bytes, Device device) : size_(bytes), device_(device) {
  if (device != Device::CPU) throw std::bad_alloc();  // CUDA buffers come from kernels/cuda
  if (bytes == 0) return;
  if (bytes >= kMapAtLeast) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = p;  // page-aligned, zero-filled
    mapped_ = true;
    return;
  }
  size_t rounded = (bytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, rounded);
}

void Buffer::release() {
  if (mapped_) munmap(data_, size_);
  else std::free(data_);
  data_ = nullptr;
  mapped_ = false;
}

Buffer::~Buffer() { release(); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, false);
    device_ = o.device_;
  }
  return *this;
}

}  // namespace nb
