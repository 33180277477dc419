#include "kernels/packed_test_util.h"

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace quantbench {

std::vector<FormatCase> AllFormatCases() {
  std::vector<FormatCase> cases;
  for (int bits : {1, 2, 3, 4, 8}) cases.push_back({PackedFormat::kUniform, bits, 1, false});
  cases.push_back({PackedFormat::kTernary, 2, 1, false});
  for (int bits : {1, 2, 3, 4}) {
    cases.push_back({PackedFormat::kCodebook, bits, 1, false});
    cases.push_back({PackedFormat::kCodebook, bits, 1, true});
  }
  for (int planes : {1, 2, 3}) cases.push_back({PackedFormat::kTernaryPlanes, 2, planes, false});
  return cases;
}

std::string CaseName(const FormatCase& c) {
  switch (c.format) {
    case PackedFormat::kUniform:
      return absl::StrCat("uniform", c.bits);
    case PackedFormat::kTernary:
      return "ternary";
    case PackedFormat::kCodebook:
      return absl::StrCat("codebook", c.bits, c.per_row_table ? "_per_row" : "_per_layer");
    case PackedFormat::kTernaryPlanes:
      return absl::StrCat("ternary_planes", c.planes);
  }
  return "unknown";
}

std::vector<float> RandomVector(int64_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = dist(rng);
  return v;
}

namespace {

std::vector<uint8_t> RandomCodes(int64_t n, int bits, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  for (auto& c : codes) c = static_cast<uint8_t>(dist(rng));
  return codes;
}

std::vector<int8_t> RandomTernary(int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(-1, 1);
  std::vector<int8_t> codes(static_cast<size_t>(n));
  for (auto& c : codes) c = static_cast<int8_t>(dist(rng));
  return codes;
}

PackedMatrix OrDie(absl::StatusOr<PackedMatrix> m) {
  if (!m.ok()) {
    std::cerr << "packing a random test matrix failed: " << m.status() << "\n";
    std::abort();
  }
  return *std::move(m);
}

}  // namespace

PackedMatrix RandomPacked(const FormatCase& c, int64_t rows, int64_t cols, std::mt19937& rng) {
  switch (c.format) {
    case PackedFormat::kUniform: {
      std::uniform_int_distribution<int> zp(0, 2 * ((1 << c.bits) - 1));
      std::vector<int32_t> zero_point_x2(static_cast<size_t>(rows));
      for (auto& z : zero_point_x2) z = zp(rng);
      return OrDie(PackUniform(c.bits, rows, cols, RandomCodes(rows * cols, c.bits, rng),
                               RandomVector(rows, 0.01f, 0.5f, rng), zero_point_x2));
    }
    case PackedFormat::kTernary:
      return OrDie(PackTernary(rows, cols, RandomTernary(rows * cols, rng),
                               RandomVector(rows, 0.01f, 0.5f, rng)));
    case PackedFormat::kCodebook:
      return OrDie(PackCodebook(c.bits, rows, cols, RandomCodes(rows * cols, c.bits, rng),
                                RandomVector((c.per_row_table ? rows : 1) * 16, -1.0f, 1.0f, rng),
                                c.per_row_table));
    case PackedFormat::kTernaryPlanes:
      return OrDie(PackTernaryPlanes(c.planes, rows, cols,
                                     RandomTernary(c.planes * rows * cols, rng),
                                     RandomVector(c.planes * rows, 0.01f, 0.5f, rng)));
  }
  std::abort();
}

std::vector<float> RandomActivations(int64_t m, int64_t stride, int64_t cols, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(m * stride), 0.0f);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::uniform_int_distribution<int> kind(0, 9);
  for (int64_t i = 0; i < m; ++i) {
    const int row_kind = kind(rng);
    for (int64_t k = 0; k < cols; ++k) {
      float v = dist(rng);
      if (row_kind == 0) v = 0.0f;  // s = 0: every q must be 0
      if (row_kind == 1) {
        // max |x| = 127 makes s = 1, so halves are exact rounding ties.
        v = k == 0 ? 127.0f : static_cast<float>(static_cast<int>(v * 20.0f)) + 0.5f;
      }
      if (kind(rng) == 0) v = 0.0f;
      x[i * stride + k] = v;
    }
  }
  return x;
}

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

const std::vector<EpilogueCase>& AllEpilogueCases() {
  static const std::vector<EpilogueCase> cases = {
      {false, false, false, GemmPostOp::kNone, "none"},
      {true, false, false, GemmPostOp::kNone, "scale"},
      {false, true, false, GemmPostOp::kNone, "shift"},
      {false, false, true, GemmPostOp::kNone, "residual"},
      {false, false, false, GemmPostOp::kRelu, "relu"},
      {false, false, false, GemmPostOp::kRelu6, "relu6"},
      {true, true, true, GemmPostOp::kRelu6, "all+relu6"},
  };
  return cases;
}

GemmEpilogue MakeEpilogue(const EpilogueCase& e, const std::vector<float>& scale,
                          const std::vector<float>& shift, const std::vector<float>& residual,
                          int64_t residual_stride) {
  GemmEpilogue out;
  if (e.scale) out.out_scale = scale;
  if (e.shift) out.out_shift = shift;
  if (e.residual) {
    out.residual = residual.data();
    out.residual_stride = residual_stride;
  }
  out.post_op = e.post;
  return out;
}

}  // namespace quantbench
