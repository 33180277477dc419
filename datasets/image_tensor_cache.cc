#include "datasets/image_tensor_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace quantbench {
namespace {

constexpr char kMagic[8] = {'Q', 'B', 'I', 'M', 'G', 'T', 'E', 'N'};
constexpr uint32_t kMaxRank = 16;
// The CRC pass at open streams the file through a buffer of this size.
constexpr size_t kChunk = size_t{8} << 20;

// Distinguishes temporary files of concurrent writers in one process (pid does across them).
std::atomic<uint64_t> temp_counter{0};

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

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// product(shape), or InvalidArgument for a negative dimension, a rank the format does not
// allow, or a product that would not fit comfortably in 64 bits.
absl::StatusOr<uint64_t> CheckedElements(const std::vector<int64_t>& shape, const char* who) {
  if (shape.size() > kMaxRank) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": rank ", shape.size(), " > ", kMaxRank));
  }
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || (elements != 0 && static_cast<uint64_t>(d) > (uint64_t{1} << 60) / elements)) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": bad shape ", ShapeString(shape)));
    }
    elements *= static_cast<uint64_t>(d);
  }
  return elements;
}

std::string Header(const std::string& key, const std::vector<int64_t>& shape) {
  std::string header(kMagic, sizeof(kMagic));
  PutU32(&header, kImageTensorCacheVersion);
  PutU32(&header, static_cast<uint32_t>(key.size()));
  header += key;
  PutU32(&header, static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) PutU64(&header, static_cast<uint64_t>(d));
  return header;
}

// Reads exactly `size` bytes at `offset`; DataLoss if the file ends first.
absl::Status PreadAll(int fd, void* data, size_t size, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot read", path);
    }
    if (n == 0) return absl::DataLossError(absl::StrCat(path, ": truncated"));
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot write", path);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Checks the header of the file open as `fd` (`file_size` bytes) against key and shape and
// verifies the CRC over the whole file. Returns the offset of the first value.
absl::StatusOr<uint64_t> VerifyFile(int fd, uint64_t file_size, const std::string& path,
                                    const std::string& key, const std::vector<int64_t>& shape,
                                    uint64_t elements) {
  uint8_t fixed[16];
  if (file_size < sizeof(fixed) + 4) {
    return absl::DataLossError(absl::StrCat(path, ": ", file_size, " bytes is too short"));
  }
  absl::Status read = PreadAll(fd, fixed, sizeof(fixed), 0, path);
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
  std::string stored_key(key_length, '\0');
  read = PreadAll(fd, stored_key.data(), key_length, sizeof(fixed), path);
  if (!read.ok()) return read;
  if (stored_key != key) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": written for another key (other files, sizes, times or settings)"));
  }
  uint64_t offset = sizeof(fixed) + key_length;
  uint8_t rank_bytes[4];
  read = PreadAll(fd, rank_bytes, 4, offset, path);
  if (!read.ok()) return read;
  offset += 4;
  const uint32_t rank = GetU32(rank_bytes);
  if (rank > kMaxRank) return absl::DataLossError(absl::StrCat(path, ": rank ", rank));
  std::vector<uint8_t> dim_bytes(size_t{rank} * 8);
  read = PreadAll(fd, dim_bytes.data(), dim_bytes.size(), offset, path);
  if (!read.ok()) return read;
  offset += dim_bytes.size();
  std::vector<int64_t> stored_shape;
  for (uint32_t r = 0; r < rank; ++r) {
    stored_shape.push_back(static_cast<int64_t>(GetU64(dim_bytes.data() + 8 * r)));
  }
  if (stored_shape != shape) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": holds shape ",
                                                      ShapeString(stored_shape), ", expected ",
                                                      ShapeString(shape)));
  }
  const uint64_t data_offset = offset;
  const uint64_t expected_size = data_offset + elements + 4;
  if (expected_size != file_size) {
    return absl::DataLossError(absl::StrCat(path, ": ", file_size, " bytes, expected ",
                                            expected_size, " for shape ", ShapeString(shape)));
  }
  // One pass over everything before the trailer, header included, through a fixed buffer.
  std::vector<uint8_t> buffer(static_cast<size_t>(std::min<uint64_t>(kChunk, file_size - 4)));
  uint32_t crc = 0;
  for (uint64_t done = 0; done < file_size - 4;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(file_size - 4 - done, buffer.size()));
    read = PreadAll(fd, buffer.data(), n, done, path);
    if (!read.ok()) return read;
    crc = Crc32Update(crc, buffer.data(), n);
    done += n;
  }
  uint8_t crc_bytes[4];
  read = PreadAll(fd, crc_bytes, 4, file_size - 4, path);
  if (!read.ok()) return read;
  if (GetU32(crc_bytes) != crc) {
    return absl::DataLossError(absl::StrFormat("%s: CRC mismatch (stored %08x, computed %08x)",
                                               path, GetU32(crc_bytes), crc));
  }
  return data_offset;
}

}  // namespace

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

// ---- ImageTensorFile

ImageTensorFile::ImageTensorFile(int fd, std::string path, std::vector<int64_t> shape,
                                 uint64_t elements, uint64_t data_offset)
    : fd_(fd),
      path_(std::move(path)),
      shape_(std::move(shape)),
      elements_(elements),
      data_offset_(data_offset) {}

ImageTensorFile::~ImageTensorFile() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<ImageTensorFile>> ImageTensorFile::Open(
    const std::string& path, const std::string& key, const std::vector<int64_t>& shape) {
  absl::StatusOr<uint64_t> elements = CheckedElements(shape, "ImageTensorFile::Open");
  if (!elements.ok()) return elements.status();
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
  absl::StatusOr<uint64_t> data_offset =
      VerifyFile(fd, static_cast<uint64_t>(st.st_size), path, key, shape, *elements);
  if (!data_offset.ok()) {
    ::close(fd);
    return data_offset.status();
  }
  return std::unique_ptr<ImageTensorFile>(
      new ImageTensorFile(fd, path, shape, *elements, *data_offset));
}

absl::Status ImageTensorFile::Read(uint64_t offset, size_t n, uint8_t* out) const {
  if (offset > elements_ || n > elements_ - offset) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": values [", offset, ", ", offset + n,
                                              ") requested, the file holds ", elements_));
  }
  return PreadAll(fd_, out, n, data_offset_ + offset, path_);
}

// ---- ImageTensorWriter

ImageTensorWriter::ImageTensorWriter(int fd, std::string path, std::string temp_path,
                                     std::vector<int64_t> shape, uint64_t elements,
                                     uint64_t data_offset, uint32_t crc)
    : fd_(fd),
      path_(std::move(path)),
      temp_path_(std::move(temp_path)),
      shape_(std::move(shape)),
      elements_(elements),
      data_offset_(data_offset),
      crc_(crc) {}

ImageTensorWriter::~ImageTensorWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

absl::StatusOr<std::unique_ptr<ImageTensorWriter>> ImageTensorWriter::Create(
    const std::string& path, const std::string& key, const std::vector<int64_t>& shape) {
  absl::StatusOr<uint64_t> elements = CheckedElements(shape, "ImageTensorWriter::Create");
  if (!elements.ok()) return elements.status();
  if (key.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("ImageTensorWriter::Create: key too large");
  }
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return ErrnoError(ec.value(), "cannot create the directory of", path);
  }
  std::string temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", temp_counter++);
  // Read-write: after the rename, the same descriptor serves the committed file's reads.
  const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot create", temp);
  const std::string header = Header(key, shape);
  std::unique_ptr<ImageTensorWriter> writer(new ImageTensorWriter(
      fd, path, std::move(temp), shape, *elements, header.size(),
      Crc32Update(0, header.data(), header.size())));
  absl::Status written = WriteAll(fd, header.data(), header.size(), writer->temp_path_);
  if (!written.ok()) return written;  // the destructor removes the temporary file
  return writer;
}

absl::Status ImageTensorWriter::Append(const uint8_t* values, size_t n) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer already committed"));
  if (n > elements_ - appended_) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": appending ", n, " values after ",
                                                   appended_, " of ", elements_));
  }
  absl::Status written = WriteAll(fd_, values, n, temp_path_);
  if (!written.ok()) return written;
  crc_ = Crc32Update(crc_, values, n);
  appended_ += n;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ImageTensorFile>> ImageTensorWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer already committed"));
  const int fd = fd_;
  fd_ = -1;  // from here on this function owns the descriptor and the temporary file
  auto fail = [&](absl::Status status) {
    ::close(fd);
    ::unlink(temp_path_.c_str());
    return status;
  };
  if (appended_ != elements_) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        path_, ": committing ", appended_, " values, shape ", ShapeString(shape_), " needs ",
        elements_)));
  }
  std::string trailer;
  PutU32(&trailer, crc_);
  absl::Status status = WriteAll(fd, trailer.data(), trailer.size(), temp_path_);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError(errno, "cannot fsync", temp_path_);
  if (status.ok() && std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    status = ErrnoError(errno, "cannot rename the temporary file to", path_);
  }
  if (!status.ok()) return fail(status);
  return std::unique_ptr<ImageTensorFile>(
      new ImageTensorFile(fd, path_, shape_, elements_, data_offset_));
}

// ---- whole-tensor conveniences

absl::Status SaveImageTensor(const std::string& path, const std::string& key,
                             const std::vector<int64_t>& shape,
                             const std::vector<uint8_t>& values) {
  absl::StatusOr<uint64_t> elements = CheckedElements(shape, "SaveImageTensor");
  if (!elements.ok()) return elements.status();
  if (*elements != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("SaveImageTensor: shape ", ShapeString(shape),
                                                   " but ", values.size(), " values"));
  }
  absl::StatusOr<std::unique_ptr<ImageTensorWriter>> writer =
      ImageTensorWriter::Create(path, key, shape);
  if (!writer.ok()) return writer.status();
  absl::Status appended = (*writer)->Append(values.data(), values.size());
  if (!appended.ok()) return appended;
  return (*writer)->Commit().status();
}

absl::StatusOr<std::vector<uint8_t>> LoadImageTensor(const std::string& path,
                                                     const std::string& key,
                                                     const std::vector<int64_t>& shape) {
  absl::StatusOr<std::unique_ptr<ImageTensorFile>> file = ImageTensorFile::Open(path, key, shape);
  if (!file.ok()) return file.status();
  std::vector<uint8_t> values(static_cast<size_t>((*file)->elements()));
  absl::Status read = (*file)->Read(0, values.size(), values.data());
  if (!read.ok()) return read;
  return values;
}

}  // namespace quantbench
