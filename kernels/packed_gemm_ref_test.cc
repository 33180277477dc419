// PackedGemmRef against a naive double-precision y = x * Dequantize(W)^T (+ epilogue).
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_test_util.h"

namespace quantbench {
namespace {

// What the int8 path multiplies: s * q with s, q as packed_gemm.h defines them (recomputed
// here independently of the kernel library).
std::vector<double> DequantizedInt8Row(const float* x, int64_t cols) {
  float amax = 0.0f;
  for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float s = amax / 127.0f;
  std::vector<double> v(static_cast<size_t>(cols), 0.0);
  if (s == 0.0f) return v;
  for (int64_t k = 0; k < cols; ++k) {
    const float q = std::min(127.0f, std::max(-127.0f, std::round(x[k] / s)));
    v[k] = static_cast<double>(s) * q;
  }
  return v;
}

struct EpilogueData {
  std::vector<float> scale, shift, residual;
};

void CheckAgainstDouble(const FormatCase& c, int64_t rows, int64_t cols, int64_t m,
                        GemmActivations act, GemmPostOp post, bool with_epilogue,
                        std::mt19937& rng) {
  SCOPED_TRACE(::testing::Message() << CaseName(c) << " " << rows << "x" << cols << " m=" << m
                                    << (act == GemmActivations::kInt8 ? " int8" : " fp32")
                                    << " epilogue=" << with_epilogue);
  const PackedMatrix w = RandomPacked(c, rows, cols, rng);
  const std::vector<float> wf = Dequantize(w);
  const int64_t x_stride = cols + 3, y_stride = rows + 5, res_stride = rows + 2;
  const std::vector<float> x = RandomActivations(m, x_stride, cols, rng);
  EpilogueData e;
  GemmArgs args;
  args.x = x.data();
  args.x_stride = x_stride;
  args.m = m;
  std::vector<float> y(static_cast<size_t>(m * y_stride), -1.0f);
  args.y = y.data();
  args.y_stride = y_stride;
  args.activations = act;
  if (with_epilogue) {
    e.scale = RandomVector(rows, -1.5f, 1.5f, rng);
    e.shift = RandomVector(rows, -1.0f, 1.0f, rng);
    e.residual = RandomVector(m * res_stride, -1.0f, 1.0f, rng);
    args.epilogue.out_scale = e.scale;
    args.epilogue.out_shift = e.shift;
    args.epilogue.residual = e.residual.data();
    args.epilogue.residual_stride = res_stride;
  }
  args.epilogue.post_op = post;
  ASSERT_TRUE(PackedGemmRef(w, args).ok());
  for (int64_t i = 0; i < m; ++i) {
    std::vector<double> xv(static_cast<size_t>(cols));
    if (act == GemmActivations::kInt8) {
      xv = DequantizedInt8Row(x.data() + i * x_stride, cols);
    } else {
      for (int64_t k = 0; k < cols; ++k) xv[k] = x[i * x_stride + k];
    }
    for (int64_t r = 0; r < rows; ++r) {
      double want = 0.0, magnitude = 0.0;
      for (int64_t k = 0; k < cols; ++k) {
        want += xv[k] * wf[r * cols + k];
        magnitude += std::fabs(xv[k] * wf[r * cols + k]);
      }
      if (with_epilogue) {
        want = want * e.scale[r] + e.shift[r] + e.residual[i * res_stride + r];
        magnitude = magnitude * std::fabs(e.scale[r]) + 2.0;
      }
      if (post != GemmPostOp::kNone) want = std::max(want, 0.0);
      if (post == GemmPostOp::kRelu6) want = std::min(want, 6.0);
      // float accumulation of cols terms: error well under 1e-5 of sum |terms| here.
      ASSERT_NEAR(y[i * y_stride + r], want, 1e-5 * magnitude + 1e-6) << "m=" << i << " r=" << r;
    }
    // Padding between rows of y is never written.
    for (int64_t r = rows; r < y_stride; ++r) ASSERT_EQ(y[i * y_stride + r], -1.0f);
  }
}

TEST(PackedGemmRefTest, MatchesDoublePrecisionOnRandomShapes) {
  std::mt19937 rng(11);
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 2}, {17, 33, 3}, {20, 100, 1}, {33, 65, 4}};
  for (const FormatCase& c : AllFormatCases()) {
    for (const auto& s : shapes) {
      for (GemmActivations act : {GemmActivations::kFloat, GemmActivations::kInt8}) {
        CheckAgainstDouble(c, s[0], s[1], s[2], act, GemmPostOp::kNone, false, rng);
        CheckAgainstDouble(c, s[0], s[1], s[2], act, GemmPostOp::kRelu, true, rng);
        CheckAgainstDouble(c, s[0], s[1], s[2], act, GemmPostOp::kRelu6, true, rng);
      }
    }
  }
}

TEST(PackedGemmRefTest, ZeroRowsIsANoOp) {
  std::mt19937 rng(12);
  const PackedMatrix w = RandomPacked(AllFormatCases()[0], 4, 4, rng);
  GemmArgs args;  // m = 0, null pointers allowed
  EXPECT_TRUE(PackedGemmRef(w, args).ok());
}

}  // namespace
}  // namespace quantbench
