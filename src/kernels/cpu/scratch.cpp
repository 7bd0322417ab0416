#include "kernels/cpu/scratch.h"

#include <cstdlib>
#include <new>

namespace nb::kernels::cpu {
namespace {

struct Slot {
  void* p = nullptr;
  size_t n = 0;
  ~Slot() { std::free(p); }
};

}  // namespace

void* scratch(int slot, size_t bytes) {
  static thread_local Slot slots[kScratchSlots];
  Slot& s = slots[slot];
  if (s.n < bytes) {
    std::free(s.p);
    // Grow with headroom so a slowly rising batch size does not reallocate each call.
    size_t n = bytes + bytes / 4 + 4096;
    n = (n + 63) & ~size_t(63);
    s.p = std::aligned_alloc(64, n);
    if (s.p == nullptr) throw std::bad_alloc();
    s.n = n;
  }
  return s.p;
}

}  // namespace nb::kernels::cpu
