#include "kernels/amx.h"

#include <atomic>

#include "core/membw.h"

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define NB_HAVE_AMX 1
#endif

namespace nb::kernels {
namespace {

bool tile_state_granted() {
#if NB_HAVE_AMX
  static const bool granted = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
  return granted;
#else
  return false;
#endif
}

std::atomic<bool> g_enabled{true};

}  // namespace

void set_amx_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

bool amx_bf16_ready() {
  static const bool ready = cpu_features().amx_bf16 && tile_state_granted();
  return ready && g_enabled.load(std::memory_order_relaxed);
}

bool amx_int8_ready() {
  static const bool ready = cpu_features().amx_int8 && tile_state_granted();
  return ready && g_enabled.load(std::memory_order_relaxed);
}

}  // namespace nb::kernels
