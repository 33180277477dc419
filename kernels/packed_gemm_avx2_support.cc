// Compiled for plain x86-64: it runs before anyone knows whether AVX2 exists.
#include "kernels/packed_gemm_avx2.h"

namespace quantbench {

bool Avx2KernelsSupported() {
  // libgcc also checks that the OS saves the ymm state (XGETBV) before reporting these.
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
}

}  // namespace quantbench
