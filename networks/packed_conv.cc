#include "networks/packed_conv.h"

#include <omp.h>

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

// Pixel-tile parallelism (see PackedConv::Run): every thread multiplies its own tiles by the
// whole weight matrix, so it pays only while the weights stay in each core's L2 (1 MiB on this
// Zen 5) next to the tile, and when there are enough pixels to keep both threads busy.
constexpr int64_t kPixelSplitMaxWeightBytes = int64_t{512} << 10;
constexpr int64_t kPixelSplitMinPixelsPerThread = 32;
// im2col scratch of one thread's tile: small enough to stay in L2 with the weights.
constexpr int64_t kPixelTileBytes = int64_t{256} << 10;
// Tiles per thread: the dynamic schedule can then even out a core slowed by another process.
constexpr int64_t kPixelTilesPerThread = 4;
// Tile sizes are multiples of the kernels' 8-row activation tile: then the GEMM splits the
// pixels into the same 8-row tiles whatever the tile size, and fp32-activation results (whose
// summation order depends on the kernel's tile height) do not depend on the thread count.
constexpr int64_t kPixelAlign = 8;

int64_t RoundDownToAlign(int64_t v) { return std::max(kPixelAlign, v / kPixelAlign * kPixelAlign); }

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
  conv.tile_pixels_ = g.needs_im2col() ? RoundDownToAlign(kIm2colTileBytes / row_bytes) : 0;
  conv.max_parallel_tile_pixels_ = RoundDownToAlign(kPixelTileBytes / row_bytes);
  conv.weight_bytes_ = conv.StorageBytes();
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
  const bool contiguous_taps = g.groups == 1 && g.dilation == 1;
  for (int64_t p = pixel_begin; p < pixel_begin + pixels; ++p) {
    const int64_t n = p / plane;
    const int oy = static_cast<int>((p % plane) / g.out_w);
    const int ox = static_cast<int>(p % g.out_w);
    float* row = out + (p - pixel_begin) * row_floats;
    const float* image = src + n * g.in_h * g.in_w * static_cast<int64_t>(g.in_c);
    for (int ky = 0; ky < g.kernel_h; ++ky) {
      const int iy = oy * g.stride_h - g.pad_t + ky * g.dilation;
      const int ix0 = ox * g.stride_w - g.pad_l;
      if (contiguous_taps && iy >= 0 && iy < g.in_h && ix0 >= 0 && ix0 + g.kernel_w <= g.in_w) {
        // One group, undilated, window row inside the image: its kw taps are kw neighbouring
        // pixels, i.e. one run of kw * in_c floats in NHWC (conv1's 3-channel taps would
        // otherwise be 49 tiny copies per pixel).
        std::memcpy(row + static_cast<int64_t>(ky) * g.kernel_w * cg,
                    image + (static_cast<int64_t>(iy) * g.in_w + ix0) * g.in_c,
                    g.kernel_w * cg * sizeof(float));
        continue;
      }
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

absl::Status PackedConv::RunTile(const float* src, const float* residual, float* dst,
                                 int64_t pixel_begin, int64_t pixels, const ConvEpilogue& epilogue,
                                 GemmActivations activations, int gemm_threads,
                                 float* scratch) const {
  const ConvGeometry& g = geometry_;
  const int64_t og = g.out_per_group();
  const int64_t kg = g.group_cols();
  // With an activation before the add, the GEMM applies it and a second pass adds.
  const bool split = epilogue.act_before_residual != GemmPostOp::kNone;
  const bool second_pass = split && (residual != nullptr || epilogue.post_op != GemmPostOp::kNone);
  const GemmPostOp gemm_post = split ? epilogue.act_before_residual : epilogue.post_op;
  const float* gemm_residual = split ? nullptr : residual;

  // The GEMM input: the im2col rows of the tile, or the NHWC activations themselves.
  const float* x = src + pixel_begin * g.in_c;
  int64_t x_stride = g.in_c;
  int64_t x_group_step = g.in_per_group();
  if (g.needs_im2col()) {
    Im2col(src, pixel_begin, pixels, scratch);
    x = scratch;
    x_stride = g.groups * kg;
    x_group_step = kg;
  }
  for (int grp = 0; grp < g.groups; ++grp) {
    GemmArgs a;
    a.x = x + grp * x_group_step;
    a.x_stride = x_stride;
    a.m = pixels;
    a.y = dst + pixel_begin * g.out_c + grp * og;
    a.y_stride = g.out_c;
    a.activations = activations;
    a.threads = gemm_threads;
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
}

absl::Status PackedConv::Run(const float* src, const float* residual, float* dst, int batch,
                             const ConvEpilogue& epilogue, GemmActivations activations,
                             float* scratch) const {
  const ConvGeometry& g = geometry_;
  if (batch <= 0) return absl::OkStatus();
  const int64_t pixels_total = static_cast<int64_t>(batch) * g.out_h * g.out_w;
  // Inside someone else's parallel region a nested team would get one thread anyway.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();

  // Many pixels, small weights (ResNet's 56x56 .. 14x14 stages): each thread takes whole pixel
  // tiles and does im2col, int8 quantization and the GEMM of its tile on its own core in one
  // OpenMP region. Splitting each GEMM instead (below) leaves im2col serial, costs a fork/join
  // and barrier per GEMM, and moves the im2col / quantized rows between the cores' caches.
  if (threads > 1 && weight_bytes_ <= kPixelSplitMaxWeightBytes &&
      pixels_total >= kPixelSplitMinPixelsPerThread * threads) {
    const int64_t wanted = (pixels_total + kPixelTilesPerThread * threads - 1) /
                           (kPixelTilesPerThread * threads);
    const int64_t tile = std::min(max_parallel_tile_pixels_,
                                  (wanted + kPixelAlign - 1) / kPixelAlign * kPixelAlign);
    const int64_t tiles = (pixels_total + tile - 1) / tile;
    const int64_t scratch_floats = g.needs_im2col() ? tile * g.groups * g.group_cols() : 0;
    absl::Status first_error;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t t = 0; t < tiles; ++t) {
      // Per thread, kept between calls: no allocation once every layer has run.
      thread_local std::vector<float> tile_scratch;
      if (static_cast<int64_t>(tile_scratch.size()) < scratch_floats) {
        tile_scratch.resize(static_cast<size_t>(scratch_floats));
      }
      const int64_t begin = t * tile;
      const absl::Status s =
          RunTile(src, residual, dst, begin, std::min(tile, pixels_total - begin), epilogue,
                  activations, /*gemm_threads=*/1, tile_scratch.data());
      if (!s.ok()) {
#pragma omp critical(quantbench_packed_conv_error)
        if (first_error.ok()) first_error = s;
      }
    }
    return first_error;
  }

  // Few pixels or large weights (ResNet's 7x7 stage, dense layers): the GEMM splits its output
  // rows (or activation tiles) over the threads itself.
  if (!g.needs_im2col()) {
    return RunTile(src, residual, dst, 0, pixels_total, epilogue, activations, threads, nullptr);
  }
  for (int64_t begin = 0; begin < pixels_total; begin += tile_pixels_) {
    QB_RETURN_IF_ERROR(RunTile(src, residual, dst, begin,
                               std::min(tile_pixels_, pixels_total - begin), epilogue,
                               activations, threads, scratch));
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
