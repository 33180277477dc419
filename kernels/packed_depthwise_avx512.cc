// PackedDepthwise for AVX-512: vectors run over channels, the innermost dimension of NHWC.
// Per output pixel and block of 16 channels, one register accumulates the window's taps inside
// the image (the reference's operations per channel in the same order: fp32 fused
// multiply-adds, as the reference's std::fma, int32 multiply-adds: bit-identical results),
// then the epilogue in registers and a (masked) store; up to 8 interior pixels share each
// tap's weight load.
// Threads take output rows (n, oy) on demand; int8 images are quantized first, in chunks
// shared by the threads (the image maximum is exact in any order, so the codes do not depend
// on the split).
#include "kernels/packed_depthwise_avx512.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// Below this many multiply-adds a call runs on the calling thread: an OpenMP region costs
// ~8 us on this VM (see kernels/README.md), MobileNet-v2's smallest depthwise layer is 0.4 M.
constexpr int64_t kSerialMacs = int64_t{1} << 18;
// Quantization chunk (floats): large enough to amortize the loop, small enough to split an
// image over two threads.
constexpr int64_t kQuantChunk = int64_t{1} << 14;

float ChunkAbsMax(const float* x, int64_t count) {
  __m512 amax = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) amax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), amax);
  if (i < count) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (count - i)) - 1);
    amax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + i)), amax);
  }
  return _mm512_reduce_max_ps(amax);
}

// QuantizeRowInt8Ref's codes for a known scale: true division, then round half away from
// zero as trunc + one step when the dropped part is >= 0.5 (exact: v - trunc(v) is exact),
// clamp to [-127, 127] (the reference's order of comparisons gives the same for non-NaN v).
void QuantizeChunk(const float* x, int64_t count, float s, int8_t* q) {
  if (s == 0.0f) {
    std::memset(q, 0, static_cast<size_t>(count));
    return;
  }
  const __m512 vs = _mm512_set1_ps(s), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f),
               minus_half = _mm512_set1_ps(-0.5f), hi = _mm512_set1_ps(127.0f),
               lo = _mm512_set1_ps(-127.0f);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? static_cast<__mmask16>(0xffff)
                                        : static_cast<__mmask16>((1u << (count - i)) - 1);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 d = _mm512_sub_ps(v, t);
    t = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(d, half, _CMP_GE_OQ), t, one);
    t = _mm512_mask_sub_ps(t, _mm512_cmp_ps_mask(d, minus_half, _CMP_LE_OQ), t, one);
    t = _mm512_max_ps(_mm512_min_ps(t, hi), lo);
    _mm_mask_storeu_epi8(q + i, m, _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(t)));
  }
}

// The epilogue on 16 channels in registers, ApplyEpilogueRef's steps in its order
// (vmaxps(y, 0) is y > 0 ? y : 0 and vminps(y, 6) is y < 6 ? y : 6, NaN included).
inline __attribute__((always_inline)) __m512 Epilogue(const GemmEpilogue& e, int64_t pixel, int c, __mmask16 m, __m512 y) {
  if (!e.out_scale.empty()) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, e.out_scale.data() + c));
  if (!e.out_shift.empty()) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, e.out_shift.data() + c));
  if (e.residual != nullptr) {
    y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, e.residual + pixel * e.residual_stride + c));
  }
  if (e.post_op == GemmPostOp::kRelu || e.post_op == GemmPostOp::kRelu6) {
    y = _mm512_max_ps(y, _mm512_setzero_ps());
  }
  if (e.post_op == GemmPostOp::kRelu6) y = _mm512_min_ps(y, _mm512_set1_ps(6.0f));
  return y;
}

// P output pixels (consecutive in y, P > 1 only where every tap is inside the image) through
// the same `taps` taps: pixel p reads input offset base[p] + in_offset[t] (NHWC floats/codes)
// and weight offset w_offset[t]. Per block of 16 channels the P accumulators stay in
// registers over all taps (each tap's weights loaded once for the P pixels), then the epilogue
// in registers and a masked store. Per output the taps are added in the reference's order.
template <int P, bool kInt8>
void Pixels(const DepthwiseGeometry& g, const DepthwiseWeights& w, const GemmEpilogue& e,
            const float* x, const int8_t* q, float s, int taps, const int64_t* in_offset,
            const int64_t* w_offset, const int64_t* base, int64_t pixel0, float* y) {
  // CB channel blocks at once, so there are P * CB >= 8 independent accumulator chains (one
  // pixel alone would wait on its taps' dependent multiply-adds).
  constexpr int CB = P >= 8 ? 1 : 8 / P;
  const int channels = g.channels;
  const __m512 vs = _mm512_set1_ps(s);
  for (int c0 = 0; c0 < channels; c0 += 16 * CB) {
    __mmask16 m[CB];
#pragma GCC unroll 8
    for (int b = 0; b < CB; ++b) {
      const int left = channels - c0 - 16 * b;
      m[b] = left >= 16 ? static_cast<__mmask16>(0xffff)
                        : left <= 0 ? static_cast<__mmask16>(0)
                                    : static_cast<__mmask16>((1u << left) - 1);
    }
    __m512 v[P][CB];
    if (kInt8) {
      __m512i acc[P][CB];
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
        for (int b = 0; b < CB; ++b) acc[p][b] = _mm512_setzero_si512();
      }
      for (int t = 0; t < taps; ++t) {
#pragma GCC unroll 8
        for (int b = 0; b < CB; ++b) {
          const int c = c0 + 16 * b;
          const __m512i wi = _mm512_cvtepi16_epi32(
              _mm256_maskz_loadu_epi16(m[b], w.codes.data() + w_offset[t] + c));
#pragma GCC unroll 8
          for (int p = 0; p < P; ++p) {
            const __m512i qi =
                _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m[b], q + base[p] + in_offset[t] + c));
            acc[p][b] = _mm512_add_epi32(acc[p][b], _mm512_mullo_epi32(qi, wi));
          }
        }
      }
#pragma GCC unroll 8
      for (int b = 0; b < CB; ++b) {
        const __m512 sf =
            _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m[b], w.factor.data() + c0 + 16 * b));
#pragma GCC unroll 8
        for (int p = 0; p < P; ++p) v[p][b] = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[p][b]), sf);
      }
    } else {
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
        for (int b = 0; b < CB; ++b) v[p][b] = _mm512_setzero_ps();
      }
      for (int t = 0; t < taps; ++t) {
#pragma GCC unroll 8
        for (int b = 0; b < CB; ++b) {
          const int c = c0 + 16 * b;
          const __m512 wv = _mm512_maskz_loadu_ps(m[b], w.values.data() + w_offset[t] + c);
#pragma GCC unroll 8
          for (int p = 0; p < P; ++p) {
            v[p][b] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[b], x + base[p] + in_offset[t] + c),
                                      wv, v[p][b]);
          }
        }
      }
    }
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
      for (int b = 0; b < CB; ++b) {
        const int c = c0 + 16 * b;
        if (m[b] == 0) continue;
        _mm512_mask_storeu_ps(y + (pixel0 + p) * channels + c, m[b],
                              Epilogue(e, pixel0 + p, c, m[b], v[p][b]));
      }
    }
  }
}

// One output row (n, oy): out_w pixels x channels. Interior runs of 8 (else 4) pixels whose whole
// window is inside the image share one tap list (offsets relative to each pixel's window
// origin); border pixels list their own inside taps. q / s: the image's int8 codes and scale
// (int8 path), x: its fp32 values.
template <bool kInt8>
void OutputRow(const DepthwiseGeometry& g, const DepthwiseWeights& w, const DepthwiseArgs& a,
               const float* x, const int8_t* q, float s, int n, int oy) {
  thread_local std::vector<int64_t> offsets;
  const int channels = g.channels;
  const int taps = g.taps();
  if (static_cast<int>(offsets.size()) < 3 * taps) offsets.resize(3 * taps);
  int64_t* rel_offset = offsets.data();         // interior: relative input offsets
  int64_t* in_offset = rel_offset + taps;       // border pixel: absolute input offsets
  int64_t* w_offset = in_offset + taps;         // border pixel: its taps' weights
  int64_t* all_w_offset = nullptr;              // interior: every tap, in order
  thread_local std::vector<int64_t> every_tap;
  if (static_cast<int>(every_tap.size()) < taps) every_tap.resize(taps);
  all_w_offset = every_tap.data();
  for (int ky = 0; ky < g.kernel_h; ++ky) {
    for (int kx = 0; kx < g.kernel_w; ++kx) {
      const int t = ky * g.kernel_w + kx;
      rel_offset[t] =
          (static_cast<int64_t>(ky) * g.dilation * g.in_w + static_cast<int64_t>(kx) * g.dilation) *
          channels;
      all_w_offset[t] = static_cast<int64_t>(t) * channels;
    }
  }
  const int iy0 = oy * g.stride_h - g.pad_t;
  const bool row_inside = iy0 >= 0 && iy0 + (g.kernel_h - 1) * g.dilation < g.in_h;
  auto column_inside = [&](int ox) {
    const int ix0 = ox * g.stride_w - g.pad_l;
    return ix0 >= 0 && ix0 + (g.kernel_w - 1) * g.dilation < g.in_w;
  };
  const int64_t row_pixel = (static_cast<int64_t>(n) * g.out_h + oy) * g.out_w;
  const int64_t zero = 0;
  // Interior run of P pixels starting at ox: every tap of all of them is inside the image.
  auto interior = [&](int ox, int p) {
    return row_inside && ox + p <= g.out_w && column_inside(ox) && column_inside(ox + p - 1);
  };
  auto block = [&](auto pixels_constant, int ox) {
    constexpr int kP = decltype(pixels_constant)::value;
    int64_t base[kP];
    for (int p = 0; p < kP; ++p) {
      base[p] = (static_cast<int64_t>(iy0) * g.in_w + (ox + p) * g.stride_w - g.pad_l) * channels;
    }
    Pixels<kP, kInt8>(g, w, a.epilogue, x, q, s, taps, rel_offset, all_w_offset, base,
                      row_pixel + ox, a.y);
  };
  for (int ox = 0; ox < g.out_w;) {
    if (interior(ox, 8)) {
      block(std::integral_constant<int, 8>(), ox);
      ox += 8;
      continue;
    }
    if (interior(ox, 4)) {
      block(std::integral_constant<int, 4>(), ox);
      ox += 4;
      continue;
    }
    int inside = 0;
    g.ForEachTapInside(oy, ox, [&](int tap, int64_t input_pixel) {
      in_offset[inside] = input_pixel * channels;
      w_offset[inside] = static_cast<int64_t>(tap) * channels;
      ++inside;
    });
    Pixels<1, kInt8>(g, w, a.epilogue, x, q, s, inside, in_offset, w_offset, &zero,
                     row_pixel + ox, a.y);
    ++ox;
  }
}

}  // namespace

absl::Status PackedDepthwiseAvx512(const DepthwiseGeometry& g, const DepthwiseWeights& w,
                                   const DepthwiseArgs& a) {
  QB_RETURN_IF_ERROR(ValidateDepthwiseArgs(g, w, a));
  if (a.batch == 0) return absl::OkStatus();
  const bool int8 = a.activations == GemmActivations::kInt8 && w.integer;
  const int64_t image = static_cast<int64_t>(g.in_h) * g.in_w * g.channels;
  const int64_t rows = static_cast<int64_t>(a.batch) * g.out_h;
  const int64_t macs = rows * g.out_w * g.channels * g.taps();
  int threads = a.threads > 0 ? a.threads : omp_get_max_threads();
  if (omp_in_parallel() || macs < kSerialMacs) threads = 1;

  // Kept per calling thread between calls: no allocation once every layer has run.
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<float> chunk_max;
  thread_local std::vector<float> image_scale;
  const int64_t chunks_per_image = (image + kQuantChunk - 1) / kQuantChunk;
  if (int8) {
    if (static_cast<int64_t>(codes.size()) < a.batch * image) codes.resize(a.batch * image);
    chunk_max.assign(static_cast<size_t>(a.batch * chunks_per_image), 0.0f);
    image_scale.assign(a.batch, 0.0f);
  }
  int8_t* q = codes.data();
  float* cmax = chunk_max.data();
  float* scale = image_scale.data();
  const int64_t chunks = a.batch * chunks_per_image;
  auto chunk_range = [&](int64_t k, int64_t* begin, int64_t* count) {
    const int64_t n = k / chunks_per_image, j = k % chunks_per_image;
    *begin = n * image + j * kQuantChunk;
    *count = std::min(kQuantChunk, image - j * kQuantChunk);
  };

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    if (int8) {
#pragma omp for schedule(static)
      for (int64_t k = 0; k < chunks; ++k) {
        int64_t begin, count;
        chunk_range(k, &begin, &count);
        cmax[k] = ChunkAbsMax(a.x + begin, count);
      }
#pragma omp single
      for (int n = 0; n < a.batch; ++n) {
        float amax = 0.0f;
        for (int64_t j = 0; j < chunks_per_image; ++j) {
          const float m = cmax[n * chunks_per_image + j];
          amax = m > amax ? m : amax;
        }
        scale[n] = amax / 127.0f;
      }
#pragma omp for schedule(static)
      for (int64_t k = 0; k < chunks; ++k) {
        int64_t begin, count;
        chunk_range(k, &begin, &count);
        QuantizeChunk(a.x + begin, count, scale[k / chunks_per_image], q + begin);
      }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int n = static_cast<int>(r / g.out_h);
      const int oy = static_cast<int>(r % g.out_h);
      if (int8) {
        OutputRow<true>(g, w, a, a.x + n * image, q + n * image, scale[n], n, oy);
      } else {
        OutputRow<false>(g, w, a, a.x + n * image, nullptr, 0.0f, n, oy);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace quantbench
