#include "networks/pack_quantized.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/packed_matrix.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A QuantizedTensor with random codes over the given tables; values follow the tables.
QuantizedTensor WithRandomCodes(const std::vector<int64_t>& shape, int64_t num_tables,
                                int64_t levels, std::vector<float> codebook, std::mt19937* rng) {
  QuantizedTensor q;
  q.num_tables = num_tables;
  q.levels_per_table = levels;
  q.codebook = std::move(codebook);
  const int64_t numel = Numel(shape);
  const int64_t cols = numel / shape[0];
  std::uniform_int_distribution<int32_t> code(0, static_cast<int32_t>(levels - 1));
  q.codes.resize(numel);
  q.values.resize(numel);
  for (int64_t i = 0; i < numel; ++i) {
    q.codes[i] = code(*rng);
    const int64_t table = num_tables == 1 ? 0 : i / cols;
    q.values[i] = q.codebook[table * levels + q.codes[i]];
  }
  return q;
}

// Scales m * 2^-7 with a small integer m: scale * (k - z) is exact in float whatever the
// evaluation order, so "exactly equal" is a fair demand on any Dequantize.
float ExactScale(std::mt19937* rng) {
  return std::ldexp(static_cast<float>(std::uniform_int_distribution<int>(1, 9)(*rng)), -7);
}

QuantizedTensor Uniform(const std::vector<int64_t>& shape, int64_t num_tables, int bits,
                        std::mt19937* rng) {
  const int64_t levels = int64_t{1} << bits;
  std::vector<float> scale(num_tables);
  std::vector<int32_t> zero_x2(num_tables);
  std::vector<float> codebook;
  for (int64_t t = 0; t < num_tables; ++t) {
    scale[t] = ExactScale(rng);
    // Mid-rise (odd: half-integer zero) and mid-tread (even) grids, and an off-centre one.
    zero_x2[t] = static_cast<int32_t>(std::uniform_int_distribution<int64_t>(0, 2 * levels - 1)(*rng));
    for (int64_t k = 0; k < levels; ++k) codebook.push_back(scale[t] * (k - zero_x2[t] * 0.5f));
  }
  QuantizedTensor q = WithRandomCodes(shape, num_tables, levels, codebook, rng);
  q.kind = CodeKind::kUniform;
  q.scale = scale;
  q.zero_point_x2 = zero_x2;
  return q;
}

std::vector<float> Expected(const QuantizedTensor& q, const std::vector<int64_t>& shape,
                            PackColumnOrder order, int64_t row_begin = 0, int64_t row_end = -1) {
  std::vector<float> v = order == PackColumnOrder::kConvTapsMajor ? ConvWeightsToTapsMajor(q.values, shape)
                                                                  : q.values;
  const int64_t cols = Numel(shape) / shape[0];
  if (row_end < 0) row_end = shape[0];
  return std::vector<float>(v.begin() + row_begin * cols, v.begin() + row_end * cols);
}

// Random odd shapes: conv [out, in, kh, kw] or dense [out, in].
std::vector<int64_t> RandomShape(bool conv, std::mt19937* rng) {
  auto dim = [&](int lo, int hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(*rng); };
  if (conv) return {dim(1, 13), dim(1, 11), dim(1, 3) * 2 - 1, dim(1, 3) * 2 - 1};
  return {dim(1, 17), dim(1, 301)};
}

TEST(PackQuantizedTest, UniformPerRowAndPerLayerRoundTripExactlyOnRandomShapes) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 40; ++trial) {
    const bool conv = trial % 2 == 0;
    const std::vector<int64_t> shape = RandomShape(conv, &rng);
    const int bits = std::vector<int>{1, 2, 3, 4, 5, 8}[trial % 6];
    const int64_t tables = trial % 3 == 0 ? 1 : shape[0];
    const QuantizedTensor q = Uniform(shape, tables, bits, &rng);
    const PackColumnOrder order = conv ? PackColumnOrder::kConvTapsMajor : PackColumnOrder::kAsStored;
    absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"w", shape, bits, order});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->format, PackedFormat::kUniform);
    EXPECT_EQ(m->bits, bits == 5 ? 8 : bits) << "5-bit grids use the 8-bit layout";
    EXPECT_EQ(m->rows, shape[0]);
    EXPECT_EQ(Dequantize(*m), Expected(q, shape, order)) << "trial " << trial;
  }
}

TEST(PackQuantizedTest, GroupRowRangePacksOnlyThoseRows) {
  std::mt19937 rng(2);
  const std::vector<int64_t> shape = {12, 5, 3, 3};  // 3 groups of 4 output channels
  const QuantizedTensor q = Uniform(shape, 12, 4, &rng);
  for (int g = 0; g < 3; ++g) {
    absl::StatusOr<PackedMatrix> m =
        PackQuantizedRows(q, {"w", shape, 4, PackColumnOrder::kConvTapsMajor, g * 4, g * 4 + 4});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->rows, 4);
    EXPECT_EQ(m->cols, 45);
    EXPECT_EQ(Dequantize(*m), Expected(q, shape, PackColumnOrder::kConvTapsMajor, g * 4, g * 4 + 4));
  }
}

TEST(PackQuantizedTest, TernaryPerRowAndPerLayer) {
  std::mt19937 rng(3);
  for (int64_t tables : {1, 7}) {
    const std::vector<int64_t> shape = {7, 3, 3, 3};
    std::vector<float> codebook;
    for (int64_t t = 0; t < tables; ++t) {
      const float a = ExactScale(&rng);
      codebook.insert(codebook.end(), {-a, 0.0f, a});
    }
    QuantizedTensor q = WithRandomCodes(shape, tables, 3, codebook, &rng);
    q.kind = CodeKind::kTernary;
    absl::StatusOr<PackedMatrix> m =
        PackQuantizedRows(q, {"t", shape, 2, PackColumnOrder::kConvTapsMajor});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->format, PackedFormat::kTernary);
    EXPECT_EQ(Dequantize(*m), Expected(q, shape, PackColumnOrder::kConvTapsMajor));
  }
}

TEST(PackQuantizedTest, TernaryPlanesSplitBaseThreeCodes) {
  std::mt19937 rng(4);
  const std::vector<int64_t> shape = {5, 29};
  const int planes = 2;
  const int64_t tables = 5;
  std::vector<float> plane_scale(planes * tables);
  for (float& s : plane_scale) s = ExactScale(&rng);
  std::vector<float> codebook;
  for (int64_t t = 0; t < tables; ++t) {
    for (int k = 0; k < 9; ++k) {
      const int t0 = k % 3 - 1, t1 = k / 3 - 1;
      codebook.push_back(plane_scale[t] * t0 + plane_scale[tables + t] * t1);
    }
  }
  QuantizedTensor q = WithRandomCodes(shape, tables, 9, codebook, &rng);
  q.kind = CodeKind::kTernaryPlanes;
  q.ternary_planes = planes;
  q.plane_scale = plane_scale;
  absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"tp", shape, 4});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->format, PackedFormat::kTernaryPlanes);
  EXPECT_EQ(m->planes, 2);
  EXPECT_EQ(Dequantize(*m), q.values);
}

TEST(PackQuantizedTest, CodebookUpToSixteenArbitraryLevels) {
  std::mt19937 rng(5);
  std::normal_distribution<float> level(0.0f, 1.0f);
  for (int trial = 0; trial < 12; ++trial) {
    const bool conv = trial % 2 == 1;
    const std::vector<int64_t> shape = RandomShape(conv, &rng);
    const int64_t levels = std::vector<int64_t>{2, 3, 5, 8, 13, 16}[trial % 6];
    const int64_t tables = trial % 4 < 2 ? 1 : shape[0];
    std::vector<float> codebook(tables * levels);
    for (float& e : codebook) e = level(rng);
    const QuantizedTensor q = WithRandomCodes(shape, tables, levels, codebook, &rng);
    const PackColumnOrder order = conv ? PackColumnOrder::kConvTapsMajor : PackColumnOrder::kAsStored;
    absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"cb", shape, 4, order});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->format, PackedFormat::kCodebook);
    EXPECT_EQ(m->per_row_table, tables > 1);
    EXPECT_EQ(m->bits, static_cast<int>(std::ceil(std::log2(static_cast<double>(levels)))));
    EXPECT_EQ(Dequantize(*m), Expected(q, shape, order)) << "trial " << trial;
  }
}

TEST(PackQuantizedTest, LargeAffineCodebookPacksAsUniform) {
  std::mt19937 rng(6);
  const std::vector<int64_t> shape = {6, 40};
  // A 6-bit linear quantizer that left kind = kCodebook: 63 levels, mid-tread.
  std::vector<float> codebook;
  for (int t = 0; t < 6; ++t) {
    const float s = ExactScale(&rng);
    for (int k = 0; k < 63; ++k) codebook.push_back(s * static_cast<float>(k - 31));
  }
  const QuantizedTensor q = WithRandomCodes(shape, 6, 63, codebook, &rng);
  absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"lin6", shape, 6});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->format, PackedFormat::kUniform);
  EXPECT_EQ(m->bits, 8);
  EXPECT_EQ(Dequantize(*m), q.values);
}

TEST(PackQuantizedTest, LargeNonUniformCodebookIsUnimplementedAndNamesTheParameter) {
  std::mt19937 rng(7);
  std::vector<float> codebook;
  for (int k = 0; k < 31; ++k) codebook.push_back(std::ldexp(1.0f, k / 2) * (k % 2 ? 1 : -1));
  const QuantizedTensor q = WithRandomCodes({4, 10}, 1, 31, codebook, &rng);
  absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"layer3.conv.weight", {4, 10}, 5});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("layer3.conv.weight"), std::string::npos) << m.status();
}

TEST(PackQuantizedTest, InconsistentTensorsAreInvalidArguments) {
  std::mt19937 rng(8);
  const std::vector<int64_t> shape = {3, 8};
  const QuantizedTensor good = Uniform(shape, 3, 3, &rng);
  ASSERT_TRUE(PackQuantizedRows(good, {"w", shape, 3}).ok());

  auto expect_invalid = [&](const QuantizedTensor& q, const std::vector<int64_t>& s, int bits,
                            const std::string& what) {
    absl::StatusOr<PackedMatrix> m = PackQuantizedRows(q, {"fc9.weight", s, bits});
    ASSERT_FALSE(m.ok()) << what;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_NE(m.status().message().find("fc9.weight"), std::string::npos) << m.status();
  };
  expect_invalid(good, {3, 9}, 3, "shape does not match the codes");
  expect_invalid(good, shape, 2, "8 levels do not fit in 2 bits");
  QuantizedTensor bad_code = good;
  bad_code.codes[5] = 8;
  expect_invalid(bad_code, shape, 3, "code outside the table");
  QuantizedTensor bad_scale = good;
  bad_scale.scale[1] *= 2.0f;
  expect_invalid(bad_scale, shape, 3, "scale does not describe the codebook");
  QuantizedTensor bad_tables = good;
  bad_tables.num_tables = 2;
  expect_invalid(bad_tables, shape, 3, "num_tables neither 1 nor rows");
  QuantizedTensor bad_ternary = good;
  bad_ternary.kind = CodeKind::kTernary;
  expect_invalid(bad_ternary, shape, 3, "kTernary with 8 levels");
}

TEST(PackQuantizedTest, ConvWeightsToTapsMajorMovesChannelsInnermost) {
  // [out=1, in=2, kh=1, kw=2]: stored (c0x0, c0x1, c1x0, c1x1) -> taps-major (c0x0, c1x0, c0x1, c1x1).
  EXPECT_EQ(ConvWeightsToTapsMajor({1, 2, 3, 4}, {1, 2, 1, 2}), (std::vector<float>{1, 3, 2, 4}));
}

}  // namespace
}  // namespace quantbench
