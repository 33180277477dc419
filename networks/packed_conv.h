// A convolution (or a dense layer, as a 1x1 convolution over a 1x1 image) on packed low-bit
// weights: im2col over channels-last (NHWC) activations + PackedGemm (kernels/packed_gemm.h),
// one GEMM row per output pixel, one GEMM per group, with bias / kept BatchNorm, residual add
// and ReLU / ReLU6 applied in the GEMM's epilogue.
//
// im2col row layout: [group][kh][kw][in/groups], i.e. each kernel tap copies one contiguous
// run of a pixel's channels. The weights must therefore be packed in that column order
// (PackColumnOrder::kConvTapsMajor, networks/pack_quantized.h), one matrix per group with
// out/groups rows and kh*kw*in/groups columns. A 1x1, stride-1, unpadded convolution needs no
// im2col: the NHWC activations are the GEMM's input rows as they are.
//
// im2col runs on tiles of output pixels (about kIm2colTileBytes of scratch), so the scratch
// stays cache-sized whatever the batch and image size. With several OpenMP threads, a conv
// with many output pixels and small weights splits its pixels into tiles that each thread
// im2cols and multiplies on its own (thread-local scratch); otherwise each GEMM splits its
// rows over the threads. Tiles are multiples of 8 pixels, so results do not depend on the
// thread count (int8 activations: bit for bit; fp32: the kernels' 8-row tiles do not move).
#ifndef QUANTBENCH_NETWORKS_PACKED_CONV_H_
#define QUANTBENCH_NETWORKS_PACKED_CONV_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

struct ConvGeometry {
  int in_c = 0, in_h = 1, in_w = 1;
  int out_c = 0, out_h = 1, out_w = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_t = 0, pad_l = 0;  // bottom / right padding follow from the output size
  int dilation = 1;
  int groups = 1;

  int64_t in_per_group() const { return in_c / groups; }
  int64_t out_per_group() const { return out_c / groups; }
  // Columns of one group's GEMM: kh * kw * in/groups.
  int64_t group_cols() const { return static_cast<int64_t>(kernel_h) * kernel_w * in_per_group(); }
  bool needs_im2col() const {
    return kernel_h != 1 || kernel_w != 1 || stride_h != 1 || stride_w != 1 || pad_t != 0 ||
           pad_l != 0;
  }
};

// Bytes of im2col scratch one tile aims at.
constexpr int64_t kIm2colTileBytes = int64_t{1} << 20;

// What follows the GEMM, per output channel (the order of kernels/packed_gemm.h's epilogue:
// scale/shift, residual, activation). When an activation must run *before* the residual add
// (conv -> ReLU -> Add), the epilogue can not express it: then `act_before_residual` is applied
// by the GEMM and the add and `post_op` by a separate pass over the tile.
struct ConvEpilogue {
  std::vector<float> out_scale;  // out_c, or empty (= 1)
  std::vector<float> out_shift;  // out_c, or empty (= 0)
  GemmPostOp act_before_residual = GemmPostOp::kNone;
  GemmPostOp post_op = GemmPostOp::kNone;
};

class PackedConv {
 public:
  PackedConv() = default;

  // InvalidArgument if the geometry is inconsistent (channels not divisible by groups, output
  // size not what the window gives) or a group's matrix has the wrong shape.
  static absl::StatusOr<PackedConv> Create(const ConvGeometry& geometry,
                                           std::vector<PackedMatrix> group_weights);

  // Floats of im2col scratch Run needs (0 when the convolution needs no im2col).
  int64_t ScratchFloats() const;

  // src: batch x in_h x in_w x in_c (NHWC); dst: batch x out_h x out_w x out_c; residual (may
  // be null): like dst. scratch: ScratchFloats() floats. dst must not alias src or residual.
  absl::Status Run(const float* src, const float* residual, float* dst, int batch,
                   const ConvEpilogue& epilogue, GemmActivations activations,
                   float* scratch) const;

  const ConvGeometry& geometry() const { return geometry_; }
  const std::vector<PackedMatrix>& group_weights() const { return group_weights_; }
  int64_t StorageBytes() const;

 private:
  // Rows [pixel_begin, pixel_begin + pixels) of the im2col matrix (pixel = n*out_h*out_w + ...).
  void Im2col(const float* src, int64_t pixel_begin, int64_t pixels, float* out) const;
  // Output pixels [pixel_begin, pixel_begin + pixels): im2col into scratch (if needed), one
  // GEMM per group on gemm_threads threads, then the second epilogue pass if any.
  absl::Status RunTile(const float* src, const float* residual, float* dst, int64_t pixel_begin,
                       int64_t pixels, const ConvEpilogue& epilogue, GemmActivations activations,
                       int gemm_threads, float* scratch) const;

  ConvGeometry geometry_;
  std::vector<PackedMatrix> group_weights_;
  int64_t tile_pixels_ = 0;               // serial im2col tile (multiple of 8 pixels)
  int64_t max_parallel_tile_pixels_ = 0;  // cap of a thread's tile when splitting pixels
  int64_t weight_bytes_ = 0;
};

// Scalar twin of PackedConv::Run for tests: a direct convolution over NHWC activations with
// Dequantize(group_weights) (taps-major columns) in double precision, same epilogue. Float
// activations only (int8 rounding is the GEMM's business and is tested in kernels/).
std::vector<float> PackedConvRef(const PackedConv& conv, const std::vector<float>& src,
                                 const float* residual, int batch, const ConvEpilogue& epilogue);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_PACKED_CONV_H_
