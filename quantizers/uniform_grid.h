// Uniform level grids and their encoding, shared by linear, adjustable_threshold and the
// activation quantizer: level k = step · (k − zero_point_x2 / 2), k = 0 .. count − 1. This is
// CodeKind::kUniform's formula, so a table encoded here is the packed kernels' uniform format:
// the kernel stores the codes, one scale and one doubled zero point.
#ifndef QUANTBENCH_QUANTIZERS_UNIFORM_GRID_H_
#define QUANTBENCH_QUANTIZERS_UNIFORM_GRID_H_

#include <cstdint>
#include <vector>

#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"

namespace quantbench {

struct UniformGrid {
  double step = 0.0;          // 0 only for an all-zero range: every level is then 0
  int32_t zero_point_x2 = 0;  // twice the code of the (possibly half-integer) zero
  int64_t count = 1;          // number of levels

  double Level(int64_t k) const {
    return step * (static_cast<double>(k) - 0.5 * static_cast<double>(zero_point_x2));
  }
};

// Symmetric with an exact zero: levels Δ·j, j = −(2^(b−1)−1) .. 2^(b−1)−1, Δ = clip/(2^(b−1)−1):
// 2^b − 1 levels, the ends exactly ±clip. Needs bits >= 2.
UniformGrid MidTreadGrid(int bits, double clip);

// Symmetric without zero: levels clip·(2k/(2^b−1) − 1), k = 0 .. 2^b−1: 2^b levels, step
// 2·clip/(2^b−1), zero point (2^b−1)/2 (half-integer). bits >= 1.
UniformGrid MidRiseGrid(int bits, double clip);

// Affine with an integer zero point: 2^b levels covering [min(lo, 0), max(hi, 0)] (zero is a
// level, as integer kernels need). z = round(−lo/step0) with step0 = (hi − lo)/(2^b − 1),
// clamped to the codes; then the step is widened just enough that both ends fit, so one end
// is a level exactly and the other lies inside the grid (within one step of its end).
UniformGrid AffineGrid(int bits, double lo, double hi);

// The levels, ascending, each computed in double and rounded once to fp32.
std::vector<float> GridLevels(const UniformGrid& grid);

// Encodes the slice to the nearest level of `grid` (ties away from zero, levels.h) and appends
// the table to out.codebook, its fp32 step to out.scale and its zero point to
// out.zero_point_x2. The caller sets out.kind = kUniform and levels_per_table = grid.count.
void EncodeUniformTable(const UniformGrid& grid, const TableSlice& slice, QuantizedTensor& out);

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_UNIFORM_GRID_H_
