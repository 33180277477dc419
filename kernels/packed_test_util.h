// Test helpers: every packed format / bit width as a case, random matrices and activations.
#ifndef QUANTBENCH_KERNELS_PACKED_TEST_UTIL_H_
#define QUANTBENCH_KERNELS_PACKED_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

struct FormatCase {
  PackedFormat format;
  int bits;            // code bits (2 for the ternary formats)
  int planes;          // kTernaryPlanes only
  bool per_row_table;  // kCodebook only
};

// Uniform 1/2/3/4/8, ternary, codebook 1..4 per layer and per row, ternary planes 1..3.
std::vector<FormatCase> AllFormatCases();
std::string CaseName(const FormatCase& c);

// A random matrix of the case's format; aborts the test binary if packing fails.
PackedMatrix RandomPacked(const FormatCase& c, int64_t rows, int64_t cols, std::mt19937& rng);

// Activations in [-3, 3] with some exact zeros and, in some rows, all zeros (s = 0) or
// values that land exactly on rounding ties after int8 quantization.
std::vector<float> RandomActivations(int64_t m, int64_t stride, int64_t cols, std::mt19937& rng);

std::vector<float> RandomVector(int64_t n, float lo, float hi, std::mt19937& rng);

// A float's bit pattern: bit-exact comparisons (-0 vs +0, NaN payloads).
uint32_t FloatBits(float f);

// Which epilogue pieces a conformance run uses, and the epilogue it makes of given spans.
struct EpilogueCase {
  bool scale, shift, residual;
  GemmPostOp post;
  const char* name;
};
// none, scale, shift, residual, relu, relu6, all+relu6 (the last one: every piece).
const std::vector<EpilogueCase>& AllEpilogueCases();
GemmEpilogue MakeEpilogue(const EpilogueCase& e, const std::vector<float>& scale,
                          const std::vector<float>& shift, const std::vector<float>& residual,
                          int64_t residual_stride);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_TEST_UTIL_H_
