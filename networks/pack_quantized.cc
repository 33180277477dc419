#include "networks/pack_quantized.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr int64_t kMaxCodebookLevels = 16;

int CeilLog2(int64_t n) {
  int b = 0;
  while ((int64_t{1} << b) < n) ++b;
  return b;
}

// Smallest code width PackUniform supports that holds `levels` codes; 0 if none does.
int UniformWidth(int64_t levels) {
  const int need = std::max(1, CeilLog2(levels));
  for (int w : {1, 2, 3, 4, 8}) {
    if (w >= need) return w;
  }
  return 0;
}

// The value PackUniform's format assigns to code k (kernels/packed_matrix.h). Used only to
// check a table against a scale / zero point, with a tolerance, so the evaluation order of the
// kernels' own Dequantize does not matter.
double UniformLevel(float scale, int32_t zero_point_x2, int64_t k) {
  return static_cast<double>(scale) * (static_cast<double>(k) - 0.5 * zero_point_x2);
}

// Float rounding slack when comparing a table against a formula: the quantizers compute their
// tables in float, possibly in another order than the formula.
bool CloseEnough(double formula, float entry, double table_magnitude) {
  return std::fabs(formula - entry) <= 1e-6 * table_magnitude;
}

double MaxAbs(const float* p, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(p[i])));
  return m;
}

// The kernels' Pack* errors do not know which parameter they were packing.
absl::StatusOr<PackedMatrix> NameParameter(absl::StatusOr<PackedMatrix> packed,
                                           const PackRequest& r) {
  if (packed.ok()) return packed;
  return Annotate(packed.status(), absl::StrCat("packing parameter '", r.name, "'"));
}

// Everything PackQuantizedRows needs, checked once.
struct Layout {
  int64_t rows = 0;  // of the whole tensor
  int64_t cols = 0;
  int64_t row_begin = 0, row_end = 0;
  int64_t levels = 0;
  int64_t num_tables = 1;
  // Source column of packed column j.
  std::vector<int64_t> source_col;

  int64_t out_rows() const { return row_end - row_begin; }
  int64_t table_of(int64_t row) const { return num_tables == 1 ? 0 : row; }
};

absl::StatusOr<Layout> CheckAndLayout(const QuantizedTensor& q, const PackRequest& r) {
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("packing parameter '", r.name, "': ", what));
  };
  if (r.shape.empty() || r.shape[0] <= 0) return fail("needs a shape whose first dimension (output channels) is >= 1");
  Layout l;
  l.rows = r.shape[0];
  int64_t numel = 1;
  for (int64_t d : r.shape) {
    if (d <= 0) return fail(absl::StrCat("shape has a non-positive dimension ", d));
    numel *= d;
  }
  l.cols = numel / l.rows;
  l.row_begin = r.row_begin;
  l.row_end = r.row_end < 0 ? l.rows : r.row_end;
  if (l.row_begin < 0 || l.row_begin >= l.row_end || l.row_end > l.rows) {
    return fail(absl::StrCat("row range [", l.row_begin, ", ", l.row_end, ") is not inside [0, ",
                             l.rows, ")"));
  }
  if (r.bits < 1 || r.bits > 16) return fail(absl::StrCat("bits = ", r.bits, " is outside 1..16"));
  if (static_cast<int64_t>(q.codes.size()) != numel) {
    return fail(absl::StrCat("has ", q.codes.size(), " codes for ", numel, " weights"));
  }
  if (static_cast<int64_t>(q.values.size()) != numel) {
    return fail(absl::StrCat("has ", q.values.size(), " values for ", numel, " weights"));
  }
  if (q.num_tables != 1 && q.num_tables != l.rows) {
    return fail(absl::StrCat("num_tables = ", q.num_tables, " is neither 1 nor the ", l.rows,
                             " output channels"));
  }
  l.num_tables = q.num_tables;
  l.levels = q.levels_per_table;
  if (l.levels < 1) return fail(absl::StrCat("levels_per_table = ", l.levels, " must be >= 1"));
  if (l.levels > (int64_t{1} << r.bits)) {
    return fail(absl::StrCat(l.levels, " levels per table do not fit in ", r.bits, " bits"));
  }
  if (static_cast<int64_t>(q.codebook.size()) != l.num_tables * l.levels) {
    return fail(absl::StrCat("codebook has ", q.codebook.size(), " entries, expected num_tables * levels = ",
                             l.num_tables, " * ", l.levels));
  }
  for (int64_t row = l.row_begin; row < l.row_end; ++row) {
    for (int64_t c = 0; c < l.cols; ++c) {
      const int32_t code = q.codes[row * l.cols + c];
      if (code < 0 || code >= l.levels) {
        return fail(absl::StrCat("code ", code, " at row ", row, ", column ", c,
                                 " is outside the table's ", l.levels, " levels"));
      }
    }
  }
  l.source_col.resize(l.cols);
  if (r.order == PackColumnOrder::kConvTapsMajor) {
    if (r.shape.size() != 4) {
      return fail(absl::StrCat("convolution column order needs a [out, in/g, kh, kw] shape, got ",
                               r.shape.size(), " dimensions"));
    }
    const int64_t cin = r.shape[1], kh = r.shape[2], kw = r.shape[3];
    for (int64_t c = 0; c < cin; ++c) {
      for (int64_t y = 0; y < kh; ++y) {
        for (int64_t x = 0; x < kw; ++x) {
          l.source_col[(y * kw + x) * cin + c] = (c * kh + y) * kw + x;
        }
      }
    }
  } else {
    for (int64_t c = 0; c < l.cols; ++c) l.source_col[c] = c;
  }
  return l;
}

// The selected rows' codes in packed column order, transformed by `f(code)`.
template <typename T, typename F>
std::vector<T> GatherCodes(const QuantizedTensor& q, const Layout& l, F f) {
  std::vector<T> out(static_cast<size_t>(l.out_rows() * l.cols));
  for (int64_t row = l.row_begin; row < l.row_end; ++row) {
    const int32_t* src = q.codes.data() + row * l.cols;
    T* dst = out.data() + (row - l.row_begin) * l.cols;
    for (int64_t j = 0; j < l.cols; ++j) dst[j] = f(src[l.source_col[j]]);
  }
  return out;
}

// Per-row uniform parameters (broadcast from one table when the tensor has one), checked
// against the codebook so that packed execution computes what simulated execution does.
absl::StatusOr<PackedMatrix> PackAsUniform(const QuantizedTensor& q, const PackRequest& r,
                                           const Layout& l, const std::vector<float>& table_scale,
                                           const std::vector<int32_t>& table_zero_x2) {
  const int width = UniformWidth(l.levels);
  if (width == 0) {
    return absl::UnimplementedError(absl::StrCat(
        "packing parameter '", r.name, "': a uniform grid of ", l.levels,
        " levels needs more than 8 bits; packed kernels store at most 8-bit codes"));
  }
  for (int64_t t = 0; t < l.num_tables; ++t) {
    const float* entries = q.codebook.data() + t * l.levels;
    const double magnitude = MaxAbs(entries, l.levels);
    for (int64_t k = 0; k < l.levels; ++k) {
      const double formula = UniformLevel(table_scale[t], table_zero_x2[t], k);
      if (!CloseEnough(formula, entries[k], magnitude)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "packing parameter '", r.name, "': uniform table ", t, " has entry ", k, " = ",
            entries[k], " but scale * (k - zero_point_x2 / 2) = ", table_scale[t], " * (", k,
            " - ", table_zero_x2[t], " / 2) = ", formula,
            "; the quantizer's kUniform scale / zero point do not describe its codebook"));
      }
    }
  }
  std::vector<float> scale(l.out_rows());
  std::vector<int32_t> zero_x2(l.out_rows());
  for (int64_t row = l.row_begin; row < l.row_end; ++row) {
    scale[row - l.row_begin] = table_scale[l.table_of(row)];
    zero_x2[row - l.row_begin] = table_zero_x2[l.table_of(row)];
  }
  const std::vector<uint8_t> codes =
      GatherCodes<uint8_t>(q, l, [](int32_t c) { return static_cast<uint8_t>(c); });
  return NameParameter(PackUniform(width, l.out_rows(), l.cols, codes, scale, zero_x2), r);
}

// An exactly affine table (entry k = s * (k - z)): its scale and doubled zero point, or false.
bool FitAffine(const float* entries, int64_t levels, float* scale, int32_t* zero_x2) {
  if (levels < 2) return false;
  const double step = (static_cast<double>(entries[levels - 1]) - entries[0]) / (levels - 1);
  const float s = static_cast<float>(step);
  int32_t z2 = 0;
  if (s != 0.0f) {
    const double z2_real = -2.0 * entries[0] / static_cast<double>(s);
    if (!(std::fabs(z2_real) < 1e9)) return false;
    z2 = static_cast<int32_t>(std::lround(z2_real));
  }
  const double magnitude = MaxAbs(entries, levels);
  for (int64_t k = 0; k < levels; ++k) {
    if (!CloseEnough(UniformLevel(s, z2, k), entries[k], magnitude)) return false;
  }
  *scale = s;
  *zero_x2 = z2;
  return true;
}

absl::StatusOr<PackedMatrix> PackCodebookKind(const QuantizedTensor& q, const PackRequest& r,
                                              const Layout& l) {
  if (l.levels <= kMaxCodebookLevels) {
    const int width = std::max(1, CeilLog2(l.levels));
    const bool per_row = l.num_tables > 1;
    // One 16-entry table per packed row (per_row) or one for the layer; unused entries 0.
    const int64_t tables = per_row ? l.out_rows() : 1;
    std::vector<float> table(static_cast<size_t>(tables * 16), 0.0f);
    for (int64_t t = 0; t < tables; ++t) {
      const int64_t source = per_row ? l.table_of(l.row_begin + t) : 0;
      std::copy(q.codebook.begin() + source * l.levels, q.codebook.begin() + (source + 1) * l.levels,
                table.begin() + t * 16);
    }
    const std::vector<uint8_t> codes =
        GatherCodes<uint8_t>(q, l, [](int32_t c) { return static_cast<uint8_t>(c); });
    return NameParameter(PackCodebook(width, l.out_rows(), l.cols, codes, table, per_row), r);
  }
  // More levels than a codebook format holds: exact only if every table is a uniform grid.
  std::vector<float> scale(l.num_tables);
  std::vector<int32_t> zero_x2(l.num_tables);
  for (int64_t t = 0; t < l.num_tables; ++t) {
    if (!FitAffine(q.codebook.data() + t * l.levels, l.levels, &scale[t], &zero_x2[t])) {
      return absl::UnimplementedError(absl::StrCat(
          "packing parameter '", r.name, "': its codebook has ", l.levels,
          " arbitrary levels per table (table ", t,
          " is not a uniform grid); packed kernels hold at most 16 arbitrary levels (4-bit "
          "codebook) or a uniform grid of up to 8 bits. Run this cell simulated or quantize "
          "to <= 4 bits"));
    }
  }
  return PackAsUniform(q, r, l, scale, zero_x2);
}

absl::StatusOr<PackedMatrix> PackTernaryKind(const QuantizedTensor& q, const PackRequest& r,
                                             const Layout& l) {
  if (l.levels != 3) {
    return absl::InvalidArgumentError(absl::StrCat("packing parameter '", r.name,
                                                   "': kTernary needs 3 levels per table, found ",
                                                   l.levels));
  }
  for (int64_t t = 0; t < l.num_tables; ++t) {
    const float* e = q.codebook.data() + t * 3;
    if (e[0] != -e[2] || e[1] != 0.0f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "packing parameter '", r.name, "': ternary table ", t, " is {", e[0], ", ", e[1], ", ",
          e[2], "}, expected {-a, 0, +a}"));
    }
  }
  std::vector<float> scale(l.out_rows());
  for (int64_t row = l.row_begin; row < l.row_end; ++row) {
    scale[row - l.row_begin] = q.codebook[l.table_of(row) * 3 + 2];
  }
  const std::vector<int8_t> codes =
      GatherCodes<int8_t>(q, l, [](int32_t c) { return static_cast<int8_t>(c - 1); });
  return NameParameter(PackTernary(l.out_rows(), l.cols, codes, scale), r);
}

absl::StatusOr<PackedMatrix> PackTernaryPlanesKind(const QuantizedTensor& q, const PackRequest& r,
                                                   const Layout& l) {
  const int planes = q.ternary_planes;
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("packing parameter '", r.name, "': ", what));
  };
  if (planes < 1 || planes > 8) return fail(absl::StrCat("ternary_planes = ", planes, " is outside 1..8"));
  int64_t power = 1;
  for (int p = 0; p < planes; ++p) power *= 3;
  if (l.levels > power) {
    return fail(absl::StrCat(l.levels, " levels per table exceed 3^", planes, " = ", power));
  }
  if (static_cast<int64_t>(q.plane_scale.size()) != planes * l.num_tables) {
    return fail(absl::StrCat("plane_scale has ", q.plane_scale.size(),
                             " entries, expected ternary_planes * num_tables = ", planes, " * ",
                             l.num_tables));
  }
  auto digit = [](int32_t code, int p) {
    for (int i = 0; i < p; ++i) code /= 3;
    return static_cast<int8_t>(code % 3 - 1);
  };
  for (int64_t t = 0; t < l.num_tables; ++t) {
    const float* entries = q.codebook.data() + t * l.levels;
    const double magnitude = MaxAbs(entries, l.levels);
    for (int64_t k = 0; k < l.levels; ++k) {
      double formula = 0.0;
      for (int p = 0; p < planes; ++p) {
        formula += static_cast<double>(q.plane_scale[p * l.num_tables + t]) * digit(k, p);
      }
      if (!CloseEnough(formula, entries[k], magnitude)) {
        return fail(absl::StrCat("ternary-planes table ", t, " has entry ", k, " = ", entries[k],
                                 " but its planes sum to ", formula));
      }
    }
  }
  const int64_t plane_size = l.out_rows() * l.cols;
  std::vector<int8_t> codes(static_cast<size_t>(planes * plane_size));
  std::vector<float> scale(static_cast<size_t>(planes * l.out_rows()));
  for (int p = 0; p < planes; ++p) {
    const std::vector<int8_t> plane =
        GatherCodes<int8_t>(q, l, [&](int32_t c) { return digit(c, p); });
    std::copy(plane.begin(), plane.end(), codes.begin() + p * plane_size);
    for (int64_t row = l.row_begin; row < l.row_end; ++row) {
      scale[p * l.out_rows() + (row - l.row_begin)] = q.plane_scale[p * l.num_tables + l.table_of(row)];
    }
  }
  return NameParameter(PackTernaryPlanes(planes, l.out_rows(), l.cols, codes, scale), r);
}

}  // namespace

absl::StatusOr<PackedMatrix> PackQuantizedRows(const QuantizedTensor& q, const PackRequest& request) {
  QB_ASSIGN_OR_RETURN(const Layout l, CheckAndLayout(q, request));
  switch (q.kind) {
    case CodeKind::kUniform:
      if (static_cast<int64_t>(q.scale.size()) != l.num_tables ||
          static_cast<int64_t>(q.zero_point_x2.size()) != l.num_tables) {
        return absl::InvalidArgumentError(absl::StrCat(
            "packing parameter '", request.name, "': kUniform needs one scale and zero point per "
            "table (", l.num_tables, "), found ", q.scale.size(), " scales and ",
            q.zero_point_x2.size(), " zero points"));
      }
      return PackAsUniform(q, request, l, q.scale, q.zero_point_x2);
    case CodeKind::kTernary:
      return PackTernaryKind(q, request, l);
    case CodeKind::kTernaryPlanes:
      return PackTernaryPlanesKind(q, request, l);
    case CodeKind::kCodebook:
      return PackCodebookKind(q, request, l);
  }
  return absl::InvalidArgumentError(absl::StrCat("packing parameter '", request.name,
                                                 "': unknown CodeKind ", static_cast<int>(q.kind)));
}

std::vector<float> ConvWeightsToTapsMajor(const std::vector<float>& values,
                                          const std::vector<int64_t>& shape) {
  const int64_t out = shape[0], cin = shape[1], kh = shape[2], kw = shape[3];
  std::vector<float> permuted(values.size());
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t c = 0; c < cin; ++c) {
      for (int64_t y = 0; y < kh; ++y) {
        for (int64_t x = 0; x < kw; ++x) {
          permuted[((o * kh + y) * kw + x) * cin + c] = values[((o * cin + c) * kh + y) * kw + x];
        }
      }
    }
  }
  return permuted;
}

std::string DescribePackedMatrix(const PackedMatrix& m) {
  switch (m.format) {
    case PackedFormat::kUniform:
      return absl::StrCat("uniform ", m.bits, "-bit");
    case PackedFormat::kTernary:
      return "ternary";
    case PackedFormat::kCodebook:
      return absl::StrCat("codebook ", m.bits, "-bit ", m.per_row_table ? "per-row" : "per-layer");
    case PackedFormat::kTernaryPlanes:
      return absl::StrCat("ternary-planes x", m.planes);
  }
  return PackedFormatName(m.format);
}

}  // namespace quantbench
