// The AVX-512 PackedDepthwise kernel (channel-vector loops). Compiled with AVX-512 flags in its
// own library: call only after Avx512KernelsSupported() is true.
#ifndef QUANTBENCH_KERNELS_PACKED_DEPTHWISE_AVX512_H_
#define QUANTBENCH_KERNELS_PACKED_DEPTHWISE_AVX512_H_

#include "absl/status/status.h"
#include "kernels/packed_depthwise.h"

namespace quantbench {

// Same contract as PackedDepthwise; bit-identical to PackedDepthwiseRef on both paths.
absl::Status PackedDepthwiseAvx512(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                   const DepthwiseArgs& args);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_DEPTHWISE_AVX512_H_
