// PackedMatrix: a weight matrix [rows = output channels, cols = inputs] stored as packed
// low-bit codes plus what turns a code back into a value. The formats (bit layouts are
// documented in kernels/README.md):
//
//   kUniform       bits 1, 2, 3, 4 or 8 per code, unsigned code c in [0, 2^bits);
//                  value = scale[r] * (c - zero_point_x2[r] / 2). The zero point is stored
//                  doubled because mid-rise grids (and 1-bit sign x scale: c in {0, 1},
//                  zero_point_x2 = 1) have a half-integer zero; integer paths stay exact by
//                  accumulating 2*sum(q*c) - zero_point_x2 * sum(q).
//   kTernary       value = scale[r] * t, t in {-1, 0, +1}.
//   kCodebook      bits 1..4 per code (<= 16 levels); value = table[t(r) * 16 + c] where
//                  t(r) = r when per_row_table, else 0 (one table for the whole layer).
//   kTernaryPlanes `planes` ternary planes summed (residual expansion):
//                  value = sum_p scale[p * rows + r] * t_p.
//
// Packing takes one code per element in row-major order and never loses information:
// Unpack*(Pack*(codes)) == codes. Rows are padded (the layout is the format's business, see
// kernels/README.md) so kernels can use full-width loads; kernels never let padding
// contribute to a result.
#ifndef QUANTBENCH_KERNELS_PACKED_MATRIX_H_
#define QUANTBENCH_KERNELS_PACKED_MATRIX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

enum class PackedFormat { kUniform, kTernary, kCodebook, kTernaryPlanes };

const char* PackedFormatName(PackedFormat format);

struct PackedMatrix {
  PackedFormat format = PackedFormat::kUniform;
  int bits = 0;    // bits per stored code (kTernary / kTernaryPlanes: 2 per plane)
  int planes = 1;  // kTernaryPlanes: number of ternary planes; 1 otherwise
  int64_t rows = 0;
  int64_t cols = 0;
  // Packed codes; the exact layout (row stride, interleaving) is the format's own business
  // and is described in kernels/README.md. 64-byte aligned.
  std::shared_ptr<uint8_t> data;
  int64_t data_bytes = 0;
  // kUniform: per-row scale and doubled zero point; kTernary: per-row scale;
  // kTernaryPlanes: planes * rows scales (plane-major).
  std::vector<float> scale;
  std::vector<int32_t> zero_point_x2;
  // kCodebook: 16 entries per table (unused entries 0); rows tables if per_row_table else 1.
  std::vector<float> table;
  bool per_row_table = false;

  // Bytes a deployment stores: packed codes without padding + scales/zero points/tables.
  int64_t StorageBytes() const;
};

// codes: rows * cols unsigned codes, each < 2^bits. bits in {1, 2, 3, 4, 8}.
absl::StatusOr<PackedMatrix> PackUniform(int bits, int64_t rows, int64_t cols,
                                         absl::Span<const uint8_t> codes,
                                         absl::Span<const float> scale,
                                         absl::Span<const int32_t> zero_point_x2);
// codes: rows * cols values in {-1, 0, +1}.
absl::StatusOr<PackedMatrix> PackTernary(int64_t rows, int64_t cols,
                                         absl::Span<const int8_t> codes,
                                         absl::Span<const float> scale);
// codes < 2^bits <= 16; table: 16 floats (per layer) or rows * 16 (per row).
absl::StatusOr<PackedMatrix> PackCodebook(int bits, int64_t rows, int64_t cols,
                                          absl::Span<const uint8_t> codes,
                                          absl::Span<const float> table, bool per_row_table);
// codes: planes * rows * cols values in {-1, 0, +1} (plane-major); scale: planes * rows.
absl::StatusOr<PackedMatrix> PackTernaryPlanes(int planes, int64_t rows, int64_t cols,
                                               absl::Span<const int8_t> codes,
                                               absl::Span<const float> scale);

// The inverses, for tests and for tools: one code per element, row-major (plane-major for
// kTernaryPlanes). Unsigned codes for kUniform / kCodebook, {-1, 0, 1} for the ternary ones.
std::vector<uint8_t> UnpackCodes(const PackedMatrix& m);
std::vector<int8_t> UnpackTernaryCodes(const PackedMatrix& m);
// Every weight as a float, row-major: what simulated execution would use.
std::vector<float> Dequantize(const PackedMatrix& m);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_MATRIX_H_
