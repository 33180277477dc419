// Nearest-level encoding against a sorted table of levels, shared by every table quantizer.
//
// Tie rule (used by every quantizer that encodes through this file): a value exactly halfway
// between two levels goes to the one of larger magnitude, i.e. away from zero, the same as
// std::round and the ⌊|w|/Δ + 0.5⌋ of the fixed-point literature. A zero that lies halfway
// between two levels (a symmetric table without a zero level) follows its sign bit: +0 goes up,
// -0 goes down. Every step is sign-symmetric, so on a symmetric table q(-x) == -q(x) exactly.
#ifndef QUANTBENCH_QUANTIZERS_LEVELS_H_
#define QUANTBENCH_QUANTIZERS_LEVELS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "quantizers/quantizer.h"

namespace quantbench {

// Index of the level nearest to `x`. `levels` is sorted ascending and non-empty; repeated
// levels are allowed (any of the equal entries is a correct answer).
int32_t NearestLevel(absl::Span<const float> levels, float x);

// Encodes each value as its nearest level: codes[i] = NearestLevel(levels, values[i]) and
// out[i] = levels[codes[i]]. `codes` and `out` have the length of `values`.
void EncodeNearest(absl::Span<const float> levels, absl::Span<const float> values,
                   absl::Span<int32_t> codes, absl::Span<float> out);

// max |v| over `values` (which must hold no NaN); 0 for an empty span.
float MaxAbs(absl::Span<const float> values);

// A per-tensor result: every value encoded to its nearest level of one sorted table, which
// becomes the codebook. `table_floats` is the fp32 metadata a decoder needs to rebuild the
// table (the whole table for k-means, M and r for exponential, ...), counted in storage_bits.
QuantizedTensor EncodeWithSingleTable(std::vector<float> levels, absl::Span<const float> values, int bits,
                                      int64_t table_floats);

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_LEVELS_H_
