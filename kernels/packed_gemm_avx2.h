// The AVX2 + FMA PackedGemm kernels, for CPUs without the AVX-512 subset of
// packed_gemm_avx512.h. Compiled with -mavx2 -mfma in their own library: call only after
// Avx2KernelsSupported() is true.
#ifndef QUANTBENCH_KERNELS_PACKED_GEMM_AVX2_H_
#define QUANTBENCH_KERNELS_PACKED_GEMM_AVX2_H_

#include "absl/status/status.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

// CPUID (and OS) support for AVX2 and FMA.
bool Avx2KernelsSupported();

// Same contract as PackedGemm; int8 results bit-identical to PackedGemmRef.
absl::Status PackedGemmAvx2(const PackedMatrix& w, const GemmArgs& args);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_GEMM_AVX2_H_
