#include "kernels/cpu/cpu_kernels.h"

namespace nb::kernels {

void register_avx2(KernelTable& t) { (void)t; }

}  // namespace nb::kernels
