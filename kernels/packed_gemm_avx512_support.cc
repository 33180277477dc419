// Compiled for plain x86-64: it runs before anyone knows whether AVX-512 exists.
#include "kernels/packed_gemm_avx512.h"

namespace quantbench {

bool Avx512KernelsSupported() {
  // libgcc also checks that the OS saves the zmm state (XGETBV) before reporting these.
  static const bool supported =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512vbmi");
  return supported;
}

}  // namespace quantbench
