// PackedGemmRef: the plain scalar definition of what every PackedGemm kernel computes. It
// reads codes one at a time through the layout's scalar accessor and follows the formulas of
// packed_gemm.h literally; optimized kernels are tested against it.
#include <cstdint>
#include <vector>

#include "kernels/gemm_epilogue.h"
#include "kernels/gemm_validation.h"
#include "kernels/int8_activations.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_layout.h"

namespace quantbench {
namespace {

// int32 arithmetic that wraps like the vector instructions instead of being undefined.
int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
int32_t WrapMul(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
}

// Row r's codes as stored (ternary as t + 1), every plane, plane-major.
void ReadRow(const PackedMatrix& w, int64_t r, std::vector<uint8_t>* codes) {
  const int64_t plane_bytes = packed_layout::PlaneBytes(w.bits, w.rows, w.cols);
  codes->resize(static_cast<size_t>(w.planes * w.cols));
  for (int p = 0; p < w.planes; ++p) {
    const uint8_t* plane = w.data.get() + p * plane_bytes;
    for (int64_t k = 0; k < w.cols; ++k) {
      (*codes)[p * w.cols + k] =
          static_cast<uint8_t>(packed_layout::ReadCode(plane, w.bits, w.cols, r, k));
    }
  }
}

// fp32 activations: y = sum_k x[k] * value(r, k), value exactly as Dequantize computes it.
float DotFloat(const PackedMatrix& w, int64_t r, const uint8_t* codes, const float* x) {
  float acc = 0.0f;
  for (int64_t k = 0; k < w.cols; ++k) {
    float value = 0.0f;
    switch (w.format) {
      case PackedFormat::kUniform:
        value = w.scale[r] * (static_cast<float>(codes[k]) - w.zero_point_x2[r] * 0.5f);
        break;
      case PackedFormat::kTernary:
        value = w.scale[r] * static_cast<float>(static_cast<int>(codes[k]) - 1);
        break;
      case PackedFormat::kCodebook:
        value = w.table[(w.per_row_table ? r : 0) * 16 + codes[k]];
        break;
      case PackedFormat::kTernaryPlanes:
        for (int p = 0; p < w.planes; ++p) {
          const int t = static_cast<int>(codes[p * w.cols + k]) - 1;
          value += w.scale[p * w.rows + r] * static_cast<float>(t);
        }
        break;
    }
    acc += x[k] * value;
  }
  return acc;
}

// sum_k q[k] * t[k] over one ternary plane (codes stored as t + 1).
int32_t TernaryDot(const uint8_t* codes, const int8_t* q, int64_t cols) {
  int32_t acc = 0;
  for (int64_t k = 0; k < cols; ++k) acc = WrapAdd(acc, (static_cast<int>(codes[k]) - 1) * q[k]);
  return acc;
}

// int8 activations: the exact integer sums and float combination of packed_gemm.h.
float DotInt8(const PackedMatrix& w, int64_t r, const uint8_t* codes, const int8_t* q,
              const QuantizedRow& row) {
  const float s = row.scale;
  switch (w.format) {
    case PackedFormat::kUniform: {
      int32_t dot = 0;
      for (int64_t k = 0; k < w.cols; ++k) dot = WrapAdd(dot, codes[k] * q[k]);
      const int32_t acc = WrapAdd(WrapMul(2, dot), -WrapMul(w.zero_point_x2[r], row.sum));
      return static_cast<float>(acc) * (s * w.scale[r] * 0.5f);
    }
    case PackedFormat::kTernary:
      return static_cast<float>(TernaryDot(codes, q, w.cols)) * (s * w.scale[r]);
    case PackedFormat::kCodebook: {
      const int levels = 1 << w.bits;
      int32_t level_sum[16] = {0};
      for (int64_t k = 0; k < w.cols; ++k) level_sum[codes[k]] = WrapAdd(level_sum[codes[k]], q[k]);
      const float* table = w.table.data() + (w.per_row_table ? r : 0) * 16;
      float acc = 0.0f;
      for (int l = 0; l < levels; ++l) acc = acc + table[l] * static_cast<float>(level_sum[l]);
      return acc * s;
    }
    case PackedFormat::kTernaryPlanes: {
      float acc = 0.0f;
      for (int p = 0; p < w.planes; ++p) {
        const int32_t dot = TernaryDot(codes + p * w.cols, q, w.cols);
        acc = acc + static_cast<float>(dot) * (s * w.scale[p * w.rows + r]);
      }
      return acc;
    }
  }
  return 0.0f;
}

}  // namespace

absl::Status PackedGemmRef(const PackedMatrix& w, const GemmArgs& args) {
  if (auto s = ValidateGemmArgs(w, args); !s.ok()) return s;
  if (args.m == 0) return absl::OkStatus();
  const bool int8 = args.activations == GemmActivations::kInt8;
  std::vector<int8_t> q;
  std::vector<QuantizedRow> qrows;
  if (int8) {
    q.resize(static_cast<size_t>(args.m * w.cols));
    qrows.resize(static_cast<size_t>(args.m));
    for (int64_t m = 0; m < args.m; ++m) {
      qrows[m] = QuantizeRowInt8Ref(args.x + m * args.x_stride, w.cols, q.data() + m * w.cols);
    }
  }
  std::vector<uint8_t> codes;
  for (int64_t r = 0; r < w.rows; ++r) {
    ReadRow(w, r, &codes);
    for (int64_t m = 0; m < args.m; ++m) {
      const float y = int8 ? DotInt8(w, r, codes.data(), q.data() + m * w.cols, qrows[m])
                           : DotFloat(w, r, codes.data(), args.x + m * args.x_stride);
      args.y[m * args.y_stride + r] = ApplyEpilogueRef(args.epilogue, m, r, y);
    }
  }
  return absl::OkStatus();
}

}  // namespace quantbench
