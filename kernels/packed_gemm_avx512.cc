// AVX-512 PackedGemm. Everything here follows the layout of packed_layout.h: a 64-byte vector
// of decoded codes is 16 rows x 4 columns, so one instruction serves 16 output rows.
//
//   int8 activations: codes are unpacked in registers (one shift + one AND per 64 codes;
//     3-bit adds the high-bit plane) and fed to vpdpbusd (u8 codes x s8 activations, 4 products
//     per int32 lane) with the 4 activation bytes broadcast from memory. Ternary codes are
//     t + 1, so sum(q * t) = dot - sum(q). Codebooks count one int32 sum per level with a
//     vpshufb one-hot indicator per level. All integer sums are exact, so any accumulation
//     order gives the reference's bits; the float combination repeats the reference's operations.
//   fp32 activations: each of the 4 columns of a decoded vector is isolated as int32 lanes and
//     turned into 16 weights (cvt - zero point, vpermps for a per-layer table, vpermt2ps for
//     per-row tables), then one FMA per activation row.
//
// Work is split into (row block, tile of up to kMaxTile activation rows) tasks; the decoded
// codes of a group are reused across the tile's rows in registers. Each output is computed by
// exactly one task in a fixed order, so results do not depend on the thread count.
#include "kernels/packed_gemm_avx512.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/gemm_validation.h"
#include "kernels/packed_layout.h"

namespace quantbench {
namespace {

using packed_layout::kRowBlock;
using packed_layout::kSuperBlockCols;
using packed_layout::kSubBlockBytes;

constexpr int kMaxTile = 8;  // activation rows sharing one decoded weight vector

template <class F, int... I>
inline __attribute__((always_inline)) void UnrollImpl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
// f(std::integral_constant<int, i>) for i = 0..N-1, fully unrolled with constant i.
template <int N, class F>
inline __attribute__((always_inline)) void Unroll(F&& f) {
  UnrollImpl(std::forward<F>(f), std::make_integer_sequence<int, N>{});
}

// Codes of column group G (0..7) of the super-block at p, one byte per (row, column).
template <int BITS, int G>
inline __attribute__((always_inline)) __m512i DecodeGroup(const uint8_t* p) {
  if constexpr (BITS == 8) {
    return _mm512_load_si512(p + kSubBlockBytes * G);
  } else if constexpr (BITS == 3) {
    const __m512i low = DecodeGroup<2, G>(p);
    const __m512i high = DecodeGroup<1, G>(p + 2 * kSubBlockBytes);
    return _mm512_or_si512(low, _mm512_slli_epi16(high, 2));  // high is 0/1: no byte carry
  } else {
    constexpr int kPerByte = 8 / BITS;
    constexpr int kShift = BITS * (G % kPerByte);
    const __m512i v = _mm512_load_si512(p + kSubBlockBytes * (G / kPerByte));
    const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << BITS) - 1));
    if constexpr (kShift == 0) return _mm512_and_si512(v, mask);
    // A 16-bit shift drags bits of the neighbouring byte in at the top; the AND drops them.
    return _mm512_and_si512(_mm512_srli_epi16(v, kShift), mask);
  }
}

// Column KK (0..3) of a decoded group as 16 int32 lanes (one per row).
template <int KK>
inline __attribute__((always_inline)) __m512i ColumnOf(__m512i codes) {
  if constexpr (KK == 3) return _mm512_srli_epi32(codes, 24);
  if constexpr (KK == 0) return _mm512_and_si512(codes, _mm512_set1_epi32(0xFF));
  return _mm512_and_si512(_mm512_srli_epi32(codes, 8 * KK), _mm512_set1_epi32(0xFF));
}

inline int32_t Load4Bytes(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline __mmask16 RowMask(int64_t valid) {
  return valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1u);
}

// Everything a task needs; built once per call.
struct Problem {
  const PackedMatrix* w;
  const GemmArgs* args;
  int64_t padded_cols;
  int64_t super_blocks;
  int64_t row_block_bytes;
  int64_t plane_bytes;
  // int8 activations, padded_cols per row, zero padded.
  const int8_t* q = nullptr;
  const float* q_scale = nullptr;
  const int32_t* q_sum = nullptr;
  // fp32 activations, padded_cols per row, zero padded.
  const float* xf = nullptr;
};

// Epilogue of packed_gemm.h on 16 outputs (rows r0.., activation row m), then the store.
inline __attribute__((always_inline)) void StoreWithEpilogue(const Problem& pb, int64_t m, int64_t r0, __mmask16 rows, __m512 y) {
  const GemmEpilogue& e = pb.args->epilogue;
  if (!e.out_scale.empty()) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(rows, e.out_scale.data() + r0));
  if (!e.out_shift.empty()) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(rows, e.out_shift.data() + r0));
  if (e.residual != nullptr) {
    y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(rows, e.residual + m * e.residual_stride + r0));
  }
  // vmaxps / vminps return the second operand unless the first compares greater / less:
  // exactly the reference's (y > 0 ? y : 0) and (y < 6 ? y : 6).
  if (e.post_op == GemmPostOp::kRelu || e.post_op == GemmPostOp::kRelu6) {
    y = _mm512_max_ps(y, _mm512_setzero_ps());
  }
  if (e.post_op == GemmPostOp::kRelu6) y = _mm512_min_ps(y, _mm512_set1_ps(6.0f));
  _mm512_mask_storeu_ps(pb.args->y + m * pb.args->y_stride + r0, rows, y);
}

// ---------------------------------------------------------------------------------------------
// int8 activations

// Independent accumulators per activation row so short tiles are not bound by vpdpbusd latency.
template <int TILE>
constexpr int ChainsPerRow() {
  return TILE == 1 ? 4 : (TILE == 2 ? 2 : 1);
}

// acc[i] = sum_k q[m0 + i, k] * code(r, k) over one plane of one row block (16 rows).
template <int BITS, int TILE>
inline __attribute__((always_inline)) void DotInt8(const Problem& pb, const uint8_t* block, int64_t m0, __m512i* acc) {
  constexpr int kChains = ChainsPerRow<TILE>();
  __m512i part[TILE * kChains];
  for (auto& a : part) a = _mm512_setzero_si512();
  const int8_t* q = pb.q + m0 * pb.padded_cols;
  const int64_t qs = pb.padded_cols;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
    const uint8_t* p = block + sb * sb_bytes;
    const int8_t* qk = q + sb * kSuperBlockCols;
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      const __m512i codes = DecodeGroup<BITS, G>(p);
      #pragma GCC unroll 16
      for (int i = 0; i < TILE; ++i) {
        __m512i& a = part[i * kChains + G % kChains];
        a = _mm512_dpbusd_epi32(a, codes, _mm512_set1_epi32(Load4Bytes(qk + i * qs + 4 * G)));
      }
    });
  }
  #pragma GCC unroll 16
  for (int i = 0; i < TILE; ++i) {
    acc[i] = part[i * kChains];
    #pragma GCC unroll 16
    for (int c = 1; c < kChains; ++c) acc[i] = _mm512_add_epi32(acc[i], part[i * kChains + c]);
  }
}

// kUniform, kTernary, kTernaryPlanes with int8 activations.
template <int BITS, int TILE>
void TileInt8Linear(const Problem& pb, int64_t rb, int64_t m0) {
  const PackedMatrix& w = *pb.w;
  const int64_t r0 = rb * kRowBlock;
  const __mmask16 rows = RowMask(w.rows - r0);
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  __m512 y[TILE];
  __m512i acc[TILE];
  if (w.format == PackedFormat::kUniform) {
    DotInt8<BITS, TILE>(pb, block, m0, acc);
    const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + r0);
    const __m512i zp2 = _mm512_maskz_loadu_epi32(rows, w.zero_point_x2.data() + r0);
    #pragma GCC unroll 16
    for (int i = 0; i < TILE; ++i) {
      // acc = 2 * dot - zero_point_x2 * sum(q);  y = acc * (s * scale * 0.5f)
      const __m512i a = _mm512_sub_epi32(_mm512_slli_epi32(acc[i], 1),
                                         _mm512_mullo_epi32(zp2, _mm512_set1_epi32(pb.q_sum[m0 + i])));
      const __m512 f = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(pb.q_scale[m0 + i]), scale),
                                     _mm512_set1_ps(0.5f));
      y[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(a), f);
    }
  } else {
    #pragma GCC unroll 16
    for (int i = 0; i < TILE; ++i) y[i] = _mm512_setzero_ps();
    for (int p = 0; p < w.planes; ++p) {
      DotInt8<BITS, TILE>(pb, block + p * pb.plane_bytes, m0, acc);
      const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + p * w.rows + r0);
      #pragma GCC unroll 16
      for (int i = 0; i < TILE; ++i) {
        // Stored codes are t + 1: sum(q * t) = dot - sum(q).
        const __m512i a = _mm512_sub_epi32(acc[i], _mm512_set1_epi32(pb.q_sum[m0 + i]));
        const __m512 f = _mm512_mul_ps(_mm512_set1_ps(pb.q_scale[m0 + i]), scale);
        const __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(a), f);
        // kTernary: y = term (the reference returns the product itself, not 0 + product).
        y[i] = (w.format == PackedFormat::kTernary) ? term : _mm512_add_ps(y[i], term);
      }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < TILE; ++i) StoreWithEpilogue(pb, m0 + i, r0, rows, y[i]);
}

// The 16-entry table of each row of the block, transposed so lane i of column l is row i's
// level l (per-layer tables are broadcast).
void LevelColumns(const PackedMatrix& w, int64_t r0, __mmask16 rows, int levels, __m512* column) {
  alignas(64) float t[16][16] = {};
  for (int i = 0; i < 16; ++i) {
    if (!((rows >> i) & 1)) continue;
    const float* src = w.table.data() + (w.per_row_table ? (r0 + i) * 16 : 0);
    for (int l = 0; l < levels; ++l) t[l][i] = src[l];
  }
  for (int l = 0; l < levels; ++l) column[l] = _mm512_load_ps(t[l]);
}

constexpr int CodebookTile(int bits) {
  return bits == 1 ? 8 : (bits == 2 ? 6 : (bits == 3 ? 3 : 1));
}

// kCodebook with int8 activations: one exact int32 sum of q per level (level 0 is
// sum(q) - the others), combined in level order like the reference.
template <int BITS, int TILE>
void TileInt8Codebook(const Problem& pb, int64_t rb, int64_t m0) {
  constexpr int kLevels = 1 << BITS;
  constexpr int kCounted = kLevels - 1;  // levels 1..L-1 are counted, level 0 derived
  constexpr int kChains = (TILE * kCounted >= 4) ? 1 : 4;
  const PackedMatrix& w = *pb.w;
  const int64_t r0 = rb * kRowBlock;
  const __mmask16 rows = RowMask(w.rows - r0);
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  const int8_t* q = pb.q + m0 * pb.padded_cols;
  const int64_t qs = pb.padded_cols;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  __m512i sums[TILE * kCounted * kChains];
#pragma GCC unroll 64
  for (auto& s : sums) s = _mm512_setzero_si512();
  for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
    const uint8_t* p = block + sb * sb_bytes;
    const int8_t* qk = q + sb * kSuperBlockCols;
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      const __m512i codes = DecodeGroup<BITS, G>(p);
      Unroll<kCounted>([&](auto lc) __attribute__((always_inline)) {
        constexpr int L = decltype(lc)::value + 1;
        // vpshufb with a one-hot table: byte = 1 where the code is L (codes < 16).
        const __m512i onehot = _mm512_broadcast_i32x4(_mm_insert_epi8(_mm_setzero_si128(), 1, L));
        const __m512i indicator = _mm512_shuffle_epi8(onehot, codes);
        #pragma GCC unroll 16
        for (int i = 0; i < TILE; ++i) {
          __m512i& s = sums[(i * kCounted + (L - 1)) * kChains + G % kChains];
          s = _mm512_dpbusd_epi32(s, indicator, _mm512_set1_epi32(Load4Bytes(qk + i * qs + 4 * G)));
        }
      });
    });
  }
  __m512 column[16];
  LevelColumns(w, r0, rows, kLevels, column);
  #pragma GCC unroll 16
  for (int i = 0; i < TILE; ++i) {
    __m512i level_sum[kLevels];
    __m512i counted = _mm512_setzero_si512();
    for (int l = 1; l < kLevels; ++l) {
      level_sum[l] = sums[(i * kCounted + (l - 1)) * kChains];
      #pragma GCC unroll 16
      for (int c = 1; c < kChains; ++c) {
        level_sum[l] = _mm512_add_epi32(level_sum[l], sums[(i * kCounted + (l - 1)) * kChains + c]);
      }
      counted = _mm512_add_epi32(counted, level_sum[l]);
    }
    level_sum[0] = _mm512_sub_epi32(_mm512_set1_epi32(pb.q_sum[m0 + i]), counted);
    __m512 acc = _mm512_setzero_ps();
    for (int l = 0; l < kLevels; ++l) {
      acc = _mm512_add_ps(acc, _mm512_mul_ps(column[l], _mm512_cvtepi32_ps(level_sum[l])));
    }
    StoreWithEpilogue(pb, m0 + i, r0, rows, _mm512_mul_ps(acc, _mm512_set1_ps(pb.q_scale[m0 + i])));
  }
}

// ---------------------------------------------------------------------------------------------
// fp32 activations

// Turns 16 int32 codes (one per row) into 16 weights without the per-row scale.
struct LinearValues {  // code - zero_point / 2  (exact in float)
  __m512 half_zero;
  __attribute__((always_inline)) __m512 operator()(__m512i code) const { return _mm512_sub_ps(_mm512_cvtepi32_ps(code), half_zero); }
};
struct LayerTableValues {  // vpermps: the 16-entry table in one register
  __m512 table;
  __attribute__((always_inline)) __m512 operator()(__m512i code) const { return _mm512_permutexvar_ps(code, table); }
};
// Per-row tables: two registers hold 32 / L rows' L-entry tables; vpermt2ps looks them up for
// those rows' lanes and a masked move merges the L / 2 partial results.
template <int LEVELS>
struct RowTableValues {
  static constexpr int kRowsPerPair = 32 / LEVELS;
  static constexpr int kPairs = 16 / kRowsPerPair;
  __m512 tables[2 * kPairs];
  __m512i lane_offset;  // LEVELS * (lane % kRowsPerPair)
  void Init(const PackedMatrix& w, int64_t r0, __mmask16 rows) {
    alignas(64) float packed[256] = {};
    for (int i = 0; i < 16; ++i) {
      if (!((rows >> i) & 1)) continue;
      for (int l = 0; l < LEVELS; ++l) packed[i * LEVELS + l] = w.table[(r0 + i) * 16 + l];
    }
    for (int j = 0; j < 2 * kPairs; ++j) tables[j] = _mm512_load_ps(packed + 16 * j);
    alignas(64) int32_t offset[16];
    for (int i = 0; i < 16; ++i) offset[i] = LEVELS * (i % kRowsPerPair);
    lane_offset = _mm512_load_si512(offset);
  }
  __attribute__((always_inline)) __m512 operator()(__m512i code) const {
    const __m512i idx = _mm512_add_epi32(code, lane_offset);
    __m512 r = _mm512_permutex2var_ps(tables[0], idx, tables[1]);
    for (int j = 1; j < kPairs; ++j) {
      const __mmask16 lanes = static_cast<__mmask16>(((1u << kRowsPerPair) - 1u) << (j * kRowsPerPair));
      r = _mm512_mask_mov_ps(r, lanes, _mm512_permutex2var_ps(tables[2 * j], idx, tables[2 * j + 1]));
    }
    return r;
  }
};

// acc[i] = sum_k x[m0 + i, k] * value(code(r, k)) over one plane of one row block.
template <int BITS, int TILE, class Values>
inline __attribute__((always_inline)) void DotFloat(const Problem& pb, const uint8_t* block, int64_t m0, const Values& values,
                     __m512* acc) {
  constexpr int kChains = ChainsPerRow<TILE>();
  __m512 part[TILE * kChains];
  for (auto& a : part) a = _mm512_setzero_ps();
  const float* x = pb.xf + m0 * pb.padded_cols;
  const int64_t xs = pb.padded_cols;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
    const uint8_t* p = block + sb * sb_bytes;
    const float* xk = x + sb * kSuperBlockCols;
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      const __m512i codes = DecodeGroup<BITS, G>(p);
      Unroll<4>([&](auto kk) __attribute__((always_inline)) {
        constexpr int KK = decltype(kk)::value;
        const __m512 wv = values(ColumnOf<KK>(codes));
        #pragma GCC unroll 16
        for (int i = 0; i < TILE; ++i) {
          __m512& a = part[i * kChains + KK % kChains];
          a = _mm512_fmadd_ps(wv, _mm512_set1_ps(xk[i * xs + 4 * G + KK]), a);
        }
      });
    });
  }
  #pragma GCC unroll 16
  for (int i = 0; i < TILE; ++i) {
    acc[i] = part[i * kChains];
    #pragma GCC unroll 16
    for (int c = 1; c < kChains; ++c) acc[i] = _mm512_add_ps(acc[i], part[i * kChains + c]);
  }
}

template <int BITS, int TILE>
void TileFloat(const Problem& pb, int64_t rb, int64_t m0) {
  const PackedMatrix& w = *pb.w;
  const int64_t r0 = rb * kRowBlock;
  const __mmask16 rows = RowMask(w.rows - r0);
  const uint8_t* block = w.data.get() + rb * pb.row_block_bytes;
  __m512 y[TILE];
  __m512 acc[TILE];
  switch (w.format) {
    case PackedFormat::kUniform: {
      LinearValues values;
      values.half_zero = _mm512_mul_ps(
          _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(rows, w.zero_point_x2.data() + r0)),
          _mm512_set1_ps(0.5f));
      DotFloat<BITS, TILE>(pb, block, m0, values, acc);
      const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + r0);
      #pragma GCC unroll 16
      for (int i = 0; i < TILE; ++i) y[i] = _mm512_mul_ps(acc[i], scale);
      break;
    }
    case PackedFormat::kTernary:
    case PackedFormat::kTernaryPlanes: {
      LinearValues values;
      values.half_zero = _mm512_set1_ps(1.0f);  // stored t + 1
      #pragma GCC unroll 16
      for (int i = 0; i < TILE; ++i) y[i] = _mm512_setzero_ps();
      for (int p = 0; p < w.planes; ++p) {
        DotFloat<BITS, TILE>(pb, block + p * pb.plane_bytes, m0, values, acc);
        const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + p * w.rows + r0);
        #pragma GCC unroll 16
        for (int i = 0; i < TILE; ++i) y[i] = _mm512_fmadd_ps(acc[i], scale, y[i]);
      }
      break;
    }
    case PackedFormat::kCodebook: {
      if (!w.per_row_table) {
        LayerTableValues values;
        values.table = _mm512_loadu_ps(w.table.data());
        DotFloat<BITS, TILE>(pb, block, m0, values, y);
      } else {
        if constexpr (BITS <= 4) {
          RowTableValues<(1 << BITS)> values;
          values.Init(w, r0, rows);
          DotFloat<BITS, TILE>(pb, block, m0, values, y);
        }
      }
      break;
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < TILE; ++i) StoreWithEpilogue(pb, m0 + i, r0, rows, y[i]);
}

// ---------------------------------------------------------------------------------------------
// Activation preparation

// The vector twin of QuantizeRowInt8Ref: same division, same rounding (trunc, then step away
// from zero when the dropped fraction is >= 0.5, i.e. round half away from zero).
void QuantizeRow(const float* x, int64_t cols, int64_t padded_cols, int8_t* q, float* scale,
                 int32_t* sum) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  __m512 vmax = _mm512_setzero_ps();
  for (int64_t k = 0; k < cols; k += 16) {
    const __mmask16 m = RowMask(cols - k);
    vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x + k), abs_mask));
  }
  const float s = _mm512_reduce_max_ps(vmax) / 127.0f;
  *scale = s;
  std::memset(q, 0, static_cast<size_t>(padded_cols));
  *sum = 0;
  if (s == 0.0f) return;
  const __m512 vs = _mm512_set1_ps(s);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
  const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  __m512i vsum = _mm512_setzero_si512();
  for (int64_t k = 0; k < cols; k += 16) {
    const __mmask16 m = RowMask(cols - k);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), vs);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 away = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(v, t), abs_mask), half,
                                              _CMP_GE_OQ);
    t = _mm512_mask_add_ps(t, away, t, _mm512_or_ps(_mm512_and_ps(v, sign_mask), one));
    t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
    const __m512i qi = _mm512_cvtps_epi32(t);
    vsum = _mm512_add_epi32(vsum, qi);
    _mm_mask_storeu_epi8(q + k, m, _mm512_cvtepi32_epi8(qi));
  }
  *sum = _mm512_reduce_add_epi32(vsum);
}

// ---------------------------------------------------------------------------------------------
// Dispatch over bits and tile height

using TileFn = void (*)(const Problem&, int64_t, int64_t);

template <int BITS, int TILE>
TileFn PickTile(const PackedMatrix& w, GemmActivations act) {
  if (act == GemmActivations::kFloat) return &TileFloat<BITS, TILE>;
  if (w.format == PackedFormat::kCodebook) {
    if constexpr (BITS <= 4) {
      if constexpr (TILE == 1 || TILE == CodebookTile(BITS)) return &TileInt8Codebook<BITS, TILE>;
    }
    return nullptr;
  }
  return &TileInt8Linear<BITS, TILE>;
}

template <int BITS>
TileFn PickForBits(const PackedMatrix& w, GemmActivations act, int tile) {
  switch (tile) {
    case 1: return PickTile<BITS, 1>(w, act);
    case 2: return PickTile<BITS, 2>(w, act);
    case 3: return PickTile<BITS, 3>(w, act);
    case 4: return PickTile<BITS, 4>(w, act);
    case 5: return PickTile<BITS, 5>(w, act);
    case 6: return PickTile<BITS, 6>(w, act);
    case 7: return PickTile<BITS, 7>(w, act);
    case 8: return PickTile<BITS, 8>(w, act);
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

}  // namespace

absl::Status PackedGemmAvx512(const PackedMatrix& w, const GemmArgs& args) {
  if (auto s = ValidateGemmArgs(w, args); !s.ok()) return s;
  if (args.m == 0) return absl::OkStatus();
  const int threads = ResolveThreads(args.threads);
  Problem pb;
  pb.w = &w;
  pb.args = &args;
  pb.padded_cols = packed_layout::PaddedCols(w.cols);
  pb.super_blocks = packed_layout::SuperBlocksPerRowBlock(w.cols);
  pb.row_block_bytes = packed_layout::RowBlockBytes(w.bits, w.cols);
  pb.plane_bytes = packed_layout::PlaneBytes(w.bits, w.rows, w.cols);
  const int64_t m = args.m;
  const bool int8 = args.activations == GemmActivations::kInt8;

  // Activations, zero padded to whole super-blocks so kernels never test for a column tail.
  std::vector<int8_t> q;
  std::vector<float> q_scale, xf;
  std::vector<int32_t> q_sum;
  if (int8) {
    q.resize(static_cast<size_t>(m * pb.padded_cols));
    q_scale.resize(static_cast<size_t>(m));
    q_sum.resize(static_cast<size_t>(m));
#pragma omp parallel for num_threads(threads) schedule(static) if (m > 1)
    for (int64_t i = 0; i < m; ++i) {
      QuantizeRow(args.x + i * args.x_stride, w.cols, pb.padded_cols, q.data() + i * pb.padded_cols,
                  &q_scale[i], &q_sum[i]);
    }
    pb.q = q.data();
    pb.q_scale = q_scale.data();
    pb.q_sum = q_sum.data();
  } else {
    xf.assign(static_cast<size_t>(m * pb.padded_cols), 0.0f);
    for (int64_t i = 0; i < m; ++i) {
      std::memcpy(xf.data() + i * pb.padded_cols, args.x + i * args.x_stride,
                  static_cast<size_t>(w.cols) * sizeof(float));
    }
    pb.xf = xf.data();
  }

  // Tile height: codebooks with int8 activations keep L - 1 level sums per row in registers.
  int full_tile = kMaxTile;
  if (int8 && w.format == PackedFormat::kCodebook) full_tile = CodebookTile(w.bits);
  const TileFn full = Pick(w, args.activations, full_tile);
  const int64_t full_tiles = m / full_tile;
  const int rest = static_cast<int>(m % full_tile);
  // The rest of the rows: one shorter tile, or single rows where no such tile is instantiated.
  TileFn rest_fn = rest > 0 ? Pick(w, args.activations, rest) : nullptr;
  const int rest_tile = rest_fn != nullptr ? rest : 1;
  if (rest > 0 && rest_fn == nullptr) rest_fn = Pick(w, args.activations, 1);
  const int64_t rest_tiles = rest > 0 ? rest / rest_tile : 0;
  const int64_t tiles = full_tiles + rest_tiles;
  const int64_t row_blocks = packed_layout::PaddedRows(w.rows) / kRowBlock;
  const int64_t tasks = row_blocks * tiles;

  // Consecutive tasks share a row block, so its codes stay in cache across the tiles.
#pragma omp parallel for num_threads(threads) schedule(static) if (tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t rb = t / tiles, tile = t % tiles;
    if (tile < full_tiles) {
      full(pb, rb, tile * full_tile);
    } else {
      rest_fn(pb, rb, full_tiles * full_tile + (tile - full_tiles) * rest_tile);
    }
  }
  return absl::OkStatus();
}

}  // namespace quantbench
