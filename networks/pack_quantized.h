// Turns a quantizer's output (QuantizedTensor) into the kernels' packed weight format
// (kernels/packed_matrix.h), exactly: Dequantize(packed) reproduces QuantizedTensor::values,
// with the columns in the order the network's GEMM reads them.
//
// Format choice, from QuantizedTensor::kind:
//   kUniform       -> PackUniform, per-row scale and doubled zero point (a per-layer table is
//                     broadcast to every row). The scale / zero point must reproduce the
//                     codebook (checked, see PackQuantizedRows).
//   kTernary       -> PackTernary with a = codebook entry 2 per row.
//   kTernaryPlanes -> PackTernaryPlanes, the base-3 codes split into their planes.
//   kCodebook      -> PackCodebook when a table has <= 16 levels (per-row tables when the tensor
//                     has one table per output channel, else one per layer). With more levels
//                     the table must be exactly affine (entry k == scale * (k - z) bit for bit,
//                     e.g. a linear quantizer that has not filled `kind` yet): then it is
//                     packed as kUniform; anything else is Unimplemented (no packed format
//                     holds more than 16 arbitrary levels).
//
// Code width: the smallest width the format supports that holds levels_per_table codes
// (uniform: 1, 2, 3, 4 or 8 bits; codebook: 1..4), not `bits` itself: a 4-bit quantizer whose
// grid has 15 levels still packs at 4 bits, but a 5-bit uniform grid needs the 8-bit layout.
// `bits` is checked as an upper bound (levels_per_table <= 2^bits).
#ifndef QUANTBENCH_NETWORKS_PACK_QUANTIZED_H_
#define QUANTBENCH_NETWORKS_PACK_QUANTIZED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/packed_matrix.h"
#include "quantizers/quantizer.h"

namespace quantbench {

// Column order of the packed rows.
enum class PackColumnOrder {
  // The store's own order: [out, in] dense rows, [in/g, kh, kw] conv rows.
  kAsStored,
  // Convolution rows [out, in/g, kh, kw] reordered to [kh, kw, in/g]: one kernel tap's input
  // channels are contiguous, which is what im2col over channels-last (NHWC) activations
  // produces (networks/packed_conv.h). Needs a 4-d shape.
  kConvTapsMajor,
};

// What to pack: the tensor's stored shape (shape[0] = output channels), the quantizer's bit
// width, the parameter's name (for error messages), the column order, and which output rows
// (a grouped convolution packs one matrix per group).
struct PackRequest {
  std::string name;
  std::vector<int64_t> shape;
  int bits = 0;
  PackColumnOrder order = PackColumnOrder::kAsStored;
  int64_t row_begin = 0;
  int64_t row_end = -1;  // -1: shape[0]
};

// Packs rows [row_begin, row_end) of `q`. InvalidArgument (naming the parameter) when q is
// inconsistent with the shape (codes/values length, num_tables not 1 or rows, codes outside
// the table, levels > 2^bits) or its structured kind does not match its codebook;
// Unimplemented for a codebook with more than 16 levels that is not exactly affine.
absl::StatusOr<PackedMatrix> PackQuantizedRows(const QuantizedTensor& q, const PackRequest& request);

// `values` (one per element of a [out, in/g, kh, kw] tensor) permuted like kConvTapsMajor, so
// tests and fp32 fallbacks can compare against Dequantize(packed).
std::vector<float> ConvWeightsToTapsMajor(const std::vector<float>& values,
                                          const std::vector<int64_t>& shape);

// "uniform 4-bit", "codebook 3-bit per-row", "ternary", "ternary-planes x2": for plans and logs.
std::string DescribePackedMatrix(const PackedMatrix& m);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_PACK_QUANTIZED_H_
