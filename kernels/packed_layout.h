// The one packed layout every PackedMatrix format shares (described with pictures in
// kernels/README.md). It is shaped for AVX-512 VNNI: one 64-byte vector of decoded codes holds
// 16 rows x 4 consecutive columns, byte 4*i + j = (row i, column j), so `vpdpbusd` with the 4
// matching activation bytes broadcast to every lane yields 16 row partial sums at once, with no
// horizontal reduction.
//
//   row block   = 16 rows (rows padded to a multiple of 16 with code 0)
//   column group = 4 columns;  super-block = 8 column groups = 32 columns
//                 (cols padded to a multiple of 32 with code 0)
//   super-block bytes = 64 * bits (16 rows * 32 cols * bits / 8)
//
// Inside a super-block, group g (0..7) of a b-bit format (b in 1, 2, 4, 8) lives in sub-block
// g / (8 / b) (64 bytes each) at bit offset b * (g % (8 / b)) of every byte: decoding a group is
// one shift and one AND. 3-bit codes are a 2-bit super-block (low bits, 128 bytes) followed by a
// 1-bit super-block (high bit, 64 bytes). Super-blocks of a row block are consecutive, row
// blocks are consecutive, and kTernaryPlanes stores its planes one after the other.
//
// Ternary values t are stored as the 2-bit code t + 1 (0, 1, 2): the integer kernels then
// compute sum(q * t) = sum(q * (t + 1)) - sum(q) exactly with unsigned-by-signed dot products.
#ifndef QUANTBENCH_KERNELS_PACKED_LAYOUT_H_
#define QUANTBENCH_KERNELS_PACKED_LAYOUT_H_

#include <cstdint>

namespace quantbench {
namespace packed_layout {

constexpr int64_t kRowBlock = 16;
constexpr int64_t kGroupCols = 4;
constexpr int64_t kGroupsPerSuperBlock = 8;
constexpr int64_t kSuperBlockCols = kGroupCols * kGroupsPerSuperBlock;  // 32
constexpr int64_t kSubBlockBytes = 64;  // kRowBlock * kGroupCols bytes of decoded codes

inline int64_t PaddedRows(int64_t rows) { return (rows + kRowBlock - 1) / kRowBlock * kRowBlock; }
inline int64_t PaddedCols(int64_t cols) {
  return (cols + kSuperBlockCols - 1) / kSuperBlockCols * kSuperBlockCols;
}
inline int64_t SuperBlockBytes(int bits) { return kSubBlockBytes * bits; }
inline int64_t SuperBlocksPerRowBlock(int64_t cols) { return PaddedCols(cols) / kSuperBlockCols; }
inline int64_t RowBlockBytes(int bits, int64_t cols) {
  return SuperBlocksPerRowBlock(cols) * SuperBlockBytes(bits);
}
// Bytes of one plane (the whole matrix for every format but kTernaryPlanes).
inline int64_t PlaneBytes(int bits, int64_t rows, int64_t cols) {
  return PaddedRows(rows) / kRowBlock * RowBlockBytes(bits, cols);
}

// The sizes a kernel walking a packed matrix needs, computed once per call.
struct PlaneGeometry {
  int64_t padded_cols;
  int64_t super_blocks;  // per row block
  int64_t row_block_bytes;
  int64_t plane_bytes;
  int64_t full_super_blocks;  // cols / 32: super-blocks without padding columns
  int tail_cols;              // cols % 32
};
inline PlaneGeometry GeometryOf(int bits, int64_t rows, int64_t cols) {
  return {PaddedCols(cols),       SuperBlocksPerRowBlock(cols), RowBlockBytes(bits, cols),
          PlaneBytes(bits, rows, cols), cols / kSuperBlockCols,
          static_cast<int>(cols % kSuperBlockCols)};
}

// Where code (r, k) of a plane lives: byte offsets of the (up to two) bit fields.
struct CodeLocation {
  int64_t byte;  // offset of the byte holding the low bits
  int shift;     // bit offset of the low bits inside that byte
  int low_bits;  // bits stored there (== bits except for 3-bit codes, where it is 2)
  int64_t high_byte;  // 3-bit only: byte holding the high bit
  int high_shift;
};

inline CodeLocation LocateCode(int bits, int64_t cols, int64_t r, int64_t k) {
  const int64_t block = r / kRowBlock;
  const int64_t lane_byte = (r % kRowBlock) * kGroupCols + k % kGroupCols;
  const int64_t super_block = k / kSuperBlockCols;
  const int group = static_cast<int>((k % kSuperBlockCols) / kGroupCols);
  const int64_t base =
      block * RowBlockBytes(bits, cols) + super_block * SuperBlockBytes(bits);
  CodeLocation loc{};
  const int low_bits = bits == 3 ? 2 : bits;
  const int groups_per_byte = 8 / low_bits;
  loc.low_bits = low_bits;
  loc.byte = base + (group / groups_per_byte) * kSubBlockBytes + lane_byte;
  loc.shift = low_bits * (group % groups_per_byte);
  if (bits == 3) {
    // The high-bit sub-block follows the two low-bit sub-blocks; 8 groups per byte.
    loc.high_byte = base + 2 * kSubBlockBytes + lane_byte;
    loc.high_shift = group;
  }
  return loc;
}

inline unsigned ReadCode(const uint8_t* plane, int bits, int64_t cols, int64_t r, int64_t k) {
  const CodeLocation loc = LocateCode(bits, cols, r, k);
  unsigned code = (plane[loc.byte] >> loc.shift) & ((1u << loc.low_bits) - 1u);
  if (bits == 3) code |= ((plane[loc.high_byte] >> loc.high_shift) & 1u) << 2;
  return code;
}

// `plane` must start zeroed; each code is written once.
inline void WriteCode(uint8_t* plane, int bits, int64_t cols, int64_t r, int64_t k,
                      unsigned code) {
  const CodeLocation loc = LocateCode(bits, cols, r, k);
  plane[loc.byte] |= static_cast<uint8_t>((code & ((1u << loc.low_bits) - 1u)) << loc.shift);
  if (bits == 3) plane[loc.high_byte] |= static_cast<uint8_t>(((code >> 2) & 1u) << loc.high_shift);
}

}  // namespace packed_layout
}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_LAYOUT_H_
