#include "kernels/gemm_validation.h"

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "kernels/packed_layout.h"

namespace quantbench {

absl::Status ValidatePackedMatrix(const PackedMatrix& w) {
  const char* name = PackedFormatName(w.format);
  if (w.rows <= 0 || w.cols <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: ", name, " weights have shape ",
                                                   w.rows, " x ", w.cols,
                                                   "; pack them with a Pack* function first"));
  }
  bool bits_ok = false;
  switch (w.format) {
    case PackedFormat::kUniform:
      bits_ok = w.bits == 1 || w.bits == 2 || w.bits == 3 || w.bits == 4 || w.bits == 8;
      break;
    case PackedFormat::kCodebook:
      bits_ok = w.bits >= 1 && w.bits <= 4;
      break;
    case PackedFormat::kTernary:
    case PackedFormat::kTernaryPlanes:
      bits_ok = w.bits == 2;
      break;
  }
  if (!bits_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("PackedGemm: ", name, " weights cannot have ", w.bits, "-bit codes"));
  }
  const int expected_planes = w.format == PackedFormat::kTernaryPlanes ? w.planes : 1;
  if (w.planes < 1 || w.planes != expected_planes) {
    return absl::InvalidArgumentError(
        absl::StrCat("PackedGemm: ", name, " weights have planes = ", w.planes));
  }
  const int64_t need = w.planes * packed_layout::PlaneBytes(w.bits, w.rows, w.cols);
  if (w.data == nullptr || w.data_bytes < need) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PackedGemm: ", name, " weights hold ", w.data == nullptr ? 0 : w.data_bytes,
        " bytes of codes, the layout needs ", need, "; pack them with a Pack* function"));
  }
  int64_t want_scale = 0, want_zero = 0, want_table = 0;
  switch (w.format) {
    case PackedFormat::kUniform:
      want_scale = want_zero = w.rows;
      break;
    case PackedFormat::kTernary:
      want_scale = w.rows;
      break;
    case PackedFormat::kTernaryPlanes:
      want_scale = w.planes * w.rows;
      break;
    case PackedFormat::kCodebook:
      want_table = (w.per_row_table ? w.rows : 1) * 16;
      break;
  }
  if (static_cast<int64_t>(w.scale.size()) != want_scale ||
      static_cast<int64_t>(w.zero_point_x2.size()) != want_zero ||
      static_cast<int64_t>(w.table.size()) != want_table) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PackedGemm: ", name, " weights have ", w.scale.size(), " scales, ",
        w.zero_point_x2.size(), " zero points, ", w.table.size(), " table entries; expected ",
        want_scale, ", ", want_zero, ", ", want_table));
  }
  return absl::OkStatus();
}

absl::Status ValidateGemmArgs(const PackedMatrix& w, const GemmArgs& args) {
  if (auto s = ValidatePackedMatrix(w); !s.ok()) return s;
  if (args.m < 0) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: m = ", args.m, " is negative"));
  }
  if (args.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PackedGemm: threads = ", args.threads, "; use 0 for all cores"));
  }
  if (args.activations != GemmActivations::kFloat && args.activations != GemmActivations::kInt8) {
    return absl::InvalidArgumentError("PackedGemm: unknown activation type");
  }
  if (args.m == 0) return absl::OkStatus();
  if (args.x == nullptr || args.y == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("PackedGemm: ", args.x == nullptr ? "x" : "y", " is null with m = ", args.m));
  }
  if (args.x_stride < w.cols) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: x_stride = ", args.x_stride,
                                                   " is shorter than a row of x (cols = ", w.cols,
                                                   ")"));
  }
  if (args.y_stride < w.rows) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: y_stride = ", args.y_stride,
                                                   " is shorter than a row of y (rows = ", w.rows,
                                                   ")"));
  }
  const GemmEpilogue& e = args.epilogue;
  if (!e.out_scale.empty() && static_cast<int64_t>(e.out_scale.size()) != w.rows) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: epilogue out_scale has ",
                                                   e.out_scale.size(), " entries, expected 0 or ",
                                                   w.rows));
  }
  if (!e.out_shift.empty() && static_cast<int64_t>(e.out_shift.size()) != w.rows) {
    return absl::InvalidArgumentError(absl::StrCat("PackedGemm: epilogue out_shift has ",
                                                   e.out_shift.size(), " entries, expected 0 or ",
                                                   w.rows));
  }
  if (e.residual != nullptr && e.residual_stride < w.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("PackedGemm: epilogue residual_stride = ", e.residual_stride,
                     " is shorter than a row of the residual (rows = ", w.rows, ")"));
  }
  if (e.post_op != GemmPostOp::kNone && e.post_op != GemmPostOp::kRelu &&
      e.post_op != GemmPostOp::kRelu6) {
    return absl::InvalidArgumentError("PackedGemm: unknown epilogue post_op");
  }
  return absl::OkStatus();
}

int ResolveThreads(int requested) {
  return requested > 0 ? requested : omp_get_max_threads();
}

}  // namespace quantbench
