// One tensor, split into its code -> value tables: a single table for the whole tensor
// (per_tensor) or one per output row, row = shape[0] (per_channel). linear, binary, ternary and
// adjustable_threshold all size their result and walk the tables the same way; this is that
// walk, so each quantizer only says how one table is encoded.
#ifndef QUANTBENCH_QUANTIZERS_PER_TABLE_H_
#define QUANTBENCH_QUANTIZERS_PER_TABLE_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "quantizers/quantizer.h"

namespace quantbench {

// The part of the tensor one table covers, and where its codes and values go.
struct TableSlice {
  int64_t index;                  // table number, 0 .. num_tables - 1
  absl::Span<const float> input;  // the weights of this table
  absl::Span<int32_t> codes;      // to fill: one code per weight
  absl::Span<float> values;       // to fill: the dequantized weights
};

// Sizes values and codes to the tensor, sets num_tables, and calls `encode` for each table in
// order. `encode` fills the slice and appends its table to out.codebook (plus any CodeKind
// fields); levels_per_table, kind and storage_bits are the caller's. `weights` must have passed
// CheckQuantizerInput (its size is a multiple of its rows).
QuantizedTensor EncodePerTable(const WeightView& weights, bool per_channel,
                               absl::FunctionRef<void(const TableSlice&, QuantizedTensor&)> encode);

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_PER_TABLE_H_
