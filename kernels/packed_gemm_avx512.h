// The AVX-512 PackedGemm kernels (VNNI int8 dot products, in-register code unpacking, vpermps
// table look-ups). Compiled with AVX-512 flags in their own library: call only after
// Avx512KernelsSupported() is true.
#ifndef QUANTBENCH_KERNELS_PACKED_GEMM_AVX512_H_
#define QUANTBENCH_KERNELS_PACKED_GEMM_AVX512_H_

#include "absl/status/status.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

// CPUID (and OS) support for AVX-512 F, BW, VL, VNNI and VBMI.
bool Avx512KernelsSupported();

// Same contract as PackedGemm; int8 results bit-identical to PackedGemmRef.
absl::Status PackedGemmAvx512(const PackedMatrix& w, const GemmArgs& args);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_GEMM_AVX512_H_
