#include "experiments/image_tensor_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kernels/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "image_tensor_cache writes floats in host order and assumes a little-endian host"
#endif

namespace quantbench {
namespace {

constexpr char kMagic[8] = {'Q', 'B', 'I', 'M', 'G', 'T', 'E', 'N'};
constexpr uint32_t kMaxRank = 16;
constexpr size_t kChunk = size_t{8} << 20;

uint32_t Crc32Update(uint32_t crc, const void* data, size_t length) {
  const auto* bytes = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (length > 0) {
    const uInt n = static_cast<uInt>(std::min<size_t>(length, 1u << 30));
    c = crc32(c, bytes, n);
    bytes += n;
    length -= n;
  }
  return static_cast<uint32_t>(c);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t GetU64(const uint8_t* p) {
  return uint64_t{GetU32(p)} | uint64_t{GetU32(p + 4)} << 32;
}

absl::Status ErrnoError(int error, const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " '", path, "'"));
}

// Reads exactly `size` bytes; DataLoss if the file ends first.
absl::Status ReadAll(int fd, void* data, size_t size, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, std::min(size, kChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot read", path);
    }
    if (n == 0) return absl::DataLossError(absl::StrCat(path, ": truncated"));
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// The parsing half of LoadImageTensor, on an open descriptor of `file_size` bytes.
absl::StatusOr<std::vector<float>> ReadTensor(int fd, uint64_t file_size, const std::string& path,
                                              const std::string& key,
                                              const std::vector<int64_t>& shape) {
  uint8_t fixed[16];
  if (file_size < sizeof(fixed) + 4) {
    return absl::DataLossError(absl::StrCat(path, ": ", file_size, " bytes is too short"));
  }
  absl::Status read = ReadAll(fd, fixed, sizeof(fixed), path);
  if (!read.ok()) return read;
  if (std::memcmp(fixed, kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": bad magic, not an image tensor cache file"));
  }
  const uint32_t version = GetU32(fixed + 8);
  if (version != kImageTensorCacheVersion) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": format version ", version,
                                                      ", this build reads ",
                                                      kImageTensorCacheVersion));
  }
  const uint32_t key_length = GetU32(fixed + 12);
  if (key_length > file_size - sizeof(fixed) - 4) {
    return absl::DataLossError(absl::StrCat(path, ": key length ", key_length,
                                            " does not fit in the file"));
  }
  std::string header(reinterpret_cast<const char*>(fixed), sizeof(fixed));
  std::string stored_key(key_length, '\0');
  read = ReadAll(fd, stored_key.data(), key_length, path);
  if (!read.ok()) return read;
  header += stored_key;
  if (stored_key != key) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": written for another key (other files, sizes, times or settings)"));
  }
  uint8_t rank_bytes[4];
  read = ReadAll(fd, rank_bytes, 4, path);
  if (!read.ok()) return read;
  header.append(reinterpret_cast<const char*>(rank_bytes), 4);
  const uint32_t rank = GetU32(rank_bytes);
  if (rank > kMaxRank) return absl::DataLossError(absl::StrCat(path, ": rank ", rank));
  std::vector<uint8_t> dim_bytes(size_t{rank} * 8);
  read = ReadAll(fd, dim_bytes.data(), dim_bytes.size(), path);
  if (!read.ok()) return read;
  header.append(reinterpret_cast<const char*>(dim_bytes.data()), dim_bytes.size());
  std::vector<int64_t> stored_shape;
  for (uint32_t r = 0; r < rank; ++r) {
    stored_shape.push_back(static_cast<int64_t>(GetU64(dim_bytes.data() + 8 * r)));
  }
  if (stored_shape != shape) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": holds shape ",
                                                      ShapeString(stored_shape), ", expected ",
                                                      ShapeString(shape)));
  }
  uint64_t elements = 1;
  for (int64_t d : shape) elements *= static_cast<uint64_t>(d);  // shape validated by caller
  const uint64_t expected_size = header.size() + elements * 4 + 4;
  if (expected_size != file_size) {
    return absl::DataLossError(absl::StrCat(path, ": ", file_size, " bytes, expected ",
                                            expected_size, " for shape ", ShapeString(shape)));
  }
  std::vector<float> values = AllocateFloats(elements);
  uint32_t crc = Crc32Update(0, header.data(), header.size());
  char* dst = reinterpret_cast<char*>(values.data());
  for (uint64_t done = 0; done < elements * 4;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(elements * 4 - done, kChunk));
    read = ReadAll(fd, dst + done, n, path);
    if (!read.ok()) return read;
    crc = Crc32Update(crc, dst + done, n);
    done += n;
  }
  uint8_t crc_bytes[4];
  read = ReadAll(fd, crc_bytes, 4, path);
  if (!read.ok()) return read;
  if (GetU32(crc_bytes) != crc) {
    return absl::DataLossError(absl::StrFormat("%s: CRC mismatch (stored %08x, computed %08x)",
                                               path, GetU32(crc_bytes), crc));
  }
  return values;
}

}  // namespace

std::vector<float> AllocateFloats(size_t count) {
  std::vector<float> values;
  values.reserve(count);  // large blocks come straight from mmap: not touched yet
#if defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  if (count * sizeof(float) >= 4 * kHugePage) {
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(values.data()) + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t end = reinterpret_cast<uintptr_t>(values.data() + count) & ~(kHugePage - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint
  }
#endif
  values.resize(count);
  return values;
}

std::string ImageTensorCachePath(const std::string& cache_dir, const std::string& key) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  std::string dir = cache_dir;
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return absl::StrFormat("%simages-%016x.qbimg", dir, hash);
}

absl::Status SaveImageTensor(const std::string& path, const std::string& key,
                             const std::vector<int64_t>& shape, const std::vector<float>& values) {
  if (shape.size() > kMaxRank || key.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("SaveImageTensor: rank or key too large");
  }
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError("SaveImageTensor: negative dimension");
    elements *= static_cast<uint64_t>(d);
  }
  if (elements != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("SaveImageTensor: shape ", ShapeString(shape),
                                                   " but ", values.size(), " values"));
  }
  std::string header(kMagic, sizeof(kMagic));
  PutU32(&header, kImageTensorCacheVersion);
  PutU32(&header, static_cast<uint32_t>(key.size()));
  header += key;
  PutU32(&header, static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) PutU64(&header, static_cast<uint64_t>(d));

  uint32_t crc = Crc32Update(0, header.data(), header.size());
  crc = Crc32Update(crc, values.data(), values.size() * sizeof(float));
  std::string trailer;
  PutU32(&trailer, crc);
  return WriteFileAtomically(
      path, {header, absl::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)),
             trailer});
}

absl::StatusOr<std::vector<float>> LoadImageTensor(const std::string& path,
                                                   const std::string& key,
                                                   const std::vector<int64_t>& shape) {
  if (shape.size() > kMaxRank) return absl::InvalidArgumentError("LoadImageTensor: rank too large");
  // The product must fit comfortably in 64 bits (ReadTensor multiplies without checking).
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || (elements != 0 && static_cast<uint64_t>(d) > (uint64_t{1} << 60) / elements)) {
      return absl::InvalidArgumentError(absl::StrCat("LoadImageTensor: bad shape ",
                                                     ShapeString(shape)));
    }
    elements *= static_cast<uint64_t>(d);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no image cache '", path, "'"));
    return ErrnoError(errno, "cannot open image cache", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "cannot stat image cache", path);
  }
  absl::StatusOr<std::vector<float>> values =
      ReadTensor(fd, static_cast<uint64_t>(st.st_size), path, key, shape);
  ::close(fd);
  return values;
}

}  // namespace quantbench
