// AVX2 + FMA PackedGemm. The layout (packed_layout.h) is shaped for 64-byte vectors of 16 rows
// x 4 columns; a 32-byte ymm holds one half of it, 8 rows x 4 columns (byte 4*i + j = row i,
// column j of the half), so every kernel here works on row blocks as two halves of 8 rows.
//
//   int8 activations, 1-4-bit codes (uniform, ternary, codebook indicators): vpmaddubsw
//     (u8 code x s8 activation, adjacent pairs summed to int16) then vpmaddwd by 1 (pairs to
//     int32) emulates VNNI's 4 products per int32 lane. vpmaddubsw saturates at +-32767, but
//     with codes <= 15 and |q| <= 127 a pair is at most 2 * 15 * 127 = 3810, so it never
//     does and the sums stay exact (bit-exact against the reference, like AVX-512).
//   int8 activations, 8-bit codes: a pair could reach 2 * 255 * 127 = 64770 and saturate, so
//     codes are widened to int16 (unpack with zero), activations sign-extended to int16, and
//     vpmaddwd multiplies exactly; vphaddd folds the two column pairs of each row.
//   fp32 activations: as AVX-512, per column of a decoded group 8 weights per half (cvt - zero
//     point, vpermps per-layer table, vgatherdps per-row table), one FMA per activation row.
//
// Blocking: tasks of (one row block, up to kMaxTile activation rows) so 2 x kMaxTile
// accumulators plus decoded codes fit the 16 ymm registers; threads take tasks on demand,
// each output is computed by one task in a fixed order, so results do not depend on the
// thread count. Calls under 2^19 multiply-adds stay on the calling thread.
#include "kernels/packed_gemm_avx2.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/gemm_validation.h"
#include "kernels/int8_scratch.h"
#include "kernels/packed_layout.h"
#include "kernels/unroll.h"

namespace quantbench {
namespace {

using packed_layout::kRowBlock;
using packed_layout::kSubBlockBytes;
using packed_layout::kSuperBlockCols;

constexpr int kHalfRows = 8;     // rows per ymm of decoded codes
constexpr int kHalfBytes = 32;   // bytes of one half of a 64-byte sub-block
constexpr int kMaxTile = 4;      // activation rows sharing one decoded weight vector

// Codes of column group G (0..7) for the half (8 rows) of the super-block at p (p already
// offset by 32 * half), one byte per (row, column).
template <int BITS, int G>
inline __attribute__((always_inline)) __m256i DecodeHalf(const uint8_t* p) {
  if constexpr (BITS == 8) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p + kSubBlockBytes * G));
  } else if constexpr (BITS == 3) {
    const __m256i low = DecodeHalf<2, G>(p);
    const __m256i high = DecodeHalf<1, G>(p + 2 * kSubBlockBytes);
    return _mm256_or_si256(low, _mm256_slli_epi16(high, 2));  // high is 0/1: no byte carry
  } else {
    constexpr int kPerByte = 8 / BITS;
    constexpr int kShift = BITS * (G % kPerByte);
    const __m256i v =
        _mm256_load_si256(reinterpret_cast<const __m256i*>(p + kSubBlockBytes * (G / kPerByte)));
    const __m256i mask = _mm256_set1_epi8(static_cast<char>((1 << BITS) - 1));
    if constexpr (kShift == 0) return _mm256_and_si256(v, mask);
    // A 16-bit shift drags bits of the neighbouring byte in at the top; the AND drops them.
    return _mm256_and_si256(_mm256_srli_epi16(v, kShift), mask);
  }
}

// Column KK (0..3) of a decoded half as 8 int32 lanes (one per row).
template <int KK>
inline __attribute__((always_inline)) __m256i ColumnOf(__m256i codes) {
  if constexpr (KK == 3) return _mm256_srli_epi32(codes, 24);
  if constexpr (KK == 0) return _mm256_and_si256(codes, _mm256_set1_epi32(0xFF));
  return _mm256_and_si256(_mm256_srli_epi32(codes, 8 * KK), _mm256_set1_epi32(0xFF));
}

inline int32_t Load4Bytes(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// All-ones int32 lanes for the first `valid` of 8 (vmaskmov masks: masked lanes are neither
// read nor written, so padded rows never touch memory past the spans).
inline __m256i LaneMask(int64_t valid) {
  const int32_t v = static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(valid, 0), 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Everything a task needs; built once per call.
struct Problem : packed_layout::PlaneGeometry {
  const PackedMatrix* w;
  const GemmArgs* args;
  // int8 activations: row-major, row i at q + i * padded_cols, zero padded to padded_cols.
  const int8_t* q = nullptr;
  const float* q_scale = nullptr;
  const int32_t* q_sum = nullptr;
  // fp32 activations are read in place; only the last, partial super-block of columns goes
  // through a zero-padded copy on the stack.
  const float* x = nullptr;
  int64_t x_stride = 0;
};

// Epilogue of packed_gemm.h on 8 outputs (rows r0.., activation row m), then the store.
inline __attribute__((always_inline)) void StoreWithEpilogue(const Problem& pb, int64_t m,
                                                             int64_t r0, __m256i rows, __m256 y) {
  const GemmEpilogue& e = pb.args->epilogue;
  if (!e.out_scale.empty()) y = _mm256_mul_ps(y, _mm256_maskload_ps(e.out_scale.data() + r0, rows));
  if (!e.out_shift.empty()) y = _mm256_add_ps(y, _mm256_maskload_ps(e.out_shift.data() + r0, rows));
  if (e.residual != nullptr) {
    y = _mm256_add_ps(y, _mm256_maskload_ps(e.residual + m * e.residual_stride + r0, rows));
  }
  // vmaxps / vminps return the second operand unless the first compares greater / less:
  // exactly the reference's (y > 0 ? y : 0) and (y < 6 ? y : 6).
  if (e.post_op == GemmPostOp::kRelu || e.post_op == GemmPostOp::kRelu6) {
    y = _mm256_max_ps(y, _mm256_setzero_ps());
  }
  if (e.post_op == GemmPostOp::kRelu6) y = _mm256_min_ps(y, _mm256_set1_ps(6.0f));
  _mm256_maskstore_ps(pb.args->y + m * pb.args->y_stride + r0, rows, y);
}

// ---------------------------------------------------------------------------------------------
// int8 activations

// Adds sum over one column group of codes x q to the 8 int32 lanes of acc (one per row): the
// exact emulation of vpdpbusd for 8 rows (see the file comment for why each form is exact).
template <int BITS>
inline __attribute__((always_inline)) __m256i DotGroup(__m256i acc, __m256i codes, const int8_t* q) {
  if constexpr (BITS == 8) {
    // [q0 q1 q2 q3] as int16, repeated: the operand of both unpacked halves.
    const __m256i q16 = _mm256_cvtepi8_epi16(_mm_set1_epi32(Load4Bytes(q)));
    const __m256i zero = _mm256_setzero_si256();
    // unpacklo: rows 0, 1 | 4, 5 of the half as int16; unpackhi: rows 2, 3 | 6, 7. After
    // vpmaddwd each row is two int32 lanes; vphaddd(lo, hi) sums them into rows 0..3 | 4..7.
    const __m256i lo = _mm256_madd_epi16(_mm256_unpacklo_epi8(codes, zero), q16);
    const __m256i hi = _mm256_madd_epi16(_mm256_unpackhi_epi8(codes, zero), q16);
    return _mm256_add_epi32(acc, _mm256_hadd_epi32(lo, hi));
  } else {
    const __m256i pairs = _mm256_maddubs_epi16(codes, _mm256_set1_epi32(Load4Bytes(q)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
}

// acc[i * 2 + h] = sum_k q[m0 + i, k] * code(16 * rb + 8 * h + lane, k) over one plane of one
// row block, for the MT activation rows from m0. Integer sums are exact in any order.
template <int BITS, int MT>
inline __attribute__((always_inline)) void DotInt8Block(const Problem& pb, const uint8_t* block,
                                                        int64_t m0, __m256i* acc) {
#pragma GCC unroll 8
  for (int j = 0; j < 2 * MT; ++j) acc[j] = _mm256_setzero_si256();
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  const int64_t qs = pb.padded_cols;
  const int8_t* q = pb.q + m0 * qs;
  for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
    const uint8_t* p = block + sb * sb_bytes;
    const int8_t* qk = q + sb * kSuperBlockCols;
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      const __m256i codes[2] = {DecodeHalf<BITS, G>(p), DecodeHalf<BITS, G>(p + kHalfBytes)};
#pragma GCC unroll 4
      for (int i = 0; i < MT; ++i) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          acc[i * 2 + h] = DotGroup<BITS>(acc[i * 2 + h], codes[h], qk + i * qs + 4 * G);
        }
      }
    });
  }
}

// kUniform, kTernary, kTernaryPlanes with int8 activations: row block rb, activation rows
// m0 .. m0 + MT - 1. The float steps are the reference's, operation for operation.
template <int BITS, int MT>
void TileInt8Linear(const Problem& pb, int64_t rb, int64_t m0) {
  const PackedMatrix& w = *pb.w;
  const int64_t r0 = rb * kRowBlock;
  const __m256i rows[2] = {LaneMask(w.rows - r0), LaneMask(w.rows - r0 - kHalfRows)};
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  __m256 y[2 * MT];
  __m256i acc[2 * MT];
  if (w.format == PackedFormat::kUniform) {
    DotInt8Block<BITS, MT>(pb, block, m0, acc);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const int64_t rh = r0 + h * kHalfRows;
      const __m256 scale = _mm256_maskload_ps(w.scale.data() + rh, rows[h]);
      const __m256i zp2 = _mm256_maskload_epi32(w.zero_point_x2.data() + rh, rows[h]);
#pragma GCC unroll 4
      for (int i = 0; i < MT; ++i) {
        // acc = 2 * dot - zero_point_x2 * sum(q);  y = acc * (s * scale * 0.5f)
        const __m256i a = _mm256_sub_epi32(
            _mm256_slli_epi32(acc[i * 2 + h], 1),
            _mm256_mullo_epi32(zp2, _mm256_set1_epi32(pb.q_sum[m0 + i])));
        const __m256 f = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(pb.q_scale[m0 + i]), scale),
                                       _mm256_set1_ps(0.5f));
        y[i * 2 + h] = _mm256_mul_ps(_mm256_cvtepi32_ps(a), f);
      }
    }
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < 2 * MT; ++j) y[j] = _mm256_setzero_ps();
    for (int p = 0; p < w.planes; ++p) {
      DotInt8Block<BITS, MT>(pb, block + p * pb.plane_bytes, m0, acc);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const int64_t rh = r0 + h * kHalfRows;
        const __m256 scale = _mm256_maskload_ps(w.scale.data() + p * w.rows + rh, rows[h]);
#pragma GCC unroll 4
        for (int i = 0; i < MT; ++i) {
          // Stored codes are t + 1: sum(q * t) = dot - sum(q).
          const __m256i a = _mm256_sub_epi32(acc[i * 2 + h], _mm256_set1_epi32(pb.q_sum[m0 + i]));
          const __m256 f = _mm256_mul_ps(_mm256_set1_ps(pb.q_scale[m0 + i]), scale);
          const __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(a), f);
          // kTernary: y = term (the reference returns the product itself, not 0 + product).
          y[i * 2 + h] = (w.format == PackedFormat::kTernary) ? term : _mm256_add_ps(y[i * 2 + h], term);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MT; ++i) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) StoreWithEpilogue(pb, m0 + i, r0 + h * kHalfRows, rows[h], y[i * 2 + h]);
  }
}

// Activation rows per codebook task: TILE * (2^bits - 1) level sums of one half must fit the
// registers next to the codes, the indicator and the broadcast.
constexpr int CodebookTile(int bits) { return bits == 1 ? 4 : (bits == 2 ? 3 : 1); }

// kCodebook with int8 activations: one exact int32 sum of q per level (level 0 is
// sum(q) - the others), combined in level order like the reference. One half (8 rows) at a
// time: 15 level sums of a 4-bit table already take most of the 16 registers.
template <int BITS, int TILE>
void TileInt8Codebook(const Problem& pb, int64_t rb, int64_t m0) {
  constexpr int kLevels = 1 << BITS;
  constexpr int kCounted = kLevels - 1;  // levels 1..L-1 are counted, level 0 derived
  const PackedMatrix& w = *pb.w;
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  const int64_t qs = pb.padded_cols;
  const int8_t* q = pb.q + m0 * qs;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  for (int h = 0; h < 2; ++h) {
    const int64_t rh = rb * kRowBlock + h * kHalfRows;
    const __m256i rows = LaneMask(w.rows - rh);
    __m256i sums[TILE * kCounted];
#pragma GCC unroll 64
    for (auto& s : sums) s = _mm256_setzero_si256();
    for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
      const uint8_t* p = block + sb * sb_bytes + h * kHalfBytes;
      const int8_t* qk = q + sb * kSuperBlockCols;
      Unroll<8>([&](auto g) __attribute__((always_inline)) {
        constexpr int G = decltype(g)::value;
        const __m256i codes = DecodeHalf<BITS, G>(p);
        Unroll<kCounted>([&](auto lc) __attribute__((always_inline)) {
          constexpr int L = decltype(lc)::value + 1;
          // vpshufb with a one-hot table: byte = 1 where the code is L (codes < 16). A 0/1
          // indicator times q: vpmaddubsw pairs are at most 254, far from saturating.
          const __m256i onehot = _mm256_broadcastsi128_si256(_mm_insert_epi8(_mm_setzero_si128(), 1, L));
          const __m256i indicator = _mm256_shuffle_epi8(onehot, codes);
#pragma GCC unroll 4
          for (int i = 0; i < TILE; ++i) {
            __m256i& s = sums[i * kCounted + (L - 1)];
            s = DotGroup<1>(s, indicator, qk + i * qs + 4 * G);
          }
        });
      });
    }
    // Lane i of column[l] is row rh + i's level l (per-layer tables broadcast).
    alignas(32) float t[16][8] = {};
    for (int i = 0; i < kHalfRows && rh + i < w.rows; ++i) {
      const float* src = w.table.data() + (w.per_row_table ? (rh + i) * 16 : 0);
      for (int l = 0; l < kLevels; ++l) t[l][i] = src[l];
    }
#pragma GCC unroll 4
    for (int i = 0; i < TILE; ++i) {
      __m256i counted = _mm256_setzero_si256();
      for (int l = 1; l < kLevels; ++l) counted = _mm256_add_epi32(counted, sums[i * kCounted + l - 1]);
      const __m256i level0 = _mm256_sub_epi32(_mm256_set1_epi32(pb.q_sum[m0 + i]), counted);
      __m256 acc = _mm256_setzero_ps();
      for (int l = 0; l < kLevels; ++l) {
        const __m256i sum = l == 0 ? level0 : sums[i * kCounted + l - 1];
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_load_ps(t[l]), _mm256_cvtepi32_ps(sum)));
      }
      StoreWithEpilogue(pb, m0 + i, rh, rows, _mm256_mul_ps(acc, _mm256_set1_ps(pb.q_scale[m0 + i])));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// fp32 activations

// Turn 8 int32 codes (one per row of half h) into 8 weights without the per-row scale.
struct LinearValues {  // code - zero_point / 2  (exact in float)
  __m256 half_zero[2];
  __attribute__((always_inline)) __m256 operator()(__m256i code, int h) const {
    return _mm256_sub_ps(_mm256_cvtepi32_ps(code), half_zero[h]);
  }
};
// vpermps looks up 8 entries; a 16-entry (4-bit) table takes two and a blend on code bit 3.
template <bool kSixteen>
struct LayerTableValues {
  __m256 low, high;
  __attribute__((always_inline)) __m256 operator()(__m256i code, int) const {
    const __m256 a = _mm256_permutevar8x32_ps(low, code);
    if constexpr (!kSixteen) return a;
    const __m256 b = _mm256_permutevar8x32_ps(high, code);
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(code, 28)));
  }
};
// Per-row tables: every lane needs its own row's table, which no AVX2 permute provides, so a
// gather from the table itself (padded rows read row 0's table; they are never stored).
struct RowTableValues {
  const float* table;
  __m256i row_offset[2];  // 16 * row for each lane of each half
  __attribute__((always_inline)) __m256 operator()(__m256i code, int h) const {
    return _mm256_i32gather_ps(table, _mm256_add_epi32(code, row_offset[h]), 4);
  }
};

// Independent accumulator chains per activation row so short tiles are not FMA-latency bound.
template <int TILE>
constexpr int ChainsPerRow() {
  return TILE == 1 ? 4 : (TILE == 2 ? 2 : 1);
}

// acc[i * 2 + h] = sum_k x[m0 + i, k] * value(code(16 * rb + 8 * h + lane, k)) over one plane
// of one row block. Only the last partial super-block of x is copied, zero padded: padding
// codes can have nonzero values (code 0 - zero point) and must meet x = 0.
template <int BITS, int TILE, class Values>
inline __attribute__((always_inline)) void DotFloat(const Problem& pb, const uint8_t* block,
                                                    int64_t m0, const Values& values, __m256* acc) {
  constexpr int kChains = ChainsPerRow<TILE>();
  __m256 part[2 * TILE * kChains];
  for (auto& a : part) a = _mm256_setzero_ps();
  const float* x = pb.x + m0 * pb.x_stride;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  auto super_block = [&](const uint8_t* p, const float* xk, int64_t xs) __attribute__((always_inline)) {
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      const __m256i codes[2] = {DecodeHalf<BITS, G>(p), DecodeHalf<BITS, G>(p + kHalfBytes)};
      Unroll<4>([&](auto kk) __attribute__((always_inline)) {
        constexpr int KK = decltype(kk)::value;
        const __m256 wv[2] = {values(ColumnOf<KK>(codes[0]), 0), values(ColumnOf<KK>(codes[1]), 1)};
#pragma GCC unroll 4
        for (int i = 0; i < TILE; ++i) {
          const __m256 xv = _mm256_set1_ps(xk[i * xs + 4 * G + KK]);
#pragma GCC unroll 2
          for (int h = 0; h < 2; ++h) {
            __m256& a = part[(i * 2 + h) * kChains + KK % kChains];
            a = _mm256_fmadd_ps(wv[h], xv, a);
          }
        }
      });
    });
  };
  for (int64_t sb = 0; sb < pb.full_super_blocks; ++sb) {
    super_block(block + sb * sb_bytes, x + sb * kSuperBlockCols, pb.x_stride);
  }
  if (pb.tail_cols > 0) {
    alignas(32) float tail[TILE][kSuperBlockCols] = {};
    const int64_t k0 = pb.full_super_blocks * kSuperBlockCols;
    for (int i = 0; i < TILE; ++i) {
      std::memcpy(tail[i], x + i * pb.x_stride + k0, static_cast<size_t>(pb.tail_cols) * sizeof(float));
    }
    super_block(block + pb.full_super_blocks * sb_bytes, &tail[0][0], kSuperBlockCols);
  }
#pragma GCC unroll 8
  for (int j = 0; j < 2 * TILE; ++j) {
    acc[j] = part[j * kChains];
#pragma GCC unroll 4
    for (int c = 1; c < kChains; ++c) acc[j] = _mm256_add_ps(acc[j], part[j * kChains + c]);
  }
}

template <int BITS, int TILE>
void TileFloat(const Problem& pb, int64_t rb, int64_t m0) {
  const PackedMatrix& w = *pb.w;
  const int64_t r0 = rb * kRowBlock;
  const __m256i rows[2] = {LaneMask(w.rows - r0), LaneMask(w.rows - r0 - kHalfRows)};
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  __m256 y[2 * TILE];
  __m256 acc[2 * TILE];
  switch (w.format) {
    case PackedFormat::kUniform: {
      LinearValues values;
      for (int h = 0; h < 2; ++h) {
        values.half_zero[h] = _mm256_mul_ps(
            _mm256_cvtepi32_ps(_mm256_maskload_epi32(w.zero_point_x2.data() + r0 + h * kHalfRows, rows[h])),
            _mm256_set1_ps(0.5f));
      }
      DotFloat<BITS, TILE>(pb, block, m0, values, acc);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256 scale = _mm256_maskload_ps(w.scale.data() + r0 + h * kHalfRows, rows[h]);
#pragma GCC unroll 4
        for (int i = 0; i < TILE; ++i) y[i * 2 + h] = _mm256_mul_ps(acc[i * 2 + h], scale);
      }
      break;
    }
    case PackedFormat::kTernary:
    case PackedFormat::kTernaryPlanes: {
      LinearValues values;
      values.half_zero[0] = values.half_zero[1] = _mm256_set1_ps(1.0f);  // stored t + 1
#pragma GCC unroll 8
      for (int j = 0; j < 2 * TILE; ++j) y[j] = _mm256_setzero_ps();
      for (int p = 0; p < w.planes; ++p) {
        DotFloat<BITS, TILE>(pb, block + p * pb.plane_bytes, m0, values, acc);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          const __m256 scale =
              _mm256_maskload_ps(w.scale.data() + p * w.rows + r0 + h * kHalfRows, rows[h]);
#pragma GCC unroll 4
          for (int i = 0; i < TILE; ++i) y[i * 2 + h] = _mm256_fmadd_ps(acc[i * 2 + h], scale, y[i * 2 + h]);
        }
      }
      break;
    }
    case PackedFormat::kCodebook: {
      if (!w.per_row_table) {
        LayerTableValues<(BITS >= 4)> values;
        values.low = _mm256_loadu_ps(w.table.data());
        values.high = _mm256_loadu_ps(w.table.data() + 8);
        DotFloat<BITS, TILE>(pb, block, m0, values, y);
      } else {
        RowTableValues values;
        values.table = w.table.data();
        for (int h = 0; h < 2; ++h) {
          alignas(32) int32_t offset[8];
          for (int i = 0; i < kHalfRows; ++i) {
            const int64_t r = r0 + h * kHalfRows + i;
            offset[i] = static_cast<int32_t>(16 * (r < w.rows ? r : 0));
          }
          values.row_offset[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(offset));
        }
        DotFloat<BITS, TILE>(pb, block, m0, values, y);
      }
      break;
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < TILE; ++i) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) StoreWithEpilogue(pb, m0 + i, r0 + h * kHalfRows, rows[h], y[i * 2 + h]);
  }
}

// ---------------------------------------------------------------------------------------------
// Activation preparation

// The vector twin of QuantizeRowInt8Ref: same division, same rounding (trunc, then step away
// from zero when the dropped fraction is >= 0.5, i.e. round half away from zero). Writes the
// row's codes row-major to q, zeros up to padded_cols.
void QuantizeRow(const float* x, int64_t cols, int64_t padded_cols, int8_t* q, float* scale,
                 int32_t* sum) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 vmax = _mm256_setzero_ps();
  for (int64_t k = 0; k < cols; k += 8) {
    const __m256 a = _mm256_and_ps(_mm256_maskload_ps(x + k, LaneMask(cols - k)), abs_mask);
    vmax = _mm256_max_ps(a, vmax);  // (a > max ? a : max), the reference's comparison
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float amax = 0.0f;
  for (float a : lanes) amax = a > amax ? a : amax;  // max is exact in any order
  const float s = amax / 127.0f;
  *scale = s;
  *sum = 0;
  // Columns [0, done) get codes below; the rest (padding, or everything when s == 0) are 0.
  int64_t done = 0;
  if (s != 0.0f) {
    const __m256 vs = _mm256_set1_ps(s);
    const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    __m256i vsum = _mm256_setzero_si256();
    for (int64_t k = 0; k < cols; k += 8) {
      // Lanes past cols load 0 and quantize to 0, so whole 8-code chunks can be stored
      // (cols rounded up to 8 never passes padded_cols, a multiple of 32).
      const __m256 v = _mm256_div_ps(_mm256_maskload_ps(x + k, LaneMask(cols - k)), vs);
      __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 away = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(v, t), abs_mask), half, _CMP_GE_OQ);
      t = _mm256_add_ps(t, _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(v, sign_mask), one)));
      t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
      const __m256i qi = _mm256_cvtps_epi32(t);
      vsum = _mm256_add_epi32(vsum, qi);
      // Values are in [-127, 127]: the saturating packs are plain narrowing here. Each 128-bit
      // lane ends with its 4 codes in its low dword.
      const __m256i p16 = _mm256_packs_epi32(qi, qi);
      const __m256i p8 = _mm256_packs_epi16(p16, p16);
      const int32_t d[2] = {_mm256_extract_epi32(p8, 0), _mm256_extract_epi32(p8, 4)};
      std::memcpy(q + k, d, sizeof(d));
      done = k + 8;
    }
    alignas(32) int32_t part[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(part), vsum);
    for (int32_t v : part) *sum += v;
  }
  if (done < padded_cols) std::memset(q + done, 0, static_cast<size_t>(padded_cols - done));
}

// ---------------------------------------------------------------------------------------------
// Dispatch over bits and tile height

// One (row block, activation rows) task.
using TileFn = void (*)(const Problem&, int64_t, int64_t);

template <int BITS, int TILE>
TileFn PickTile(const PackedMatrix& w, GemmActivations act) {
  if (act == GemmActivations::kFloat) return &TileFloat<BITS, TILE>;
  if (w.format != PackedFormat::kCodebook) return &TileInt8Linear<BITS, TILE>;
  if constexpr (BITS <= 4 && TILE <= CodebookTile(BITS)) return &TileInt8Codebook<BITS, TILE>;
  return nullptr;
}

template <int BITS>
TileFn PickForBits(const PackedMatrix& w, GemmActivations act, int tile) {
  switch (tile) {
    case 1: return PickTile<BITS, 1>(w, act);
    case 2: return PickTile<BITS, 2>(w, act);
    case 3: return PickTile<BITS, 3>(w, act);
    case 4: return PickTile<BITS, 4>(w, act);
  }
  return nullptr;
}

TileFn Pick(const PackedMatrix& w, GemmActivations act, int tile) {
  switch (w.bits) {
    case 1: return PickForBits<1>(w, act, tile);
    case 2: return PickForBits<2>(w, act, tile);
    case 3: return PickForBits<3>(w, act, tile);
    case 4: return PickForBits<4>(w, act, tile);
    case 8: return PickForBits<8>(w, act, tile);
  }
  return nullptr;
}

// Below this many multiply-adds a call runs on the calling thread: an OpenMP fork/join costs
// microseconds (far more when the other core is busy), more than the work saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 19;

}  // namespace

absl::Status PackedGemmAvx2(const PackedMatrix& w, const GemmArgs& args) {
  if (auto s = ValidateGemmArgs(w, args); !s.ok()) return s;
  if (args.m == 0) return absl::OkStatus();
  Problem pb;
  pb.w = &w;
  pb.args = &args;
  static_cast<packed_layout::PlaneGeometry&>(pb) = packed_layout::GeometryOf(w.bits, w.rows, w.cols);
  pb.x = args.x;
  pb.x_stride = args.x_stride;
  const int64_t m = args.m;
  const bool int8 = args.activations == GemmActivations::kInt8;
  const bool codebook = w.format == PackedFormat::kCodebook;
  const int64_t row_blocks = packed_layout::PaddedRows(w.rows) / kRowBlock;

  int threads = ResolveThreads(args.threads);
  const int64_t macs = m * row_blocks * kRowBlock * pb.padded_cols * w.planes;
  if (macs < kMinParallelMacs) threads = 1;

  // Activation rows per task; the remainder is one shorter tile (every height below the full
  // one has a kernel).
  const int full_tile = int8 && codebook ? CodebookTile(w.bits) : kMaxTile;
  const int64_t full_tiles = m / full_tile;
  const int rest = static_cast<int>(m % full_tile);
  const TileFn full = Pick(w, args.activations, full_tile);
  const TileFn rest_fn = rest > 0 ? Pick(w, args.activations, rest) : nullptr;
  if (full == nullptr || (rest > 0 && rest_fn == nullptr)) {
    return absl::InternalError(absl::StrCat("PackedGemmAvx2: no kernel for ", w.bits, "-bit format ",
                                            static_cast<int>(w.format)));
  }
  const int64_t tiles = full_tiles + (rest > 0 ? 1 : 0);

  // The calling thread's scratch; OpenMP workers below must use these pointers, never the
  // name `scratch`, which would resolve to their own (empty) thread_local instance.
  thread_local Int8Scratch scratch;
  int8_t* q = nullptr;
  float* q_scale = nullptr;
  int32_t* q_sum = nullptr;
  if (int8) {
    if (auto s = scratch.Reserve(m, pb.padded_cols); !s.ok()) return s;
    q = scratch.q.get();
    q_scale = scratch.q_scale.data();
    q_sum = scratch.q_sum.data();
    pb.q = q;
    pb.q_scale = q_scale;
    pb.q_sum = q_sum;
  }
  auto quantize = [&](int64_t i) {
    QuantizeRow(args.x + i * args.x_stride, w.cols, pb.padded_cols, q + i * pb.padded_cols,
                &q_scale[i], &q_sum[i]);
  };
  // Task c: row block c / tiles, activation tile c % tiles, so a row block's codes stay in
  // cache while its activation tiles pass.
  auto task = [&](int64_t c) {
    const int64_t rb = c / tiles, t = c % tiles;
    if (t < full_tiles) {
      full(pb, rb, t * full_tile);
    } else {
      rest_fn(pb, rb, full_tiles * full_tile);
    }
  };
  const int64_t tasks = row_blocks * tiles;
  if (threads == 1) {
    // No OpenMP region at all: even a one-thread team costs about a microsecond.
    if (int8) {
      for (int64_t i = 0; i < m; ++i) quantize(i);
    }
    for (int64_t c = 0; c < tasks; ++c) task(c);
    return absl::OkStatus();
  }
  // Quantize every row (barrier), then tasks on demand, so a thread whose peer core is busy
  // with another process takes the remaining tasks instead of waiting for a fixed half.
#pragma omp parallel num_threads(threads)
  {
    if (int8) {
#pragma omp for schedule(dynamic, 4)
      for (int64_t i = 0; i < m; ++i) quantize(i);
    }
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < tasks; ++c) task(c);
  }
  return absl::OkStatus();
}

}  // namespace quantbench
