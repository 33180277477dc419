#include "quantizers/uniform_grid.h"

#include <algorithm>
#include <cmath>

#include "quantizers/levels.h"

namespace quantbench {

UniformGrid MidTreadGrid(int bits, double clip) {
  const int64_t half = (int64_t{1} << (bits - 1)) - 1;
  return UniformGrid{clip / static_cast<double>(half), static_cast<int32_t>(2 * half),
                     2 * half + 1};
}

UniformGrid MidRiseGrid(int bits, double clip) {
  const int64_t span = (int64_t{1} << bits) - 1;
  return UniformGrid{2.0 * clip / static_cast<double>(span), static_cast<int32_t>(span), span + 1};
}

UniformGrid AffineGrid(int bits, double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  const int64_t top = (int64_t{1} << bits) - 1;
  if (hi == lo) return UniformGrid{0.0, 0, top + 1};
  const double step0 = (hi - lo) / static_cast<double>(top);
  const int64_t z = std::clamp<int64_t>(std::llround(-lo / step0), 0, top);
  // Widen to cover both ends: the binding end becomes a level exactly.
  double step = 0.0;
  if (z < top) step = hi / static_cast<double>(top - z);
  if (z > 0) step = std::max(step, -lo / static_cast<double>(z));
  return UniformGrid{step, static_cast<int32_t>(2 * z), top + 1};
}

std::vector<float> GridLevels(const UniformGrid& grid) {
  std::vector<float> levels(grid.count);
  for (int64_t k = 0; k < grid.count; ++k) levels[k] = static_cast<float>(grid.Level(k));
  return levels;
}

void EncodeUniformTable(const UniformGrid& grid, const TableSlice& slice, QuantizedTensor& out) {
  const std::vector<float> levels = GridLevels(grid);
  EncodeNearest(levels, slice.input, slice.codes, slice.values);
  out.codebook.insert(out.codebook.end(), levels.begin(), levels.end());
  out.scale.push_back(static_cast<float>(grid.step));
  out.zero_point_x2.push_back(grid.zero_point_x2);
}

}  // namespace quantbench
