// PackedDepthwise: a direct depthwise convolution (one input channel per output channel, the
// MobileNet kind) over channels-last (NHWC) activations, with packed low-bit weights and the
// same epilogue as PackedGemm (kernels/packed_gemm.h, gemm_epilogue.h).
//
//   y[n, oy, ox, c] = sum over the window taps (ky, kx) inside the image, in (ky, kx) order,
//                     of x[n, iy, ix, c] * w[c, ky, kx]
//
// A depthwise conv as a GEMM has one row per group and kh*kw columns: nothing for the GEMM
// kernels to block, hence a kernel of its own that vectorizes over channels instead.
//
// Activations:
//   kFloat - fp32: acc = 0; acc = fma(x, w, acc) per tap (one rounding per tap, what a vector
//            fused multiply-add does), then the epilogue. The optimized kernel does the same
//            operations per channel, so it is BIT-EXACT against the _ref twin.
//   kInt8  - each image (all H x W x C input values of example n) is quantized once with the
//            definition of int8_activations.h (QuantizeRowInt8Ref over the image as one row:
//            s[n] = max |x| / 127, a per-image, not per-row, scale: a depthwise output reads
//            kh*kw different pixels, and one scale keeps its sum a single exact int32);
//            acc = sum q * iw (int32, exact), iw = 2c - zero_point_x2 (kUniform) or t
//            (kTernary); y = float(acc) * (s[n] * factor[c]), factor = scale / 2 (kUniform) or
//            scale (kTernary); then the epilogue. BIT-EXACT against _ref. Formats without an
//            integer form (kCodebook, kTernaryPlanes) run the fp32 path even when kInt8 is
//            asked for (DepthwiseWeights::integer says which).
#ifndef QUANTBENCH_KERNELS_PACKED_DEPTHWISE_H_
#define QUANTBENCH_KERNELS_PACKED_DEPTHWISE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

struct DepthwiseGeometry {
  int channels = 0;
  int in_h = 1, in_w = 1;
  int out_h = 1, out_w = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_t = 0, pad_l = 0;
  int dilation = 1;

  int taps() const { return kernel_h * kernel_w; }

  // Calls tap_fn(tap, input_pixel) for each window tap of output (oy, ox) that lies inside
  // the image, in (ky, kx) order: tap = ky * kernel_w + kx, input_pixel = iy * in_w + ix. The
  // one definition of the window, for the reference and the optimized kernels alike.
  template <typename TapFn>
  void ForEachTapInside(int oy, int ox, TapFn&& tap_fn) const {
    for (int ky = 0; ky < kernel_h; ++ky) {
      const int iy = oy * stride_h - pad_t + ky * dilation;
      if (iy < 0 || iy >= in_h) continue;
      for (int kx = 0; kx < kernel_w; ++kx) {
        const int ix = ox * stride_w - pad_l + kx * dilation;
        if (ix < 0 || ix >= in_w) continue;
        tap_fn(ky * kernel_w + kx, static_cast<int64_t>(iy) * in_w + ix);
      }
    }
  }
};

// The weights in the form the kernels read: taps-major ([tap][channel]), so one tap's weights
// for consecutive channels are one vector load.
struct DepthwiseWeights {
  int taps = 0;
  int channels = 0;
  std::vector<float> values;   // taps x channels: Dequantize of the packed codes
  bool integer = false;        // kUniform / kTernary: the int8 path below exists
  std::vector<int16_t> codes;  // taps x channels: 2c - zero_point_x2, or t
  std::vector<float> factor;   // channels: scale / 2, or scale
};

// From one packed 1 x taps matrix per channel (the per-group matrices of PackedConv, taps in
// (ky, kx) order). InvalidArgument on shape mismatches or mixed formats.
absl::StatusOr<DepthwiseWeights> DepthwiseWeightsFromPacked(absl::Span<const PackedMatrix> per_channel);

struct DepthwiseArgs {
  const float* x = nullptr;  // batch x in_h x in_w x channels
  float* y = nullptr;        // batch x out_h x out_w x channels; must not alias x
  int batch = 0;
  GemmActivations activations = GemmActivations::kFloat;
  // Spans of `channels`; residual has batch * out_h * out_w rows of residual_stride.
  GemmEpilogue epilogue;
  int threads = 0;  // 0 = all; results do not depend on it
};

// The optimized kernel for the active ISA (ActiveKernelIsa()).
absl::Status PackedDepthwise(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                             const DepthwiseArgs& args);
// The scalar twin: the definition of correct.
absl::Status PackedDepthwiseRef(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                const DepthwiseArgs& args);
// A specific ISA (Unimplemented when this build or CPU lacks it).
absl::Status PackedDepthwiseWithIsa(KernelIsa isa, const DepthwiseGeometry& g,
                                    const DepthwiseWeights& w, const DepthwiseArgs& args);

// Shared by every path: argument checks.
absl::Status ValidateDepthwiseArgs(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                   const DepthwiseArgs& args);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_DEPTHWISE_H_
