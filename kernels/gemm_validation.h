// Argument checks shared by every PackedGemm implementation, so the reference and the
// optimized kernels reject exactly the same calls with the same messages.
#ifndef QUANTBENCH_KERNELS_GEMM_VALIDATION_H_
#define QUANTBENCH_KERNELS_GEMM_VALIDATION_H_

#include "absl/status/status.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

// InvalidArgument when `w` is not a well-formed PackedMatrix (wrong bits for its format,
// missing data, scale / zero point / table sizes that do not match rows and planes).
absl::Status ValidatePackedMatrix(const PackedMatrix& w);

// InvalidArgument on null pointers, negative m, strides shorter than a row, epilogue spans
// of the wrong length, or a negative thread count. m == 0 is a valid no-op.
absl::Status ValidateGemmArgs(const PackedMatrix& w, const GemmArgs& args);

// Threads a call may use: args.threads, or every thread OpenMP offers when it is 0.
int ResolveThreads(int requested);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_GEMM_VALIDATION_H_
