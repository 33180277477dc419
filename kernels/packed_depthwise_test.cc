// PackedDepthwise: the optimized kernel against PackedDepthwiseRef, bit for bit, on odd
// geometries (channels not a multiple of 16, strides, asymmetric kernels, dilation, padding,
// images smaller than the window), every packed format, both activation types, each epilogue
// piece, 1 and 2 threads; and PackedDepthwiseRef against a double-precision direct convolution
// of the dequantized weights.
#include "kernels/packed_depthwise.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/int8_activations.h"
#include "kernels/packed_test_util.h"

namespace quantbench {
namespace {

DepthwiseGeometry Geometry(int channels, int in_h, int in_w, int kh, int kw, int sh, int sw,
                           int pad_t, int pad_l, int dilation) {
  DepthwiseGeometry g;
  g.channels = channels;
  g.in_h = in_h;
  g.in_w = in_w;
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = sh;
  g.stride_w = sw;
  g.pad_t = pad_t;
  g.pad_l = pad_l;
  g.dilation = dilation;
  // Symmetric padding, as the networks have (bottom / right = top / left).
  g.out_h = (in_h + 2 * pad_t - dilation * (kh - 1) - 1) / sh + 1;
  g.out_w = (in_w + 2 * pad_l - dilation * (kw - 1) - 1) / sw + 1;
  return g;
}

struct GeometryCase {
  DepthwiseGeometry g;
  int batch;
};

std::vector<GeometryCase> Geometries() {
  return {
      {Geometry(37, 11, 13, 3, 3, 1, 1, 1, 1, 1), 2},
      {Geometry(19, 9, 8, 3, 3, 2, 2, 1, 1, 1), 3},
      {Geometry(5, 7, 9, 5, 3, 2, 1, 2, 1, 2), 1},
      {Geometry(33, 2, 3, 3, 3, 1, 1, 1, 1, 1), 2},  // image smaller than the window
      {Geometry(1, 6, 5, 3, 3, 1, 2, 0, 1, 1), 2},
      {Geometry(21, 15, 17, 3, 3, 1, 1, 2, 2, 2), 1},  // dilated interior blocks
      {Geometry(24, 13, 19, 3, 3, 2, 2, 1, 1, 1), 1},  // strided interior blocks
      // Large enough for the threaded path (> 2^18 multiply-adds).
      {Geometry(67, 29, 31, 3, 3, 1, 1, 1, 1, 1), 2},
  };
}

DepthwiseWeights RandomWeights(const FormatCase& c, const DepthwiseGeometry& g, std::mt19937& rng) {
  std::vector<PackedMatrix> per_channel;
  for (int ch = 0; ch < g.channels; ++ch) per_channel.push_back(RandomPacked(c, 1, g.taps(), rng));
  absl::StatusOr<DepthwiseWeights> w = DepthwiseWeightsFromPacked(per_channel);
  EXPECT_TRUE(w.ok()) << w.status();
  return *w;
}

int64_t OutCount(const GeometryCase& gc) {
  return static_cast<int64_t>(gc.batch) * gc.g.out_h * gc.g.out_w * gc.g.channels;
}

TEST(PackedDepthwise, OptimizedEqualsRefBitForBit) {
  std::mt19937 rng(7);
  int runs = 0;
  for (const FormatCase& fc : AllFormatCases()) {
    for (const GeometryCase& gc : Geometries()) {
      const DepthwiseGeometry& g = gc.g;
      const DepthwiseWeights w = RandomWeights(fc, g, rng);
      const int64_t in = static_cast<int64_t>(gc.batch) * g.in_h * g.in_w * g.channels;
      const std::vector<float> x = RandomActivations(1, in, in, rng);
      const std::vector<float> scale = RandomVector(g.channels, -2.0f, 2.0f, rng);
      const std::vector<float> shift = RandomVector(g.channels, -1.0f, 1.0f, rng);
      const int64_t res_stride = g.channels + 3;
      const std::vector<float> residual =
          RandomVector(OutCount(gc) / g.channels * res_stride, -3.0f, 3.0f, rng);
      for (GemmActivations acts : {GemmActivations::kFloat, GemmActivations::kInt8}) {
        for (const EpilogueCase& ec : AllEpilogueCases()) {
          DepthwiseArgs a;
          a.x = x.data();
          a.batch = gc.batch;
          a.activations = acts;
          a.epilogue = MakeEpilogue(ec, scale, shift, residual, res_stride);
          std::vector<float> want(OutCount(gc), -99.0f);
          a.y = want.data();
          ASSERT_TRUE(PackedDepthwiseRef(g, w, a).ok());
          for (int threads : {1, 2}) {
            std::vector<float> got(OutCount(gc), -77.0f);
            a.y = got.data();
            a.threads = threads;
            const absl::Status s = PackedDepthwiseWithIsa(KernelIsa::kAvx512, g, w, a);
            if (absl::IsUnimplemented(s)) GTEST_SKIP() << s;
            ASSERT_TRUE(s.ok()) << s;
            for (size_t i = 0; i < got.size(); ++i) {
              ASSERT_EQ(FloatBits(got[i]), FloatBits(want[i]))
                  << CaseName(fc) << " channels " << g.channels << " " << g.in_h << "x" << g.in_w
                  << " k" << g.kernel_h << "x" << g.kernel_w << " acts "
                  << (acts == GemmActivations::kInt8 ? "int8" : "fp32") << " threads " << threads
                  << " at " << i << ": " << got[i] << " vs " << want[i];
            }
            ++runs;
          }
        }
      }
    }
  }
  EXPECT_GT(runs, 0);
}

// The reference's sums against a double-precision direct convolution of Dequantize(weights):
// fp32 activations x, int8 activations q * s (the image's own QuantizeRowInt8Ref codes).
TEST(PackedDepthwise, RefMatchesDirectConvolution) {
  std::mt19937 rng(11);
  for (const FormatCase& fc : AllFormatCases()) {
    for (const GeometryCase& gc : Geometries()) {
      const DepthwiseGeometry& g = gc.g;
      const DepthwiseWeights w = RandomWeights(fc, g, rng);
      const int64_t image = static_cast<int64_t>(g.in_h) * g.in_w * g.channels;
      const std::vector<float> x = RandomActivations(1, gc.batch * image, gc.batch * image, rng);
      for (GemmActivations acts : {GemmActivations::kFloat, GemmActivations::kInt8}) {
        const bool int8 = acts == GemmActivations::kInt8 && w.integer;
        std::vector<float> input = x;  // what the sums see
        if (int8) {
          std::vector<int8_t> q(image);
          for (int n = 0; n < gc.batch; ++n) {
            const float s = QuantizeRowInt8Ref(x.data() + n * image, image, q.data()).scale;
            for (int64_t i = 0; i < image; ++i) input[n * image + i] = q[i] * s;
          }
        }
        DepthwiseArgs a;
        a.x = x.data();
        a.batch = gc.batch;
        a.activations = acts;
        std::vector<float> got(OutCount(gc));
        a.y = got.data();
        ASSERT_TRUE(PackedDepthwiseRef(g, w, a).ok());
        for (int n = 0; n < gc.batch; ++n) {
          for (int oy = 0; oy < g.out_h; ++oy) {
            for (int ox = 0; ox < g.out_w; ++ox) {
              for (int c = 0; c < g.channels; ++c) {
                double sum = 0, magnitude = 0;
                for (int ky = 0; ky < g.kernel_h; ++ky) {
                  for (int kx = 0; kx < g.kernel_w; ++kx) {
                    const int iy = oy * g.stride_h - g.pad_t + ky * g.dilation;
                    const int ix = ox * g.stride_w - g.pad_l + kx * g.dilation;
                    if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                    const double v = static_cast<double>(
                                         input[n * image + (iy * g.in_w + ix) * g.channels + c]) *
                                     w.values[(ky * g.kernel_w + kx) * g.channels + c];
                    sum += v;
                    magnitude += std::fabs(v);
                  }
                }
                const int64_t o = ((static_cast<int64_t>(n) * g.out_h + oy) * g.out_w + ox) *
                                      g.channels + c;
                ASSERT_NEAR(got[o], sum, 1e-5 * magnitude + 1e-6)
                    << CaseName(fc) << " channels " << g.channels << " at " << o;
              }
            }
          }
        }
      }
    }
  }
}

TEST(PackedDepthwise, IntegerFormsAndErrors) {
  std::mt19937 rng(3);
  const DepthwiseGeometry g = Geometry(4, 5, 5, 3, 3, 1, 1, 1, 1, 1);
  EXPECT_TRUE(RandomWeights({PackedFormat::kUniform, 4, 1, false}, g, rng).integer);
  EXPECT_TRUE(RandomWeights({PackedFormat::kTernary, 2, 1, false}, g, rng).integer);
  EXPECT_FALSE(RandomWeights({PackedFormat::kCodebook, 4, 1, true}, g, rng).integer);
  EXPECT_FALSE(RandomWeights({PackedFormat::kTernaryPlanes, 2, 2, false}, g, rng).integer);

  std::vector<PackedMatrix> mixed = {RandomPacked({PackedFormat::kUniform, 4, 1, false}, 1, 9, rng),
                                     RandomPacked({PackedFormat::kTernary, 2, 1, false}, 1, 9, rng)};
  EXPECT_EQ(DepthwiseWeightsFromPacked(mixed).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<PackedMatrix> wrong = {RandomPacked({PackedFormat::kUniform, 4, 1, false}, 2, 9, rng)};
  EXPECT_EQ(DepthwiseWeightsFromPacked(wrong).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DepthwiseWeightsFromPacked({}).status().code(), absl::StatusCode::kInvalidArgument);

  const DepthwiseWeights w = RandomWeights({PackedFormat::kUniform, 4, 1, false}, g, rng);
  std::vector<float> x(5 * 5 * 4, 1.0f), y(5 * 5 * 4);
  DepthwiseArgs a;
  a.x = x.data();
  a.y = y.data();
  a.batch = 1;
  std::vector<float> bad_scale(3, 1.0f);
  a.epilogue.out_scale = bad_scale;
  EXPECT_EQ(PackedDepthwise(g, w, a).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackedDepthwiseRef(g, w, a).code(), absl::StatusCode::kInvalidArgument);
  a.epilogue.out_scale = {};
  DepthwiseGeometry other = g;
  other.kernel_w = 2;
  EXPECT_EQ(PackedDepthwise(other, w, a).code(), absl::StatusCode::kInvalidArgument);
  a.y = nullptr;
  EXPECT_EQ(PackedDepthwise(g, w, a).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
