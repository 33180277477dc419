// PackedDepthwise: the scalar reference and dispatch.
#include "kernels/packed_depthwise.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/gemm_epilogue.h"
#include "kernels/int8_activations.h"
#include "kernels/packed_depthwise_avx512.h"
#include "kernels/packed_gemm_avx512.h"
#include "kernels/status_macros.h"

namespace quantbench {

absl::Status PackedDepthwiseRef(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                const DepthwiseArgs& a) {
  QB_RETURN_IF_ERROR(ValidateDepthwiseArgs(g, w, a));
  const bool int8 = a.activations == GemmActivations::kInt8 && w.integer;
  const int64_t image = static_cast<int64_t>(g.in_h) * g.in_w * g.channels;
  std::vector<int8_t> q(int8 ? static_cast<size_t>(image) : 0);
  for (int n = 0; n < a.batch; ++n) {
    const float* x = a.x + n * image;
    float s = 0.0f;
    if (int8) s = QuantizeRowInt8Ref(x, image, q.data()).scale;
    for (int oy = 0; oy < g.out_h; ++oy) {
      for (int ox = 0; ox < g.out_w; ++ox) {
        const int64_t pixel = (static_cast<int64_t>(n) * g.out_h + oy) * g.out_w + ox;
        for (int c = 0; c < g.channels; ++c) {
          float facc = 0.0f;
          int32_t iacc = 0;
          g.ForEachTapInside(oy, ox, [&](int tap, int64_t input_pixel) {
            const int64_t in = input_pixel * g.channels + c;
            const size_t wt = static_cast<size_t>(tap) * g.channels + c;
            if (int8) {
              iacc += static_cast<int32_t>(q[in]) * w.codes[wt];
            } else {
              facc = std::fma(x[in], w.values[wt], facc);  // one rounding, as vfmadd
            }
          });
          const float y = int8 ? static_cast<float>(iacc) * (s * w.factor[c]) : facc;
          a.y[pixel * g.channels + c] = ApplyEpilogueRef(a.epilogue, pixel, c, y);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PackedDepthwiseWithIsa(KernelIsa isa, const DepthwiseGeometry& g,
                                    const DepthwiseWeights& w, const DepthwiseArgs& a) {
  switch (isa) {
    case KernelIsa::kRef:
      return PackedDepthwiseRef(g, w, a);
    case KernelIsa::kAvx2:
      return absl::UnimplementedError(
          "PackedDepthwise: this build has no AVX2 depthwise kernel; use ref or avx512");
    case KernelIsa::kAvx512:
      if (!Avx512KernelsSupported()) {
        return absl::UnimplementedError(
            "PackedDepthwise: this CPU lacks the AVX-512 subset the avx512 kernels need");
      }
      return PackedDepthwiseAvx512(g, w, a);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("PackedDepthwise: unknown KernelIsa ", static_cast<int>(isa)));
}

absl::Status PackedDepthwise(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                             const DepthwiseArgs& a) {
  // There is no AVX2 depthwise kernel yet: where the GEMMs run AVX2 (a CPU without AVX-512,
  // or QUANTBENCH_KERNEL_ISA=avx2) the depthwise convolution falls back to the reference.
  const KernelIsa isa = ActiveKernelIsa() == KernelIsa::kAvx2 ? KernelIsa::kRef : ActiveKernelIsa();
  return PackedDepthwiseWithIsa(isa, g, w, a);
}

}  // namespace quantbench
