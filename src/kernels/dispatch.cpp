// Chooses the kernel table once: the reference table, overwritten entry by
// entry by each ISA level the CPU supports (AVX2, then AVX-512 on top).
// NIBBLE_ISA=scalar|avx2|avx512 forces a level; select_isa() does the same for
// tests and benchmarks. Tables are built lazily and never freed, so references
// returned by active_table() stay valid across select_isa() calls.
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "core/membw.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/dispatch.h"

namespace nb::kernels {
namespace {

struct Level {
  const char* name;  // for NIBBLE_ISA and select_isa()
  const char* isa;   // KernelTable::isa and matmul_isa[] entries
  bool (*supported)();
  void (*add)(KernelTable&);  // nullptr for the reference level
};

bool has_scalar() { return true; }
// Features come from CPUID + XGETBV (core/membw), so a feature counts only
// when the OS also saves its registers.
bool has_avx2() {
  CpuFeatures f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}
bool has_avx512() {
  CpuFeatures f = cpu_features();
  return has_avx2() && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
}

// A level's entries: its main kernel file, then the weight-only 4-bit formats.
void add_avx2(KernelTable& t) {
  register_avx2(t);
  register_fp4_avx2(t);
}
void add_avx512(KernelTable& t) {
  register_avx512(t);
  register_fp4_avx512(t);
}

// Ordered worst to best; each level's table includes every level below it.
constexpr std::array<Level, 3> kLevels = {{
    {"scalar", "scalar", has_scalar, nullptr},
    {"avx2", "avx2", has_avx2, add_avx2},
    {"avx512", "avx512-vnni", has_avx512, add_avx512},
}};

int find_level(const std::string& name) {
  for (size_t i = 0; i < kLevels.size(); ++i)
    if (name == kLevels[i].name || name == kLevels[i].isa) return int(i);
  return -1;
}

int best_level() {
  int best = 0;
  for (size_t i = 0; i < kLevels.size(); ++i)
    if (kLevels[i].supported()) best = int(i);
  return best;
}

// Apply one level on top of `t`, recording which matmul (or matmul_scaled)
// entries it replaced.
void apply(KernelTable& t, const Level& level) {
  KernelTable before = t;
  level.add(t);
  for (size_t f = 0; f < size_t(FormatId::kCount); ++f)
    if (t.matmul[f] != before.matmul[f] || t.matmul_scaled[f] != before.matmul_scaled[f]) t.matmul_isa[f] = level.isa;
  t.isa = level.isa;
}

const KernelTable& table_for(int level) {
  static std::array<std::optional<KernelTable>, kLevels.size()> tables;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!tables[size_t(level)]) {
    KernelTable t = reference_table();
    for (int i = 1; i <= level; ++i) apply(t, kLevels[size_t(i)]);
    tables[size_t(level)] = std::move(t);
  }
  return *tables[size_t(level)];
}

int initial_level() {
  const int best = best_level();
  const char* env = std::getenv("NIBBLE_ISA");
  if (env == nullptr || *env == '\0') return best;
  const int want = find_level(env);
  if (want < 0) {
    std::fprintf(stderr, "nibble: NIBBLE_ISA=%s is not one of scalar, avx2, avx512; using %s\n", env,
                 kLevels[size_t(best)].name);
    return best;
  }
  if (!kLevels[size_t(want)].supported()) {
    std::fprintf(stderr, "nibble: NIBBLE_ISA=%s is not supported by this CPU; using %s\n", env,
                 kLevels[size_t(best)].name);
    return best;
  }
  return want;
}

std::atomic<const KernelTable*>& active_slot() {
  static std::atomic<const KernelTable*> slot{&table_for(initial_level())};
  return slot;
}

}  // namespace

const KernelTable& active_table() { return *active_slot().load(std::memory_order_acquire); }

bool select_isa(const std::string& isa) {
  const int level = find_level(isa);
  if (level < 0 || !kLevels[size_t(level)].supported()) return false;
  active_slot().store(&table_for(level), std::memory_order_release);
  return true;
}

std::string available_isas() {
  std::string out;
  for (const Level& level : kLevels) {
    if (!level.supported()) continue;
    if (!out.empty()) out += ' ';
    out += level.name;
  }
  return out;
}

}  // namespace nb::kernels
