// Owning, aligned, device-tagged memory, zero-filled. CPU buffers are 64-byte
// aligned so AVX-512 loads of repacked weights never split cache lines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

namespace nb {

enum class Device : uint8_t { CPU = 0, CUDA = 1 };

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes, Device device = Device::CPU);
  ~Buffer();
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T> T* as() { return static_cast<T*>(data_); }
  template <class T> const T* as() const { return static_cast<const T*>(data_); }
  size_t size() const { return size_; }
  Device device() const { return device_; }
  bool empty() const { return size_ == 0; }

 private:
  void release();

  void* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // from mmap (large buffers), else aligned_alloc
  Device device_ = Device::CPU;
};

}  // namespace nb
