// PackedConv's threading: with several threads a convolution with many output pixels and
// small weights splits its pixels into tiles (im2col + GEMM per thread), otherwise each GEMM
// splits itself. Either way the output must not depend on the thread count: bit for bit with
// int8 activations (exact integer sums) and, because tiles are multiples of the kernels' 8-row
// activation tiles, bit for bit with fp32 activations too. The shapes are chosen to take both
// paths, with odd pixel counts (a last partial tile), groups, padding at the borders (the
// contiguous-window im2col copy and its per-tap fallback) and conv1's 3-channel 7x7 window.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"
#include "networks/packed_conv.h"
#include "networks/test_util.h"

namespace quantbench {
namespace {

// Random 4-bit uniform weights for every group (random codes, scales and zero points).
std::vector<PackedMatrix> RandomGroupWeights(const ConvGeometry& g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<PackedMatrix> out;
  const int64_t rows = g.out_per_group(), cols = g.group_cols();
  for (int grp = 0; grp < g.groups; ++grp) {
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    for (uint8_t& c : codes) c = static_cast<uint8_t>(rng() % 16);
    std::vector<float> scale(static_cast<size_t>(rows));
    std::vector<int32_t> zp2(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      scale[r] = 0.01f + 0.001f * static_cast<float>(rng() % 50);
      zp2[r] = static_cast<int32_t>(rng() % 31);
    }
    absl::StatusOr<PackedMatrix> m = PackUniform(4, rows, cols, codes, scale, zp2);
    EXPECT_TRUE(m.ok()) << m.status();
    out.push_back(std::move(m).value());
  }
  return out;
}

ConvGeometry Geometry(int in_c, int in_hw, int out_c, int kernel, int stride, int pad, int groups) {
  ConvGeometry g;
  g.in_c = in_c;
  g.in_h = g.in_w = in_hw;
  g.out_c = out_c;
  g.kernel_h = g.kernel_w = kernel;
  g.stride_h = g.stride_w = stride;
  g.pad_t = g.pad_l = pad;
  g.groups = groups;
  g.out_h = g.out_w = (in_hw + 2 * pad - kernel) / stride + 1;
  return g;
}

std::vector<float> RunWithThreads(const PackedConv& conv, const std::vector<float>& src,
                                  const float* residual, int batch, const ConvEpilogue& ep,
                                  GemmActivations activations, int threads) {
  const ConvGeometry& g = conv.geometry();
  std::vector<float> dst(static_cast<size_t>(batch) * g.out_h * g.out_w * g.out_c, -7.0f);
  std::vector<float> scratch(static_cast<size_t>(conv.ScratchFloats()));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  const absl::Status s =
      conv.Run(src.data(), residual, dst.data(), batch, ep, activations, scratch.data());
  omp_set_num_threads(saved);
  EXPECT_TRUE(s.ok()) << s;
  return dst;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

struct Case {
  std::string name;
  ConvGeometry geometry;
  int batch;
};

TEST(PackedConvThreadsTest, OutputDoesNotDependOnThreadCount) {
  const std::vector<Case> cases = {
      {"conv1-like 7x7/2 3ch", Geometry(3, 37, 24, 7, 2, 3, 1), 1},
      {"3x3 pad 1, odd pixels", Geometry(19, 23, 35, 3, 1, 1, 1), 1},
      {"3x3/2 two images", Geometry(16, 21, 40, 3, 2, 1, 1), 2},
      {"1x1 no im2col, odd pixels", Geometry(37, 29, 70, 1, 1, 0, 1), 1},
      {"grouped 3x3", Geometry(12, 19, 18, 3, 1, 1, 3), 1},
      {"few pixels, GEMM splits rows", Geometry(64, 5, 300, 3, 1, 1, 1), 1},
  };
  int trial = 0;
  for (const Case& c : cases) {
    ++trial;
    const ConvGeometry& g = c.geometry;
    absl::StatusOr<PackedConv> conv = PackedConv::Create(g, RandomGroupWeights(g, 10 + trial));
    ASSERT_TRUE(conv.ok()) << c.name << ": " << conv.status();
    const size_t out_size = static_cast<size_t>(c.batch) * g.out_h * g.out_w * g.out_c;
    const std::vector<float> src = RandomVector(
        static_cast<size_t>(c.batch) * g.in_h * g.in_w * g.in_c, 20 + trial, -2.0f, 2.0f);
    const std::vector<float> residual = RandomVector(out_size, 30 + trial, -1.0f, 1.0f);
    ConvEpilogue ep;
    ep.out_scale = RandomVector(g.out_c, 40 + trial, 0.5f, 1.5f);
    ep.out_shift = RandomVector(g.out_c, 50 + trial, -0.5f, 0.5f);
    ep.post_op = GemmPostOp::kRelu;
    if (trial % 2 == 0) ep.act_before_residual = GemmPostOp::kRelu6;  // the second-pass path

    for (GemmActivations act : {GemmActivations::kInt8, GemmActivations::kFloat}) {
      const char* act_name = act == GemmActivations::kInt8 ? "int8" : "fp32";
      const std::vector<float> one =
          RunWithThreads(*conv, src, residual.data(), c.batch, ep, act, 1);
      const std::vector<float> two =
          RunWithThreads(*conv, src, residual.data(), c.batch, ep, act, 2);
      for (size_t i = 0; i < out_size; ++i) {
        ASSERT_TRUE(SameBits(one[i], two[i]))
            << c.name << " " << act_name << " element " << i << ": 1 thread " << one[i]
            << ", 2 threads " << two[i];
      }
      if (act == GemmActivations::kFloat) {
        // And the parallel result is the convolution (im2col's window copies included).
        const std::vector<float> want = PackedConvRef(*conv, src, residual.data(), c.batch, ep);
        double magnitude = 1.0;
        for (float v : want) magnitude = std::max(magnitude, static_cast<double>(std::fabs(v)));
        for (size_t i = 0; i < out_size; ++i) {
          ASSERT_NEAR(two[i], want[i], 1e-5 * magnitude) << c.name << " element " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace quantbench
