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
// Blocking. int8 uniform/ternary: x is quantized into tiles of 8 rows stored interleaved (per
// column group, the 8 rows' 4 bytes side by side), and a register-blocked microkernel runs a
// panel of 3 row blocks (48 rows) x 8 activation rows = 24 zmm accumulators: each decoded vector
// feeds 8 vpdpbusd, each broadcast 3. Panels are the outer loop, so a panel's codes stay in
// L1/L2 while the activation tiles stream past. fp32 and int8-codebook: tasks of (row block, up
// to kMaxTile activation rows), decoded codes reused across the tile's rows in registers.
// Threads take chunks (3 row blocks, or one activation tile) on demand; each output is computed
// by exactly one chunk in a fixed order, so results do not depend on the thread count. Calls
// under 2^19 multiply-adds (2^22 for the int8 panels) stay on the calling thread.
#include "kernels/packed_gemm_avx512.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/gemm_validation.h"
#include "kernels/int8_scratch.h"
#include "kernels/packed_layout.h"
#include "kernels/unroll.h"

namespace quantbench {
namespace {

using packed_layout::kRowBlock;
using packed_layout::kSuperBlockCols;
using packed_layout::kSubBlockBytes;

constexpr int kMaxTile = 8;  // activation rows sharing one decoded weight vector

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

// Activation rows per tile of the int8 activation buffer (see Problem::q).
constexpr int kActTile = 8;
// Row blocks per panel of the int8 uniform/ternary kernel: 3 x 16 rows x 8 activation rows =
// 24 int32 accumulators, plus 3 decoded code vectors and a broadcast, fit the 32 zmm registers.
// Each broadcast activation dword then feeds 3 vpdpbusd and each decoded vector up to 8.
constexpr int kPanelBlocks = 3;

// Everything a task needs; built once per call.
struct Problem : packed_layout::PlaneGeometry {
  const PackedMatrix* w;
  const GemmArgs* args;
  // int8 activations, zero padded to padded_cols, stored in tiles of `q_tile` rows: tile t
  // (rows q_tile*t .. +h-1, h = min(q_tile, m - q_tile*t)) starts at q + q_tile*t*padded_cols
  // and holds, for each column group gi (4 columns), its h rows' 4 bytes one after the other
  // (byte (gi*h + i)*4 + j). A microkernel over those h rows thus reads one sequential stream
  // with compile-time offsets. q_tile = 1 is plain row-major (the codebook kernel's layout).
  const int8_t* q = nullptr;
  int q_tile = 1;
  const float* q_scale = nullptr;
  const int32_t* q_sum = nullptr;
  // fp32 activations are read in place (x, x_stride); only the last, partial super-block of
  // columns goes through a zero-padded copy on the stack.
  const float* x = nullptr;
  int64_t x_stride = 0;
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

// acc[b * MT + i] = sum_k q[m0 + i, k] * code(16 * (rb0 + b) + lane, k) over one plane, for RB
// consecutive row blocks starting at `block` and the MT activation rows of the tile at `qt`
// (interleaved layout, see Problem::q). The register-blocked core of the int8 GEMM: per column
// group, RB decodes (one load + shift + AND each) and MT broadcasts feed RB * MT vpdpbusd.
template <int BITS, int RB, int MT>
inline __attribute__((always_inline)) void DotInt8Panel(const Problem& pb, const uint8_t* block,
                                                        const int8_t* qt, __m512i* acc) {
  // Short panels (GEMV) split each sum into independent chains so they are not bound by the
  // vpdpbusd latency; integer sums are exact, so the split does not change any result.
  constexpr int kChains = RB * MT >= 8 ? 1 : (RB * MT >= 4 ? 2 : 4);
  __m512i part[RB * MT * kChains];
#pragma GCC unroll 64
  for (auto& a : part) a = _mm512_setzero_si512();
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  const int64_t rbb = pb.row_block_bytes;
  for (int64_t sb = 0; sb < pb.super_blocks; ++sb) {
    const uint8_t* p = block + sb * sb_bytes;
    const int8_t* qk = qt + sb * kSuperBlockCols * MT;
    Unroll<8>([&](auto g) __attribute__((always_inline)) {
      constexpr int G = decltype(g)::value;
      __m512i codes[RB];
#pragma GCC unroll 4
      for (int b = 0; b < RB; ++b) codes[b] = DecodeGroup<BITS, G>(p + b * rbb);
#pragma GCC unroll 16
      for (int i = 0; i < MT; ++i) {
        const __m512i qv = _mm512_set1_epi32(Load4Bytes(qk + (G * MT + i) * 4));
#pragma GCC unroll 4
        for (int b = 0; b < RB; ++b) {
          __m512i& a = part[(b * MT + i) * kChains + G % kChains];
          a = _mm512_dpbusd_epi32(a, codes[b], qv);
        }
      }
    });
  }
#pragma GCC unroll 32
  for (int j = 0; j < RB * MT; ++j) {
    acc[j] = part[j * kChains];
#pragma GCC unroll 4
    for (int c = 1; c < kChains; ++c) acc[j] = _mm512_add_epi32(acc[j], part[j * kChains + c]);
  }
}

// kUniform, kTernary, kTernaryPlanes with int8 activations: rows of RB row blocks from rb0,
// activation rows m0 .. m0 + MT - 1 (tile m0 / kActTile of the interleaved buffer).
template <int BITS, int RB, int MT>
void PanelInt8Linear(const Problem& pb, int64_t rb0, int64_t m0) {
  const PackedMatrix& w = *pb.w;
  const uint8_t* block = w.data.get() + rb0 * pb.row_block_bytes;
  const int8_t* qt = pb.q + m0 * pb.padded_cols;
  __m512 y[RB * MT];
  __m512i acc[RB * MT];
  if (w.format == PackedFormat::kUniform) {
    DotInt8Panel<BITS, RB, MT>(pb, block, qt, acc);
#pragma GCC unroll 4
    for (int b = 0; b < RB; ++b) {
      const int64_t r0 = (rb0 + b) * kRowBlock;
      const __mmask16 rows = RowMask(w.rows - r0);
      const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + r0);
      const __m512i zp2 = _mm512_maskz_loadu_epi32(rows, w.zero_point_x2.data() + r0);
#pragma GCC unroll 16
      for (int i = 0; i < MT; ++i) {
        // acc = 2 * dot - zero_point_x2 * sum(q);  y = acc * (s * scale * 0.5f)
        const __m512i a = _mm512_sub_epi32(
            _mm512_slli_epi32(acc[b * MT + i], 1),
            _mm512_mullo_epi32(zp2, _mm512_set1_epi32(pb.q_sum[m0 + i])));
        const __m512 f = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(pb.q_scale[m0 + i]), scale),
                                       _mm512_set1_ps(0.5f));
        y[b * MT + i] = _mm512_mul_ps(_mm512_cvtepi32_ps(a), f);
      }
    }
  } else {
#pragma GCC unroll 32
    for (int j = 0; j < RB * MT; ++j) y[j] = _mm512_setzero_ps();
    for (int p = 0; p < w.planes; ++p) {
      DotInt8Panel<BITS, RB, MT>(pb, block + p * pb.plane_bytes, qt, acc);
#pragma GCC unroll 4
      for (int b = 0; b < RB; ++b) {
        const int64_t r0 = (rb0 + b) * kRowBlock;
        const __mmask16 rows = RowMask(w.rows - r0);
        const __m512 scale = _mm512_maskz_loadu_ps(rows, w.scale.data() + p * w.rows + r0);
#pragma GCC unroll 16
        for (int i = 0; i < MT; ++i) {
          // Stored codes are t + 1: sum(q * t) = dot - sum(q).
          const __m512i a =
              _mm512_sub_epi32(acc[b * MT + i], _mm512_set1_epi32(pb.q_sum[m0 + i]));
          const __m512 f = _mm512_mul_ps(_mm512_set1_ps(pb.q_scale[m0 + i]), scale);
          const __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(a), f);
          // kTernary: y = term (the reference returns the product itself, not 0 + product).
          y[b * MT + i] =
              (w.format == PackedFormat::kTernary) ? term : _mm512_add_ps(y[b * MT + i], term);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int b = 0; b < RB; ++b) {
    const int64_t r0 = (rb0 + b) * kRowBlock;
    const __mmask16 rows = RowMask(w.rows - r0);
#pragma GCC unroll 16
    for (int i = 0; i < MT; ++i) StoreWithEpilogue(pb, m0 + i, r0, rows, y[b * MT + i]);
  }
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

// acc[i] = sum_k x[m0 + i, k] * value(code(r, k)) over one plane of one row block. x is read
// where the caller left it; only the last partial super-block of columns is copied, zero
// padded, because padding codes can have nonzero values (code 0 - zero point) and must meet x = 0.
template <int BITS, int TILE, class Values>
inline __attribute__((always_inline)) void DotFloat(const Problem& pb, const uint8_t* block, int64_t m0, const Values& values,
                     __m512* acc) {
  constexpr int kChains = ChainsPerRow<TILE>();
  __m512 part[TILE * kChains];
  for (auto& a : part) a = _mm512_setzero_ps();
  const float* x = pb.x + m0 * pb.x_stride;
  const int64_t sb_bytes = packed_layout::SuperBlockBytes(BITS);
  auto super_block = [&](const uint8_t* p, const float* xk, int64_t xs) __attribute__((always_inline)) {
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
  };
  for (int64_t sb = 0; sb < pb.full_super_blocks; ++sb) {
    super_block(block + sb * sb_bytes, x + sb * kSuperBlockCols, pb.x_stride);
  }
  if (pb.tail_cols > 0) {
    alignas(64) float tail[TILE][kSuperBlockCols] = {};
    const int64_t k0 = pb.full_super_blocks * kSuperBlockCols;
    for (int i = 0; i < TILE; ++i) {
      std::memcpy(tail[i], x + i * pb.x_stride + k0, static_cast<size_t>(pb.tail_cols) * sizeof(float));
    }
    super_block(block + pb.full_super_blocks * sb_bytes, &tail[0][0], kSuperBlockCols);
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
// from zero when the dropped fraction is >= 0.5, i.e. round half away from zero). Writes the
// row's column groups (4 codes each) `group_stride` bytes apart starting at q (4 = row-major,
// 4 * h = a row of an interleaved tile of h rows, see Problem::q), zeros up to padded_cols.
void QuantizeRow(const float* x, int64_t cols, int64_t padded_cols, int8_t* q,
                 int64_t group_stride, float* scale, int32_t* sum) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  __m512 vmax = _mm512_setzero_ps();
  for (int64_t k = 0; k < cols; k += 16) {
    const __mmask16 m = RowMask(cols - k);
    vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x + k), abs_mask));
  }
  const float s = _mm512_reduce_max_ps(vmax) / 127.0f;
  *scale = s;
  *sum = 0;
  // Columns [0, done) get codes below; the rest (padding, or everything when s == 0) are 0.
  int64_t done = 0;
  if (s != 0.0f) {
    const __m512 vs = _mm512_set1_ps(s);
    const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    __m512i vsum = _mm512_setzero_si512();
    for (int64_t k = 0; k < cols; k += 16) {
      const __mmask16 m = RowMask(cols - k);
      // Lanes past cols load 0 and quantize to 0, so whole 16-code chunks can be stored
      // (cols rounded up to 16 never passes padded_cols, a multiple of 32).
      const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), vs);
      __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __mmask16 away = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(v, t), abs_mask),
                                                half, _CMP_GE_OQ);
      t = _mm512_mask_add_ps(t, away, t, _mm512_or_ps(_mm512_and_ps(v, sign_mask), one));
      t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
      const __m512i qi = _mm512_cvtps_epi32(t);
      vsum = _mm512_add_epi32(vsum, qi);
      const __m128i bytes = _mm512_cvtepi32_epi8(qi);
      int8_t* dst = q + (k / 4) * group_stride;
      if (group_stride == 4) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), bytes);
      } else {
        // Four dword stores: a vpscatterdd is many times slower on this core.
        const int32_t d[4] = {_mm_cvtsi128_si32(bytes), _mm_extract_epi32(bytes, 1),
                              _mm_extract_epi32(bytes, 2), _mm_extract_epi32(bytes, 3)};
        for (int j = 0; j < 4; ++j) std::memcpy(dst + j * group_stride, &d[j], 4);
      }
      done = k + 16;
    }
    *sum = _mm512_reduce_add_epi32(vsum);
  }
  for (int64_t k = done; k < padded_cols; k += 4) {
    std::memset(q + (k / 4) * group_stride, 0, 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch over bits and tile height

// One (row block, activation rows) task of the fp32 and codebook kernels.
using TileFn = void (*)(const Problem&, int64_t, int64_t);

template <int BITS, int TILE>
TileFn PickTile(const PackedMatrix& w, GemmActivations act) {
  if (act == GemmActivations::kFloat) return &TileFloat<BITS, TILE>;
  if (w.format == PackedFormat::kCodebook) {
    if constexpr (BITS <= 4) {
      if constexpr (TILE == 1 || TILE == CodebookTile(BITS)) return &TileInt8Codebook<BITS, TILE>;
    }
  }
  return nullptr;
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

// The int8 uniform / ternary kernels: panels of RB (1, 2 or kPanelBlocks) row blocks, 1..8 rows.
template <int BITS, int RB>
TileFn PickPanelHeight(int mt) {
  switch (mt) {
    case 1: return &PanelInt8Linear<BITS, RB, 1>;
    case 2: return &PanelInt8Linear<BITS, RB, 2>;
    case 3: return &PanelInt8Linear<BITS, RB, 3>;
    case 4: return &PanelInt8Linear<BITS, RB, 4>;
    case 5: return &PanelInt8Linear<BITS, RB, 5>;
    case 6: return &PanelInt8Linear<BITS, RB, 6>;
    case 7: return &PanelInt8Linear<BITS, RB, 7>;
    case 8: return &PanelInt8Linear<BITS, RB, 8>;
  }
  return nullptr;
}

// Panels of 1, 2 or kPanelBlocks (3) row blocks.
template <int BITS>
TileFn PickPanelForBits(int blocks, int mt) {
  switch (blocks) {
    case 1: return PickPanelHeight<BITS, 1>(mt);
    case 2: return PickPanelHeight<BITS, 2>(mt);
    case kPanelBlocks: return PickPanelHeight<BITS, kPanelBlocks>(mt);
  }
  return nullptr;
}

TileFn PickPanel(int bits, int blocks, int mt) {
  switch (bits) {
    case 1: return PickPanelForBits<1>(blocks, mt);
    case 2: return PickPanelForBits<2>(blocks, mt);
    case 3: return PickPanelForBits<3>(blocks, mt);
    case 4: return PickPanelForBits<4>(blocks, mt);
    case 8: return PickPanelForBits<8>(blocks, mt);
  }
  return nullptr;
}

// Row blocks of the next panel when `left` remain: 3 while that leaves no single block, so
// 4 = 2 + 2 and 2 = 2 (not 3 + 1 and 1 + 1): a one-block panel issues 8 broadcasts per 8
// vpdpbusd, a two-block one per 16, so e.g. 64-row layers (4 blocks) run faster.
int NextPanelBlocks(int64_t left) {
  if (left >= kPanelBlocks + 2 || left == kPanelBlocks) return kPanelBlocks;
  return left >= 2 ? 2 : 1;
}

// ---------------------------------------------------------------------------------------------
// Work split

// Below this many multiply-adds a call runs on the calling thread: waking a second thread
// (an OpenMP fork/join, microseconds, far more when the other core is busy) costs more than
// the work saves. 2^19 MACs are a few microseconds of one core's VNNI/FMA throughput.
constexpr int64_t kMinParallelMacs = int64_t{1} << 19;
// The int8 uniform / ternary panels do 4-8x more multiply-adds per second than the fp32 and
// codebook kernels, so a region pays only from more work. Measured (kernels:bench, 2 threads
// vs 1): 64x576 at m = 64 (2.4 M MACs) 17.8 vs 16.6 us and 64x256 at m = 64 (1 M) 11.8 vs
// 7.8 us: the region's fork/join and moving rows between the cores cost ~8 us on this VM.
constexpr int64_t kMinParallelMacsInt8Panels = int64_t{1} << 22;

// What one work chunk computes: row blocks [rb_begin, rb_end) x tiles [tile_begin, tile_end).
struct WorkRange {
  int64_t rb_begin, rb_end, tile_begin, tile_end;
};

// Chunks handed to threads on demand (OpenMP dynamic schedule): either kPanelBlocks row blocks
// with every activation tile (a thread owns those rows' weights and output columns; two
// threads share a cache line of y only at a chunk boundary), or, when there are too few row
// blocks for that to balance, one activation tile with every row block. Dynamic rather than
// static so that when the other core is busy with another process the running thread takes
// the remaining chunks instead of waiting for its peer's fixed half. Each output is still
// computed by exactly one chunk in a fixed order, so results do not depend on who runs it.
struct ChunkPlan {
  bool by_rows;
  int64_t row_blocks, tiles, chunks;
  ChunkPlan(int64_t rb, int64_t t, int threads) : row_blocks(rb), tiles(t) {
    const int64_t row_chunks = (rb + kPanelBlocks - 1) / kPanelBlocks;
    by_rows = row_chunks >= 2 * threads || row_chunks >= t;
    chunks = by_rows ? row_chunks : t;
  }
  WorkRange operator[](int64_t c) const {
    if (by_rows) {
      return {c * kPanelBlocks, std::min(row_blocks, (c + 1) * kPanelBlocks), 0, tiles};
    }
    return {0, row_blocks, c, c + 1};
  }
};

}  // namespace

absl::Status PackedGemmAvx512(const PackedMatrix& w, const GemmArgs& args) {
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
  const bool int8_panels = int8 && !codebook;
  if (macs < (int8_panels ? kMinParallelMacsInt8Panels : kMinParallelMacs)) threads = 1;

  // Activation rows per task: 8 (the interleaved tile) for the int8 uniform/ternary panels and
  // the fp32 kernel; codebooks with int8 activations keep L - 1 level sums per row in registers.
  int full_tile = kMaxTile;
  if (int8 && codebook) full_tile = CodebookTile(w.bits);
  const int64_t full_tiles = m / full_tile;
  const int rest = static_cast<int>(m % full_tile);

  // Row-block kernels: the fp32 and codebook ones take one row block per call; the rest of the
  // rows is one shorter tile, or single rows where no such tile is instantiated.
  const bool panels = int8 && !codebook;
  TileFn full = nullptr, rest_fn = nullptr;
  int rest_tile = 1;
  // Panel kernels: [row blocks 1..3][full tile?].
  TileFn panel_fn[kPanelBlocks + 1][2] = {};
  if (panels) {
    for (int blocks = 1; blocks <= kPanelBlocks; ++blocks) {
      panel_fn[blocks][1] = PickPanel(w.bits, blocks, kActTile);
      if (rest > 0) panel_fn[blocks][0] = PickPanel(w.bits, blocks, rest);
    }
    rest_tile = rest > 0 ? rest : 1;  // every height 1..8 has a panel kernel
  } else {
    full = Pick(w, args.activations, full_tile);
    rest_fn = rest > 0 ? Pick(w, args.activations, rest) : nullptr;
    rest_tile = rest_fn != nullptr ? rest : 1;
    if (rest > 0 && rest_fn == nullptr) rest_fn = Pick(w, args.activations, 1);
  }
  const int64_t rest_tiles = rest > 0 ? rest / rest_tile : 0;
  const int64_t tiles = full_tiles + rest_tiles;

  // The calling thread's scratch; OpenMP workers below must use these pointers, never the
  // name `scratch`, which would resolve to their own (empty) thread_local instance.
  thread_local Int8Scratch scratch;
  int8_t* q = nullptr;
  float* q_scale = nullptr;
  int32_t* q_sum = nullptr;
  if (int8) {
    pb.q_tile = codebook ? 1 : kActTile;
    if (auto s = scratch.Reserve(m, pb.padded_cols); !s.ok()) return s;
    q = scratch.q.get();
    q_scale = scratch.q_scale.data();
    q_sum = scratch.q_sum.data();
    pb.q = q;
    pb.q_scale = q_scale;
    pb.q_sum = q_sum;
  }
  const int64_t q_tiles = (m + pb.q_tile - 1) / pb.q_tile;
  // Quantizes the rows of one tile of the activation buffer into their interleaved places.
  auto quantize_tile = [&](int64_t t) {
    const int64_t first = t * pb.q_tile;
    const int64_t h = std::min<int64_t>(pb.q_tile, m - first);
    int8_t* tile = q + first * pb.padded_cols;
    for (int64_t i = 0; i < h; ++i) {
      QuantizeRow(args.x + (first + i) * args.x_stride, w.cols, pb.padded_cols, tile + 4 * i,
                  4 * h, &q_scale[first + i], &q_sum[first + i]);
    }
  };
  auto compute = [&](const WorkRange& r) {
    if (panels) {
      // Panel-major: the panel's codes (RB row blocks) stay in L1/L2 across the activation
      // tiles, which stream through sequentially.
      for (int64_t rb = r.rb_begin; rb < r.rb_end;) {
        const int blocks = NextPanelBlocks(r.rb_end - rb);
        for (int64_t t = r.tile_begin; t < r.tile_end; ++t) {
          panel_fn[blocks][t < full_tiles ? 1 : 0](pb, rb, t * kActTile);
        }
        rb += blocks;
      }
      return;
    }
    for (int64_t rb = r.rb_begin; rb < r.rb_end; ++rb) {
      for (int64_t t = r.tile_begin; t < r.tile_end; ++t) {
        if (t < full_tiles) {
          full(pb, rb, t * full_tile);
        } else {
          rest_fn(pb, rb, full_tiles * full_tile + (t - full_tiles) * rest_tile);
        }
      }
    }
  };

  if (threads == 1) {
    // No OpenMP region at all: even a one-thread team costs about a microsecond.
    if (int8) {
      for (int64_t t = 0; t < q_tiles; ++t) quantize_tile(t);
    }
    compute(WorkRange{0, row_blocks, 0, tiles});
    return absl::OkStatus();
  }
  const ChunkPlan plan(row_blocks, tiles, threads);
  // A single activation tile (GEMV, small batches) is quantized before the region, so the
  // region has no barrier besides its end.
  if (int8 && q_tiles == 1) quantize_tile(0);
  if (int8 && q_tiles > 1 && !plan.by_rows) {
    // Chunks of activation tiles: each chunk quantizes its own rows, then multiplies them by
    // every row block, on the same core and without a barrier. (Quantizing all tiles first,
    // then a barrier, then computing tiles on whichever thread comes first cost a barrier
    // and moved the quantized rows between the cores: 64x576 at m = 64 was slower on 2
    // threads than on 1.) Compute tiles never straddle quantization tiles: panels use the
    // same 8-row tiles, codebooks quantize single rows.
    auto tile_first_row = [&](int64_t t) {
      return t < full_tiles ? t * full_tile : full_tiles * full_tile + (t - full_tiles) * rest_tile;
    };
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t c = 0; c < plan.chunks; ++c) {
      const WorkRange r = plan[c];
      const int64_t first = tile_first_row(r.tile_begin);
      const int64_t end = r.tile_end < tiles ? tile_first_row(r.tile_end) : m;
      for (int64_t qt = first / pb.q_tile; qt * pb.q_tile < end; ++qt) quantize_tile(qt);
      compute(r);
    }
    return absl::OkStatus();
  }
  // Chunks of row blocks need every activation row: one region, quantize (by activation
  // tile), barrier, then the output chunks.
#pragma omp parallel num_threads(threads)
  {
    if (int8 && q_tiles > 1) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < q_tiles; ++t) quantize_tile(t);
    }
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < plan.chunks; ++c) compute(plan[c]);
  }
  return absl::OkStatus();
}

}  // namespace quantbench
