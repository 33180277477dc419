// Conformance: the optimized PackedGemm kernels against PackedGemmRef on random shapes that
// are not multiples of any block (rows 16, columns 32, tiles of 8 activation rows), every
// format and bit width, both activation types, each epilogue piece, 1 and 2 threads.
//   int8 activations: bit-exact (the integer sums are exact and the float steps identical).
//   fp32 activations: |optimized - ref| <= 1e-5 * (|out_scale| * sum_k |x_k w_rk|) + 1e-6, the
//   room a reordered fp32 sum of up to ~1000 terms needs (worst case n * 2^-24 ~ 6e-5; random
//   signs give ~sqrt(n) * 2^-24 ~ 2e-6).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_test_util.h"

namespace quantbench {
namespace {

struct Shape {
  int64_t rows, cols, m;
};

class Conformance {
 public:
  Conformance(const FormatCase& c, Shape s, std::mt19937& rng)
      : c_(c), s_(s), w_(RandomPacked(c, s.rows, s.cols, rng)), wf_(Dequantize(w_)) {
    x_stride_ = s.cols + 5;
    y_stride_ = s.rows + 3;
    res_stride_ = s.rows + 1;
    x_ = RandomActivations(s.m, x_stride_, s.cols, rng);
    // Scales of both signs and some exact zeros exercise -0 and ReLU ties.
    out_scale_ = RandomVector(s.rows, -2.0f, 2.0f, rng);
    out_scale_[0] = 0.0f;
    out_shift_ = RandomVector(s.rows, -1.0f, 1.0f, rng);
    residual_ = RandomVector(s.m * res_stride_, -3.0f, 3.0f, rng);
  }

  void Run(KernelIsa isa, GemmActivations act, const EpilogueCase& e) {
    SCOPED_TRACE(::testing::Message()
                 << CaseName(c_) << " rows=" << s_.rows << " cols=" << s_.cols << " m=" << s_.m
                 << (act == GemmActivations::kInt8 ? " int8" : " fp32") << " epilogue=" << e.name);
    GemmArgs args;
    args.x = x_.data();
    args.x_stride = x_stride_;
    args.m = s_.m;
    args.y_stride = y_stride_;
    args.activations = act;
    args.epilogue = MakeEpilogue(e, out_scale_, out_shift_, residual_, res_stride_);

    std::vector<float> ref(static_cast<size_t>(s_.m * y_stride_), 7.0f);
    args.y = ref.data();
    ASSERT_TRUE(PackedGemmRef(w_, args).ok());
    std::vector<float> got[2];
    for (int threads : {1, 2}) {
      std::vector<float>& y = got[threads - 1];
      y.assign(ref.size(), 7.0f);  // padding between rows must survive
      args.y = y.data();
      args.threads = threads;
      const absl::Status status = PackedGemmWithIsa(isa, w_, args);
      ASSERT_TRUE(status.ok()) << status;
    }
    // Results do not depend on the thread count, on either path.
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(FloatBits(got[0][i]), FloatBits(got[1][i])) << i;
    for (int64_t i = 0; i < s_.m; ++i) {
      for (int64_t r = 0; r < y_stride_; ++r) {
        const size_t at = static_cast<size_t>(i * y_stride_ + r);
        if (r >= s_.rows || act == GemmActivations::kInt8) {
          ASSERT_EQ(FloatBits(got[0][at]), FloatBits(ref[at]))
              << "m=" << i << " r=" << r << " got " << got[0][at] << " ref " << ref[at];
          continue;
        }
        double magnitude = 0.0;
        for (int64_t k = 0; k < s_.cols; ++k) {
          magnitude += std::fabs(static_cast<double>(x_[i * x_stride_ + k]) * wf_[r * s_.cols + k]);
        }
        if (e.scale) magnitude *= std::fabs(out_scale_[r]);
        ASSERT_NEAR(got[0][at], ref[at], 1e-5 * magnitude + 1e-6) << "m=" << i << " r=" << r;
      }
    }
  }

 private:
  FormatCase c_;
  Shape s_;
  PackedMatrix w_;
  std::vector<float> wf_;
  int64_t x_stride_, y_stride_, res_stride_;
  std::vector<float> x_, out_scale_, out_shift_, residual_;
};

bool IsaAvailable(KernelIsa isa) {
  std::mt19937 rng(0);
  const PackedMatrix w = RandomPacked(AllFormatCases()[0], 1, 1, rng);
  float x = 1.0f, y = 0.0f;
  GemmArgs args;
  args.x = &x;
  args.x_stride = 1;
  args.m = 1;
  args.y = &y;
  args.y_stride = 1;
  return PackedGemmWithIsa(isa, w, args).ok();
}

// Every rows / m value of {1, 3, 17, 63, 65, 257} and cols of {1, 7, 33, 100, 511, 1025}
// appears; none is a multiple of 16 rows, 32 columns or 8 activation rows.
const Shape kSmallShapes[] = {{1, 1, 1}, {3, 7, 3}, {17, 33, 17}, {63, 100, 9}, {40, 70, 13}};
// The last two are large enough (>= 2^22 multiply-adds, the int8 panels' threshold) that 2
// threads really run on every path: {170, 1000, 30} (11 row blocks) splits into chunks of row
// blocks, {20, 2000, 80} (2 row blocks) into chunks of activation tiles that quantize their
// own rows; the others cover panel remainders of 1 and 2 row blocks and every tile height.
const Shape kLargeShapes[] = {{65, 511, 65},  {257, 1025, 1},   {17, 100, 257}, {3, 1025, 63},
                              {170, 1000, 30}, {20, 2000, 80}};

// Every optimized path against the reference; a path the CPU lacks is skipped (AVX2 is a
// subset of this machine's AVX-512, so both run here).
class OptimizedIsaTest : public ::testing::TestWithParam<KernelIsa> {
 protected:
  void SetUp() override {
    if (!IsaAvailable(GetParam())) GTEST_SKIP() << "CPU lacks " << KernelIsaName(GetParam());
  }
};

TEST_P(OptimizedIsaTest, MatchesRefOnSmallShapesWithEveryEpilogue) {
  std::mt19937 rng(21);
  for (const FormatCase& c : AllFormatCases()) {
    for (const Shape& s : kSmallShapes) {
      Conformance t(c, s, rng);
      for (GemmActivations act : {GemmActivations::kFloat, GemmActivations::kInt8}) {
        for (const EpilogueCase& e : AllEpilogueCases()) {
          t.Run(GetParam(), act, e);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(OptimizedIsaTest, MatchesRefOnLargeOddShapes) {
  std::mt19937 rng(22);
  for (const FormatCase& c : AllFormatCases()) {
    for (const Shape& s : kLargeShapes) {
      Conformance t(c, s, rng);
      for (GemmActivations act : {GemmActivations::kFloat, GemmActivations::kInt8}) {
        t.Run(GetParam(), act, AllEpilogueCases()[0]);
        t.Run(GetParam(), act, AllEpilogueCases()[6]);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, OptimizedIsaTest,
                         ::testing::Values(KernelIsa::kAvx512, KernelIsa::kAvx2),
                         [](const ::testing::TestParamInfo<KernelIsa>& info) {
                           return std::string(KernelIsaName(info.param));
                         });

// QUANTBENCH_KERNEL_ISA (set by the packed_gemm_*_forced test targets) picks the dispatched
// path when the CPU has it; unset, the best path is active.
TEST(PackedGemmConformanceTest, EnvironmentOverrideSelectsTheIsa) {
  const char* forced = std::getenv("QUANTBENCH_KERNEL_ISA");
  const std::string want = forced == nullptr ? "" : forced;
  if (want == "ref") {
    EXPECT_EQ(ActiveKernelIsa(), KernelIsa::kRef);
  } else if (want == "avx2" && IsaAvailable(KernelIsa::kAvx2)) {
    EXPECT_EQ(ActiveKernelIsa(), KernelIsa::kAvx2);
  } else if (want.empty() || want == "avx512") {
    const KernelIsa best = IsaAvailable(KernelIsa::kAvx512)
                               ? KernelIsa::kAvx512
                               : (IsaAvailable(KernelIsa::kAvx2) ? KernelIsa::kAvx2 : KernelIsa::kRef);
    EXPECT_EQ(ActiveKernelIsa(), best);
  }
}

TEST(PackedGemmConformanceTest, DispatcherRunsTheActiveIsa) {
  std::mt19937 rng(23);
  const FormatCase c = AllFormatCases()[1];
  const PackedMatrix w = RandomPacked(c, 17, 33, rng);
  const std::vector<float> x = RandomActivations(3, 33, 33, rng);
  std::vector<float> a(3 * 17), b(3 * 17);
  GemmArgs args;
  args.x = x.data();
  args.x_stride = 33;
  args.m = 3;
  args.y_stride = 17;
  args.activations = GemmActivations::kInt8;
  args.y = a.data();
  ASSERT_TRUE(PackedGemm(w, args).ok());
  args.y = b.data();
  ASSERT_TRUE(PackedGemmWithIsa(ActiveKernelIsa(), w, args).ok());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(FloatBits(a[i]), FloatBits(b[i]));
}

TEST(PackedGemmConformanceTest, RejectsBadArgumentsOnEveryPath) {
  std::mt19937 rng(24);
  const PackedMatrix w = RandomPacked(AllFormatCases()[3], 5, 9, rng);
  std::vector<float> x(2 * 9, 1.0f), y(2 * 5), scale(4), residual(2 * 5);
  GemmArgs good;
  good.x = x.data();
  good.x_stride = 9;
  good.m = 2;
  good.y = y.data();
  good.y_stride = 5;
  std::vector<GemmArgs> bad(7, good);
  bad[0].x = nullptr;
  bad[1].y = nullptr;
  bad[2].x_stride = 8;
  bad[3].y_stride = 4;
  bad[4].epilogue.out_scale = scale;  // 4 entries for 5 rows
  bad[5].epilogue.residual = residual.data();
  bad[5].epilogue.residual_stride = 3;
  bad[6].m = -1;
  for (KernelIsa isa : {KernelIsa::kRef, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!IsaAvailable(isa)) continue;
    EXPECT_TRUE(PackedGemmWithIsa(isa, w, good).ok());
    for (size_t i = 0; i < bad.size(); ++i) {
      const absl::Status s = PackedGemmWithIsa(isa, w, bad[i]);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << KernelIsaName(isa) << " case " << i;
      EXPECT_FALSE(s.message().empty());
    }
    // A matrix that was never packed.
    EXPECT_EQ(PackedGemmWithIsa(isa, PackedMatrix{}, good).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(PackedGemmConformanceTest, PackingRejectsCodesOutOfRange) {
  const std::vector<uint8_t> codes = {0, 1, 2, 16};
  EXPECT_EQ(PackCodebook(4, 2, 2, codes, std::vector<float>(16), false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackUniform(1, 2, 2, codes, {1.0f, 1.0f}, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackTernaryPlanes(1, 2, 2, {0, 1, -2, 0}, {1.0f, 1.0f}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
