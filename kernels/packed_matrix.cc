#include "kernels/packed_matrix.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/packed_layout.h"

namespace quantbench {
namespace {

using packed_layout::PlaneBytes;
using packed_layout::ReadCode;
using packed_layout::WriteCode;

// 64-byte aligned, zero-filled storage so kernels may use aligned full-vector loads and padding
// codes are 0.
std::shared_ptr<uint8_t> AllocateZeroed(int64_t bytes) {
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) return nullptr;
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

absl::Status CheckShape(const char* what, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": rows and cols must be positive, got ",
                                                   rows, " x ", cols));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(const char* what, const char* name, size_t got, int64_t want) {
  if (static_cast<int64_t>(got) != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", name, " has ", got, " entries, expected ", want));
  }
  return absl::OkStatus();
}

absl::StatusOr<PackedMatrix> NewMatrix(PackedFormat format, int bits, int planes, int64_t rows,
                                       int64_t cols) {
  PackedMatrix m;
  m.format = format;
  m.bits = bits;
  m.planes = planes;
  m.rows = rows;
  m.cols = cols;
  m.data_bytes = planes * PlaneBytes(bits, rows, cols);
  m.data = AllocateZeroed(m.data_bytes);
  if (m.data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("PackedMatrix: cannot allocate ", m.data_bytes, " bytes for ", rows, " x ",
                     cols, " ", PackedFormatName(format), " codes"));
  }
  return m;
}

// Packs unsigned codes (already range-checked) of one plane.
void PackPlane(uint8_t* plane, int bits, int64_t rows, int64_t cols, const uint8_t* codes) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) WriteCode(plane, bits, cols, r, k, codes[r * cols + k]);
  }
}

// Ternary values -> stored codes t + 1, rejecting anything outside {-1, 0, 1}.
absl::Status TernaryToCodes(const char* what, absl::Span<const int8_t> values, int64_t cols,
                            std::vector<uint8_t>* codes) {
  codes->resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const int v = values[i];
    if (v < -1 || v > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": code at index ", i, " (row ", static_cast<int64_t>(i) / cols, ", col ",
          static_cast<int64_t>(i) % cols, ") is ", v, ", expected -1, 0 or +1"));
    }
    (*codes)[i] = static_cast<uint8_t>(v + 1);
  }
  return absl::OkStatus();
}

absl::Status CheckCodeRange(const char* what, int bits, int64_t cols,
                            absl::Span<const uint8_t> codes) {
  const unsigned limit = 1u << bits;
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i] >= limit) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": code at index ", i, " (row ", static_cast<int64_t>(i) / cols, ", col ",
          static_cast<int64_t>(i) % cols, ") is ", static_cast<int>(codes[i]), ", but ", bits,
          "-bit codes must be < ", limit));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* PackedFormatName(PackedFormat format) {
  switch (format) {
    case PackedFormat::kUniform:
      return "uniform";
    case PackedFormat::kTernary:
      return "ternary";
    case PackedFormat::kCodebook:
      return "codebook";
    case PackedFormat::kTernaryPlanes:
      return "ternary_planes";
  }
  return "unknown";
}

int64_t PackedMatrix::StorageBytes() const {
  const int64_t code_bits = static_cast<int64_t>(planes) * rows * cols * bits;
  int64_t bytes = (code_bits + 7) / 8;
  bytes += static_cast<int64_t>(scale.size() * sizeof(float));
  bytes += static_cast<int64_t>(zero_point_x2.size() * sizeof(int32_t));
  if (format == PackedFormat::kCodebook) {
    // A deployment keeps only the 2^bits levels a code can name, not the 16-entry padding.
    const int64_t tables = per_row_table ? rows : 1;
    bytes += tables * (int64_t{1} << bits) * static_cast<int64_t>(sizeof(float));
  }
  return bytes;
}

absl::StatusOr<PackedMatrix> PackUniform(int bits, int64_t rows, int64_t cols,
                                         absl::Span<const uint8_t> codes,
                                         absl::Span<const float> scale,
                                         absl::Span<const int32_t> zero_point_x2) {
  constexpr const char* kWhat = "PackUniform";
  if (bits != 1 && bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": bits must be 1, 2, 3, 4 or 8, got ", bits));
  }
  if (auto s = CheckShape(kWhat, rows, cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "codes", codes.size(), rows * cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "scale", scale.size(), rows); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "zero_point_x2", zero_point_x2.size(), rows); !s.ok()) return s;
  if (auto s = CheckCodeRange(kWhat, bits, cols, codes); !s.ok()) return s;
  auto m = NewMatrix(PackedFormat::kUniform, bits, 1, rows, cols);
  if (!m.ok()) return m.status();
  PackPlane(m->data.get(), bits, rows, cols, codes.data());
  m->scale.assign(scale.begin(), scale.end());
  m->zero_point_x2.assign(zero_point_x2.begin(), zero_point_x2.end());
  return m;
}

absl::StatusOr<PackedMatrix> PackTernary(int64_t rows, int64_t cols,
                                         absl::Span<const int8_t> codes,
                                         absl::Span<const float> scale) {
  constexpr const char* kWhat = "PackTernary";
  if (auto s = CheckShape(kWhat, rows, cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "codes", codes.size(), rows * cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "scale", scale.size(), rows); !s.ok()) return s;
  std::vector<uint8_t> stored;
  if (auto s = TernaryToCodes(kWhat, codes, cols, &stored); !s.ok()) return s;
  auto m = NewMatrix(PackedFormat::kTernary, 2, 1, rows, cols);
  if (!m.ok()) return m.status();
  PackPlane(m->data.get(), 2, rows, cols, stored.data());
  m->scale.assign(scale.begin(), scale.end());
  return m;
}

absl::StatusOr<PackedMatrix> PackCodebook(int bits, int64_t rows, int64_t cols,
                                          absl::Span<const uint8_t> codes,
                                          absl::Span<const float> table, bool per_row_table) {
  constexpr const char* kWhat = "PackCodebook";
  if (bits < 1 || bits > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": bits must be 1..4 (at most 16 levels), got ", bits));
  }
  if (auto s = CheckShape(kWhat, rows, cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "codes", codes.size(), rows * cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, per_row_table ? "table (per row: rows * 16)" : "table (16)",
                         table.size(), per_row_table ? rows * 16 : 16);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckCodeRange(kWhat, bits, cols, codes); !s.ok()) return s;
  auto m = NewMatrix(PackedFormat::kCodebook, bits, 1, rows, cols);
  if (!m.ok()) return m.status();
  PackPlane(m->data.get(), bits, rows, cols, codes.data());
  m->table.assign(table.begin(), table.end());
  // Entries no code can name are zeroed, as the header promises ("unused entries 0").
  const int64_t tables = per_row_table ? rows : 1;
  for (int64_t t = 0; t < tables; ++t) {
    for (int e = 1 << bits; e < 16; ++e) m->table[t * 16 + e] = 0.0f;
  }
  m->per_row_table = per_row_table;
  return m;
}

absl::StatusOr<PackedMatrix> PackTernaryPlanes(int planes, int64_t rows, int64_t cols,
                                               absl::Span<const int8_t> codes,
                                               absl::Span<const float> scale) {
  constexpr const char* kWhat = "PackTernaryPlanes";
  if (planes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(kWhat, ": planes must be >= 1, got ", planes));
  }
  if (auto s = CheckShape(kWhat, rows, cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "codes", codes.size(), planes * rows * cols); !s.ok()) return s;
  if (auto s = CheckSize(kWhat, "scale", scale.size(), planes * rows); !s.ok()) return s;
  std::vector<uint8_t> stored;
  if (auto s = TernaryToCodes(kWhat, codes, cols, &stored); !s.ok()) return s;
  auto m = NewMatrix(PackedFormat::kTernaryPlanes, 2, planes, rows, cols);
  if (!m.ok()) return m.status();
  const int64_t plane_bytes = PlaneBytes(2, rows, cols);
  for (int p = 0; p < planes; ++p) {
    PackPlane(m->data.get() + p * plane_bytes, 2, rows, cols, stored.data() + p * rows * cols);
  }
  m->scale.assign(scale.begin(), scale.end());
  return m;
}

std::vector<uint8_t> UnpackCodes(const PackedMatrix& m) {
  const int64_t plane_bytes = PlaneBytes(m.bits, m.rows, m.cols);
  std::vector<uint8_t> codes(static_cast<size_t>(m.planes * m.rows * m.cols));
  for (int p = 0; p < m.planes; ++p) {
    const uint8_t* plane = m.data.get() + p * plane_bytes;
    for (int64_t r = 0; r < m.rows; ++r) {
      for (int64_t k = 0; k < m.cols; ++k) {
        codes[(p * m.rows + r) * m.cols + k] =
            static_cast<uint8_t>(ReadCode(plane, m.bits, m.cols, r, k));
      }
    }
  }
  return codes;
}

std::vector<int8_t> UnpackTernaryCodes(const PackedMatrix& m) {
  const std::vector<uint8_t> stored = UnpackCodes(m);
  std::vector<int8_t> values(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) values[i] = static_cast<int8_t>(stored[i] - 1);
  return values;
}

std::vector<float> Dequantize(const PackedMatrix& m) {
  std::vector<float> w(static_cast<size_t>(m.rows * m.cols), 0.0f);
  const std::vector<uint8_t> codes = UnpackCodes(m);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t k = 0; k < m.cols; ++k) {
      const int64_t i = r * m.cols + k;
      switch (m.format) {
        case PackedFormat::kUniform:
          w[i] = m.scale[r] * (static_cast<float>(codes[i]) - m.zero_point_x2[r] * 0.5f);
          break;
        case PackedFormat::kTernary:
          w[i] = m.scale[r] * static_cast<float>(static_cast<int>(codes[i]) - 1);
          break;
        case PackedFormat::kCodebook:
          w[i] = m.table[(m.per_row_table ? r : 0) * 16 + codes[i]];
          break;
        case PackedFormat::kTernaryPlanes: {
          // Planes summed in plane order, the order the kernels use.
          float v = 0.0f;
          for (int p = 0; p < m.planes; ++p) {
            const int t = static_cast<int>(codes[(p * m.rows + r) * m.cols + k]) - 1;
            v += m.scale[p * m.rows + r] * static_cast<float>(t);
          }
          w[i] = v;
          break;
        }
      }
    }
  }
  return w;
}

}  // namespace quantbench
