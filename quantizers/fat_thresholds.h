// The trained-threshold (FAT) parameterisations of a uniform grid and their straight-through
// gradients, shared by the weight quantizer `adjustable_threshold` and the trained activation
// thresholds of training/ (shared/papers/fat_trained_thresholds.md, sections 2.3-2.4).
//
// Every grid here is the affine one of the FAT code:
//   q = Δ·(clamp(⌊x/Δ⌉ − z, 0, qmax) + z),   z an integer offset (z = −n, qmax = 2n is the
//   symmetric signed grid of 2n + 1 levels; z = 0 the unsigned one),
// with ⌊·⌉' = 1 (identity STE) for the data rounding and for the rounding of z.
//
// Asymmetric thresholds (2.3): from a calibrated range [T_l, T_l + R] and two trainable scalars,
//   T_l,adj = T_l + clip(α_T, shift_min, shift_max)·R,  R_adj = clip(α_R, 0.5, 1)·R,
//   Δ = R_adj/qmax,  z = ⌊T_l,adj/Δ⌉.
// The clips pass gradient only strictly inside their interval's closure (2.4).
#ifndef QUANTBENCH_QUANTIZERS_FAT_THRESHOLDS_H_
#define QUANTBENCH_QUANTIZERS_FAT_THRESHOLDS_H_

#include <algorithm>
#include <cmath>

namespace quantbench {

// The book's α range for a symmetric threshold and for the width of an asymmetric one (A2).
inline constexpr double kFatAlphaMin = 0.5;
inline constexpr double kFatAlphaMax = 1.0;
// The book's shift range α_T for signed tensors.
inline constexpr double kFatShiftMin = -0.2;
inline constexpr double kFatShiftMax = 0.4;

inline double ClipFatAlpha(double alpha) { return std::clamp(alpha, kFatAlphaMin, kFatAlphaMax); }
inline bool InsideClip(double v, double lo, double hi) { return v >= lo && v <= hi; }

// One value through the affine grid and the partials of q with respect to x, Δ and z.
struct AffinePartials {
  double value = 0.0;
  double d_x = 0.0;
  double d_step = 0.0;
  double d_z = 0.0;
};

inline AffinePartials AffineFakeQuantize(double x, double step, double z, double qmax) {
  const double r = std::round(x / step);  // half away from zero (A9)
  const double code = r - z;
  if (code < 0) return {step * z, 0.0, z, step};                       // clamped at level 0
  if (code > qmax) return {step * (qmax + z), 0.0, qmax + z, step};    // clamped at qmax
  return {step * r, 1.0, r - x / step, 0.0};                           // inside
}

// The asymmetric grid of one tensor (or filter) for given (α_T, α_R).
struct AsymmetricGrid {
  double step = 0.0;   // Δ; 0 when the calibrated width is 0
  double z = 0.0;      // integer offset
  double lower = 0.0;  // T_l,adj
  double width = 0.0;  // calibrated R
  bool shift_inside = false;
  bool width_inside = false;
};

inline AsymmetricGrid MakeAsymmetricGrid(double lo, double hi, double alpha_t, double alpha_r, double shift_min,
                                         double shift_max, double qmax) {
  AsymmetricGrid g;
  g.width = hi - lo;
  g.shift_inside = shift_min < shift_max && InsideClip(alpha_t, shift_min, shift_max);
  g.width_inside = InsideClip(alpha_r, kFatAlphaMin, kFatAlphaMax);
  g.lower = lo + std::clamp(alpha_t, shift_min, shift_max) * g.width;
  g.step = ClipFatAlpha(alpha_r) * g.width / qmax;
  g.z = g.step > 0.0 ? std::round(g.lower / g.step) : 0.0;
  return g;
}

// Adds g·dq/dα_T and g·dq/dα_R for one value whose partials are `p` (z = ⌊T_l,adj/Δ⌉ with
// STE: dz/dT_l = 1/Δ, dz/dΔ = −T_l/Δ²; dT_l/dα_T = R; dΔ/dα_R = R/qmax).
inline void AccumulateAsymmetricGradient(const AsymmetricGrid& grid, const AffinePartials& p, double g,
                                         double qmax, double* d_shift, double* d_width) {
  if (grid.step <= 0.0) return;
  if (grid.shift_inside) *d_shift += g * p.d_z * grid.width / grid.step;
  if (grid.width_inside) {
    const double d_step = p.d_step - p.d_z * grid.lower / (grid.step * grid.step);
    *d_width += g * d_step * grid.width / qmax;
  }
}

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_FAT_THRESHOLDS_H_
