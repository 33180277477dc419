#include "quantizers/levels.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace quantbench {
namespace {

// Everything here is branch-free: at tens of millions of weights one mispredicted branch per
// weight costs more than the whole search.

// One step of the search for the last level <= x: `lo` stays a valid answer for the levels
// seen so far. Compiles to a conditional move.
inline size_t SearchStep(const float* levels, size_t lo, size_t half, float x) {
  return levels[lo + half] <= x ? lo + half : lo;
}

// Given lo = the last level <= x (or 0 when x is below every level): lo or the level above.
inline int32_t Finish(const float* levels, size_t size, size_t lo, float x) {
  // At the top of the table hi == lo and the comparison keeps lo. Below the table or on a
  // level, `below` <= 0 <= `above`, so lo wins. Distances in double: the difference of two
  // floats is exact there, so ties are real ties.
  const size_t hi = lo + 1 < size ? lo + 1 : lo;
  const double below = static_cast<double>(x) - levels[lo];
  const double above = static_cast<double>(levels[hi]) - x;
  // Halfway: away from zero; at zero the sign bit decides (see the header).
  // Arithmetic rather than `?:` so that the compiler emits setcc, not a branch.
  const size_t up = static_cast<size_t>(above < below) |
                    (static_cast<size_t>(above == below) & static_cast<size_t>(!std::signbit(x)));
  return static_cast<int32_t>(lo + (up & (hi - lo)));
}

}  // namespace

int32_t NearestLevel(absl::Span<const float> levels, float x) {
  size_t lo = 0;
  for (size_t len = levels.size(); len > 1; len -= len / 2) {
    lo = SearchStep(levels.data(), lo, len / 2, x);
  }
  return Finish(levels.data(), levels.size(), lo, x);
}

void EncodeNearest(absl::Span<const float> levels, absl::Span<const float> values,
                   absl::Span<int32_t> codes, absl::Span<float> out) {
  // The searches of kBatch values run interleaved: each search is a chain of dependent loads,
  // and interleaving lets the CPU overlap the chains (about 5x faster than one at a time).
  constexpr size_t kBatch = 16;
  // Raw pointers: Debian's hardened Span checks every operator[] in the hot loops.
  const float* table = levels.data();
  const size_t size = levels.size();
  const float* in = values.data();
  int32_t* code_out = codes.data();
  float* value_out = out.data();
  const size_t n = values.size();
  size_t i = 0;
  for (; i + kBatch <= n; i += kBatch) {
    size_t lo[kBatch] = {};
    for (size_t len = size; len > 1; len -= len / 2) {
      for (size_t j = 0; j < kBatch; ++j) lo[j] = SearchStep(table, lo[j], len / 2, in[i + j]);
    }
    for (size_t j = 0; j < kBatch; ++j) {
      const int32_t code = Finish(table, size, lo[j], in[i + j]);
      code_out[i + j] = code;
      value_out[i + j] = table[code];
    }
  }
  for (; i < n; ++i) {
    const int32_t code = NearestLevel(levels, in[i]);
    code_out[i] = code;
    value_out[i] = table[code];
  }
}

float MaxAbs(absl::Span<const float> values) {
  // On bit patterns with the sign cleared: non-negative floats order like their patterns, and
  // an integer max reduction vectorizes where a float one (NaN rules) does not.
  const float* in = values.data();
  uint32_t max_bits = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &in[i], sizeof(bits));
    max_bits = std::max(max_bits, bits & 0x7fffffffu);
  }
  float max_abs;
  std::memcpy(&max_abs, &max_bits, sizeof(max_abs));
  return max_abs;
}

QuantizedTensor EncodeWithSingleTable(std::vector<float> levels, absl::Span<const float> values, int bits,
                                      int64_t table_floats) {
  QuantizedTensor out;
  out.values.resize(values.size());
  out.codes.resize(values.size());
  EncodeNearest(levels, values, absl::MakeSpan(out.codes), absl::MakeSpan(out.values));
  out.num_tables = 1;
  out.kind = CodeKind::kCodebook;
  out.levels_per_table = static_cast<int64_t>(levels.size());
  out.codebook = std::move(levels);
  out.storage_bits = StorageBits(static_cast<int64_t>(values.size()), bits, table_floats);
  return out;
}

}  // namespace quantbench
