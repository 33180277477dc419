#include "kernels/packed_matrix.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

// Odd shapes on purpose: neither rows (block 16) nor cols (super-block 32) are multiples.
const int64_t kShapes[][2] = {{1, 1}, {3, 7}, {17, 33}, {16, 32}, {63, 100}, {65, 511}};

std::vector<uint8_t> RandomCodes(std::mt19937& rng, size_t n, int bits) {
  std::uniform_int_distribution<int> dist(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(n);
  for (auto& c : codes) c = static_cast<uint8_t>(dist(rng));
  return codes;
}

std::vector<int8_t> RandomTernary(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> dist(-1, 1);
  std::vector<int8_t> codes(n);
  for (auto& c : codes) c = static_cast<int8_t>(dist(rng));
  return codes;
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

TEST(PackedMatrixTest, UniformRoundTripAndDequantize) {
  std::mt19937 rng(1);
  for (int bits : {1, 2, 3, 4, 8}) {
    for (const auto& shape : kShapes) {
      const int64_t rows = shape[0], cols = shape[1];
      const auto codes = RandomCodes(rng, rows * cols, bits);
      const auto scale = RandomFloats(rng, rows);
      std::vector<int32_t> zp(rows);
      for (int64_t r = 0; r < rows; ++r) zp[r] = static_cast<int32_t>(r % ((2 << bits) + 1));
      auto m = PackUniform(bits, rows, cols, codes, scale, zp);
      ASSERT_TRUE(m.ok()) << m.status();
      EXPECT_EQ(UnpackCodes(*m), codes) << bits << "-bit " << rows << "x" << cols;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m->data.get()) % 64, 0u);
      const auto w = Dequantize(*m);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < cols; ++k) {
          const float want = scale[r] * (codes[r * cols + k] - zp[r] * 0.5f);
          ASSERT_EQ(w[r * cols + k], want) << r << "," << k;
        }
      }
      EXPECT_EQ(m->StorageBytes(), (rows * cols * bits + 7) / 8 + rows * 8);
    }
  }
}

TEST(PackedMatrixTest, TernaryRoundTripAndDequantize) {
  std::mt19937 rng(2);
  for (const auto& shape : kShapes) {
    const int64_t rows = shape[0], cols = shape[1];
    const auto codes = RandomTernary(rng, rows * cols);
    const auto scale = RandomFloats(rng, rows);
    auto m = PackTernary(rows, cols, codes, scale);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(UnpackTernaryCodes(*m), codes);
    const auto w = Dequantize(*m);
    for (int64_t i = 0; i < rows * cols; ++i) {
      ASSERT_EQ(w[i], scale[i / cols] * static_cast<float>(codes[i]));
    }
  }
}

TEST(PackedMatrixTest, CodebookRoundTripAndDequantize) {
  std::mt19937 rng(3);
  for (int bits : {1, 2, 3, 4}) {
    for (bool per_row : {false, true}) {
      for (const auto& shape : kShapes) {
        const int64_t rows = shape[0], cols = shape[1];
        const auto codes = RandomCodes(rng, rows * cols, bits);
        const auto table = RandomFloats(rng, (per_row ? rows : 1) * 16);
        auto m = PackCodebook(bits, rows, cols, codes, table, per_row);
        ASSERT_TRUE(m.ok()) << m.status();
        EXPECT_EQ(UnpackCodes(*m), codes);
        const auto w = Dequantize(*m);
        for (int64_t i = 0; i < rows * cols; ++i) {
          const int64_t t = per_row ? i / cols : 0;
          ASSERT_EQ(w[i], table[t * 16 + codes[i]]);
        }
        // Entries beyond 2^bits can never be named and are zeroed.
        for (int64_t t = 0; t < (per_row ? rows : 1); ++t) {
          for (int e = 1 << bits; e < 16; ++e) EXPECT_EQ(m->table[t * 16 + e], 0.0f);
        }
      }
    }
  }
}

TEST(PackedMatrixTest, TernaryPlanesRoundTripAndDequantize) {
  std::mt19937 rng(4);
  for (int planes : {1, 2, 3}) {
    for (const auto& shape : kShapes) {
      const int64_t rows = shape[0], cols = shape[1];
      const auto codes = RandomTernary(rng, planes * rows * cols);
      const auto scale = RandomFloats(rng, planes * rows);
      auto m = PackTernaryPlanes(planes, rows, cols, codes, scale);
      ASSERT_TRUE(m.ok()) << m.status();
      EXPECT_EQ(m->planes, planes);
      EXPECT_EQ(UnpackTernaryCodes(*m), codes);
      const auto w = Dequantize(*m);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < cols; ++k) {
          float want = 0.0f;
          for (int p = 0; p < planes; ++p) {
            want += scale[p * rows + r] * codes[(p * rows + r) * cols + k];
          }
          ASSERT_EQ(w[r * cols + k], want);
        }
      }
    }
  }
}

TEST(PackedMatrixTest, RejectsBadInput) {
  const std::vector<uint8_t> codes = {0, 1, 2, 3, 4, 5};
  const std::vector<float> scale = {1.0f, 1.0f};
  const std::vector<int32_t> zp = {0, 0};
  // 4 does not fit in 2 bits.
  auto bad_code = PackUniform(2, 2, 3, codes, scale, zp);
  EXPECT_EQ(bad_code.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_code.status().message().find("row 1, col 1"), absl::string_view::npos)
      << bad_code.status();
  EXPECT_EQ(PackUniform(5, 2, 3, codes, scale, zp).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackUniform(8, 2, 2, codes, scale, zp).status().code(),
            absl::StatusCode::kInvalidArgument);  // 6 codes for a 2 x 2 matrix
  EXPECT_EQ(PackUniform(8, 0, 3, {}, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int8_t> tern = {-1, 0, 2};
  EXPECT_EQ(PackTernary(1, 3, tern, {1.0f}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackTernaryPlanes(2, 1, 3, {-1, 0, 1}, {1.0f, 1.0f}).status().code(),
            absl::StatusCode::kInvalidArgument);  // one plane of codes for two planes
  const std::vector<float> table(16, 1.0f);
  EXPECT_EQ(PackCodebook(5, 2, 3, codes, table, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackCodebook(2, 2, 3, codes, table, false).status().code(),
            absl::StatusCode::kInvalidArgument);  // codes 4, 5 need 3 bits
  EXPECT_EQ(PackCodebook(3, 2, 3, codes, table, true).status().code(),
            absl::StatusCode::kInvalidArgument);  // per-row needs 32 entries
}

}  // namespace
}  // namespace quantbench
