#include "networks/packed_conv.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

float Activate(GemmPostOp op, float v) {
  if (op == GemmPostOp::kRelu) return std::max(v, 0.0f);
  if (op == GemmPostOp::kRelu6) return std::min(std::max(v, 0.0f), 6.0f);
  return v;
}

// dst = post(dst + residual) over `pixels` rows of `channels`: the part of the epilogue the
// GEMM can not do when an activation sits between the convolution and the residual add.
void AddResidualAndActivate(float* dst, const float* residual, int64_t pixels, int64_t channels,
                            GemmPostOp post) {
  const int64_t count = pixels * channels;
  for (int64_t i = 0; i < count; ++i) {
    const float v = residual != nullptr ? dst[i] + residual[i] : dst[i];
    dst[i] = Activate(post, v);
  }
}

absl::Span<const float> Slice(const std::vector<float>& v, int64_t begin, int64_t size) {
  if (v.empty()) return {};
  return absl::Span<const float>(v.data() + begin, static_cast<size_t>(size));
}

}  // namespace

absl::StatusOr<PackedConv> PackedConv::Create(const ConvGeometry& g,
                                              std::vector<PackedMatrix> group_weights) {
  auto fail = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("PackedConv: ", what));
  };
  if (g.groups < 1 || g.in_c < 1 || g.out_c < 1 || g.in_c % g.groups != 0 ||
      g.out_c % g.groups != 0) {
    return fail(absl::StrCat("channels in ", g.in_c, " / out ", g.out_c,
                             " must be positive multiples of groups = ", g.groups));
  }
  if (g.in_h < 1 || g.in_w < 1 || g.out_h < 1 || g.out_w < 1 || g.kernel_h < 1 ||
      g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation < 1 || g.pad_t < 0 ||
      g.pad_l < 0) {
    return fail("sizes, kernel, strides and dilation must be >= 1, padding >= 0");
  }
  if ((g.out_h - 1) * g.stride_h - g.pad_t >= g.in_h ||
      (g.out_w - 1) * g.stride_w - g.pad_l >= g.in_w) {
    return fail(absl::StrCat("output ", g.out_h, "x", g.out_w, " has windows starting past the ",
                             g.in_h, "x", g.in_w, " input"));
  }
  if (static_cast<int>(group_weights.size()) != g.groups) {
    return fail(absl::StrCat(group_weights.size(), " weight matrices for ", g.groups, " groups"));
  }
  for (size_t k = 0; k < group_weights.size(); ++k) {
    const PackedMatrix& m = group_weights[k];
    if (m.rows != g.out_per_group() || m.cols != g.group_cols()) {
      return fail(absl::StrCat("group ", k, "'s weights are ", m.rows, " x ", m.cols,
                               ", expected out/groups x kh*kw*in/groups = ", g.out_per_group(),
                               " x ", g.group_cols()));
    }
  }
  PackedConv conv;
  conv.geometry_ = g;
  conv.group_weights_ = std::move(group_weights);
  const int64_t row_bytes = g.groups * g.group_cols() * static_cast<int64_t>(sizeof(float));
  conv.tile_pixels_ = g.needs_im2col() ? std::max<int64_t>(1, kIm2colTileBytes / row_bytes) : 0;
  return conv;
}

int64_t PackedConv::ScratchFloats() const {
  return tile_pixels_ * geometry_.groups * geometry_.group_cols();
}

int64_t PackedConv::StorageBytes() const {
  int64_t bytes = 0;
  for (const PackedMatrix& m : group_weights_) bytes += m.StorageBytes();
  return bytes;
}

void PackedConv::Im2col(const float* src, int64_t pixel_begin, int64_t pixels, float* out) const {
  const ConvGeometry& g = geometry_;
  const int64_t cg = g.in_per_group();
  const int64_t kg = g.group_cols();
  const int64_t row_floats = g.groups * kg;
  const int64_t plane = static_cast<int64_t>(g.out_h) * g.out_w;
  for (int64_t p = pixel_begin; p < pixel_begin + pixels; ++p) {
    const int64_t n = p / plane;
    const int oy = static_cast<int>((p % plane) / g.out_w);
    const int ox = static_cast<int>(p % g.out_w);
    float* row = out + (p - pixel_begin) * row_floats;
    const float* image = src + n * g.in_h * g.in_w * static_cast<int64_t>(g.in_c);
    for (int ky = 0; ky < g.kernel_h; ++ky) {
      const int iy = oy * g.stride_h - g.pad_t + ky * g.dilation;
      for (int kx = 0; kx < g.kernel_w; ++kx) {
        const int ix = ox * g.stride_w - g.pad_l + kx * g.dilation;
        const int64_t tap = (static_cast<int64_t>(ky) * g.kernel_w + kx) * cg;
        const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
        const float* pixel = image + (static_cast<int64_t>(iy) * g.in_w + ix) * g.in_c;
        for (int grp = 0; grp < g.groups; ++grp) {
          float* dst = row + grp * kg + tap;
          if (inside) {
            std::memcpy(dst, pixel + grp * cg, cg * sizeof(float));
          } else {
            std::memset(dst, 0, cg * sizeof(float));
          }
        }
      }
    }
  }
}

absl::Status PackedConv::Run(const float* src, const float* residual, float* dst, int batch,
                             const ConvEpilogue& epilogue, GemmActivations activations,
                             float* scratch) const {
  const ConvGeometry& g = geometry_;
  if (batch <= 0) return absl::OkStatus();
  const int64_t og = g.out_per_group();
  const int64_t kg = g.group_cols();
  const int64_t pixels_total = static_cast<int64_t>(batch) * g.out_h * g.out_w;
  // With an activation before the add, the GEMM applies it and a second pass adds.
  const bool split = epilogue.act_before_residual != GemmPostOp::kNone;
  const bool second_pass = split && (residual != nullptr || epilogue.post_op != GemmPostOp::kNone);
  const GemmPostOp gemm_post = split ? epilogue.act_before_residual : epilogue.post_op;
  const float* gemm_residual = split ? nullptr : residual;

  // One GEMM per group over `pixels` output pixels starting at `pixel_begin`, reading rows of
  // `x` (x_stride floats apart, group columns kg apart).
  auto gemms = [&](const float* x, int64_t x_stride, int64_t x_group_step, int64_t pixel_begin,
                   int64_t pixels) -> absl::Status {
    for (int grp = 0; grp < g.groups; ++grp) {
      GemmArgs a;
      a.x = x + grp * x_group_step;
      a.x_stride = x_stride;
      a.m = pixels;
      a.y = dst + pixel_begin * g.out_c + grp * og;
      a.y_stride = g.out_c;
      a.activations = activations;
      a.epilogue.out_scale = Slice(epilogue.out_scale, grp * og, og);
      a.epilogue.out_shift = Slice(epilogue.out_shift, grp * og, og);
      if (gemm_residual != nullptr) {
        a.epilogue.residual = gemm_residual + pixel_begin * g.out_c + grp * og;
        a.epilogue.residual_stride = g.out_c;
      }
      a.epilogue.post_op = gemm_post;
      QB_RETURN_IF_ERROR(PackedGemm(group_weights_[grp], a));
    }
    if (second_pass) {
      AddResidualAndActivate(dst + pixel_begin * g.out_c,
                             residual != nullptr ? residual + pixel_begin * g.out_c : nullptr,
                             pixels, g.out_c, epilogue.post_op);
    }
    return absl::OkStatus();
  };

  if (!g.needs_im2col()) {
    return gemms(src, g.in_c, g.in_per_group(), 0, pixels_total);
  }
  const int64_t row_floats = g.groups * kg;
  for (int64_t begin = 0; begin < pixels_total; begin += tile_pixels_) {
    const int64_t pixels = std::min(tile_pixels_, pixels_total - begin);
    Im2col(src, begin, pixels, scratch);
    QB_RETURN_IF_ERROR(gemms(scratch, row_floats, kg, begin, pixels));
  }
  return absl::OkStatus();
}

std::vector<float> PackedConvRef(const PackedConv& conv, const std::vector<float>& src,
                                 const float* residual, int batch, const ConvEpilogue& epilogue) {
  const ConvGeometry& g = conv.geometry();
  const int64_t cg = g.in_per_group(), og = g.out_per_group(), kg = g.group_cols();
  std::vector<std::vector<float>> weights;
  for (const PackedMatrix& m : conv.group_weights()) weights.push_back(Dequantize(m));
  std::vector<float> dst(static_cast<size_t>(batch) * g.out_h * g.out_w * g.out_c);
  for (int n = 0; n < batch; ++n) {
    for (int oy = 0; oy < g.out_h; ++oy) {
      for (int ox = 0; ox < g.out_w; ++ox) {
        const int64_t pixel = (static_cast<int64_t>(n) * g.out_h + oy) * g.out_w + ox;
        for (int o = 0; o < g.out_c; ++o) {
          const int grp = static_cast<int>(o / og);
          const float* w = weights[grp].data() + (o % og) * kg;
          double acc = 0.0;
          for (int ky = 0; ky < g.kernel_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_t + ky * g.dilation;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.kernel_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_l + kx * g.dilation;
              if (ix < 0 || ix >= g.in_w) continue;
              const float* in =
                  src.data() + ((static_cast<int64_t>(n) * g.in_h + iy) * g.in_w + ix) * g.in_c +
                  grp * cg;
              const float* wt = w + (static_cast<int64_t>(ky) * g.kernel_w + kx) * cg;
              for (int64_t c = 0; c < cg; ++c) acc += static_cast<double>(in[c]) * wt[c];
            }
          }
          float v = static_cast<float>(acc);
          if (!epilogue.out_scale.empty()) v *= epilogue.out_scale[o];
          if (!epilogue.out_shift.empty()) v += epilogue.out_shift[o];
          v = Activate(epilogue.act_before_residual, v);
          if (residual != nullptr) v += residual[pixel * g.out_c + o];
          dst[pixel * g.out_c + o] = Activate(epilogue.post_op, v);
        }
      }
    }
  }
  return dst;
}

}  // namespace quantbench
