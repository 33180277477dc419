// PackedDepthwise's shared pieces: weight preparation and argument checks (every path uses
// them, so errors and weights are the same whatever the ISA).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/packed_depthwise.h"

namespace quantbench {

absl::StatusOr<DepthwiseWeights> DepthwiseWeightsFromPacked(
    absl::Span<const PackedMatrix> per_channel) {
  auto fail = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("DepthwiseWeightsFromPacked: ", what));
  };
  if (per_channel.empty()) return fail("no channels");
  DepthwiseWeights w;
  w.channels = static_cast<int>(per_channel.size());
  w.taps = static_cast<int>(per_channel[0].cols);
  const PackedFormat format = per_channel[0].format;
  w.integer = format == PackedFormat::kUniform || format == PackedFormat::kTernary;
  w.values.assign(static_cast<size_t>(w.taps) * w.channels, 0.0f);
  w.codes.assign(w.values.size(), 0);
  w.factor.assign(w.channels, 0.0f);
  int64_t max_code = 0;
  for (int c = 0; c < w.channels; ++c) {
    const PackedMatrix& m = per_channel[c];
    if (m.rows != 1 || m.cols != w.taps || m.format != format) {
      return fail(absl::StrCat("channel ", c, " is ", m.rows, " x ", m.cols, " ",
                               PackedFormatName(m.format), ", expected 1 x ", w.taps, " ",
                               PackedFormatName(format)));
    }
    const std::vector<float> values = Dequantize(m);
    for (int t = 0; t < w.taps; ++t) w.values[static_cast<size_t>(t) * w.channels + c] = values[t];
    if (!w.integer) continue;
    if (format == PackedFormat::kUniform) {
      const std::vector<uint8_t> codes = UnpackCodes(m);
      w.factor[c] = m.scale[0] * 0.5f;
      for (int t = 0; t < w.taps; ++t) {
        const int64_t iw = 2 * static_cast<int64_t>(codes[t]) - m.zero_point_x2[0];
        max_code = std::max<int64_t>(max_code, std::llabs(iw));
        w.codes[static_cast<size_t>(t) * w.channels + c] = static_cast<int16_t>(
            std::max<int64_t>(std::numeric_limits<int16_t>::min(),
                              std::min<int64_t>(std::numeric_limits<int16_t>::max(), iw)));
      }
    } else {
      const std::vector<int8_t> codes = UnpackTernaryCodes(m);
      w.factor[c] = m.scale[0];
      for (int t = 0; t < w.taps; ++t) w.codes[static_cast<size_t>(t) * w.channels + c] = codes[t];
      max_code = std::max<int64_t>(max_code, 1);
    }
  }
  // The int8 path must hold every weight in int16 and every sum in int32 exactly; a zero point
  // far outside the code range could break that, and then the layer runs the fp32 path.
  if (w.integer && (max_code > std::numeric_limits<int16_t>::max() ||
                    max_code * 127 * w.taps > std::numeric_limits<int32_t>::max())) {
    w.integer = false;
  }
  if (!w.integer) {
    w.codes.clear();
    w.factor.clear();
  }
  return w;
}

absl::Status ValidateDepthwiseArgs(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                   const DepthwiseArgs& a) {
  auto fail = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("PackedDepthwise: ", what));
  };
  if (g.channels < 1 || g.in_h < 1 || g.in_w < 1 || g.out_h < 1 || g.out_w < 1 ||
      g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation < 1 ||
      g.pad_t < 0 || g.pad_l < 0) {
    return fail("sizes, kernel, strides and dilation must be >= 1, padding >= 0");
  }
  if (w.channels != g.channels || w.taps != g.taps()) {
    return fail(absl::StrCat("weights are ", w.taps, " taps x ", w.channels,
                             " channels, the geometry needs ", g.taps(), " x ", g.channels));
  }
  if (a.batch < 0) return fail("batch < 0");
  if (a.batch > 0 && (a.x == nullptr || a.y == nullptr)) return fail("null x or y");
  const GemmEpilogue& e = a.epilogue;
  if ((!e.out_scale.empty() && static_cast<int>(e.out_scale.size()) != g.channels) ||
      (!e.out_shift.empty() && static_cast<int>(e.out_shift.size()) != g.channels)) {
    return fail(absl::StrCat("out_scale / out_shift must be empty or hold ", g.channels, " values"));
  }
  if (e.residual != nullptr && e.residual_stride < g.channels) {
    return fail(absl::StrCat("residual_stride ", e.residual_stride, " < channels ", g.channels));
  }
  return absl::OkStatus();
}

}  // namespace quantbench
