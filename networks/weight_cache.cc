#include "networks/weight_cache.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr char kMagic[8] = {'Q', 'B', 'W', 'E', 'I', 'G', 'H', 'T'};
// Bigger than any real tensor; guards the reader's arithmetic.
constexpr uint32_t kMaxRank = 16;

uint32_t Crc32(const std::string& bytes, size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < length) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(length - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

// ---- encoding

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void F32s(const std::vector<float>& values) {
    out_.reserve(out_.size() + values.size() * 4);
    for (float f : values) {
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof(bits));
      U32(bits);
    }
  }
  void Raw(const char* data, size_t n) { out_.append(data, n); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// ---- decoding: every read checks the remaining length first.

class Reader {
 public:
  Reader(const std::string& bytes, size_t end) : bytes_(bytes), end_(end) {}

  size_t remaining() const { return end_ - pos_; }

  absl::Status U8(uint8_t* v) {
    QB_RETURN_IF_ERROR(Need(1, "u8"));
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return absl::OkStatus();
  }
  absl::Status U32(uint32_t* v) {
    QB_RETURN_IF_ERROR(Need(4, "u32"));
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(static_cast<uint8_t>(bytes_[pos_++])) << (8 * i);
    *v = r;
    return absl::OkStatus();
  }
  absl::Status U64(uint64_t* v) {
    QB_RETURN_IF_ERROR(Need(8, "u64"));
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_++])) << (8 * i);
    *v = r;
    return absl::OkStatus();
  }
  absl::Status Str(std::string* s, const char* what) {
    uint32_t length = 0;
    QB_RETURN_IF_ERROR(U32(&length));
    QB_RETURN_IF_ERROR(Need(length, what));
    s->assign(bytes_, pos_, length);
    pos_ += length;
    return absl::OkStatus();
  }
  absl::Status F32s(uint64_t count, std::vector<float>* values) {
    if (count > remaining() / 4) {
      return absl::DataLossError(absl::StrCat("tensor claims ", count, " values but only ",
                                              remaining(), " bytes remain"));
    }
    values->resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint32_t bits = 0;
      QB_RETURN_IF_ERROR(U32(&bits));
      std::memcpy(&(*values)[i], &bits, sizeof(bits));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      return absl::DataLossError(absl::StrCat("truncated while reading ", what, " at offset ",
                                              pos_, " (", n, " bytes needed, ", remaining(),
                                              " left)"));
    }
    return absl::OkStatus();
  }

  const std::string& bytes_;
  size_t end_;
  size_t pos_ = 0;
};

absl::Status ErrnoError(int error, const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " '", path, "'"));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no weight cache '", path, "'"));
    return ErrnoError(errno, "cannot open weight cache", path);
  }
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, "cannot read weight cache", path);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

absl::StatusOr<ParamStore> ParseBytes(const std::string& bytes, const std::string& expected_key) {
  constexpr size_t kMinSize = sizeof(kMagic) + 4 /*version*/ + 4 /*key len*/ + 4 /*count*/ + 4;
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("bad magic: not a QBWEIGHT file");
  }
  if (bytes.size() < kMinSize) {
    return absl::DataLossError(absl::StrCat("truncated: ", bytes.size(), " bytes"));
  }
  const size_t body = bytes.size() - 4;
  // The stored CRC is the last 4 bytes.
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i) {
    stored_crc |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[body + i])) << (8 * i);
  }
  const uint32_t actual_crc = Crc32(bytes, body);
  if (stored_crc != actual_crc) {
    return absl::DataLossError(absl::StrCat("CRC mismatch (stored ", stored_crc, ", computed ",
                                            actual_crc, "): truncated or corrupted"));
  }

  Reader in(bytes, body);
  for (size_t i = 0; i < sizeof(kMagic); ++i) {  // checked above
    uint8_t c;
    QB_RETURN_IF_ERROR(in.U8(&c));
  }
  uint32_t version = 0;
  QB_RETURN_IF_ERROR(in.U32(&version));
  if (version != kWeightCacheVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "weight cache format version ", version, ", this build reads ", kWeightCacheVersion));
  }
  std::string key;
  QB_RETURN_IF_ERROR(in.Str(&key, "key"));
  // An empty expected key accepts any file: a user-supplied weights file, not a cache probe.
  if (!expected_key.empty() && key != expected_key) {
    return absl::FailedPreconditionError(absl::StrCat("weight cache key mismatch: file has \"",
                                                      key, "\", expected \"", expected_key,
                                                      "\""));
  }
  uint32_t count = 0;
  QB_RETURN_IF_ERROR(in.U32(&count));
  ParamStore store;
  for (uint32_t t = 0; t < count; ++t) {
    Parameter p;
    QB_RETURN_IF_ERROR(in.Str(&p.name, "tensor name"));
    QB_RETURN_IF_ERROR(in.Str(&p.layer, "layer name"));
    QB_RETURN_IF_ERROR(in.Str(&p.layer_type, "layer type"));
    uint8_t kind = 0;
    QB_RETURN_IF_ERROR(in.U8(&kind));
    if (kind > Parameter::kNormalization) {
      return absl::DataLossError(absl::StrCat("tensor '", p.name, "': bad kind ", kind));
    }
    p.kind = static_cast<Parameter::Kind>(kind);
    uint32_t rank = 0;
    QB_RETURN_IF_ERROR(in.U32(&rank));
    if (rank > kMaxRank) {
      return absl::DataLossError(absl::StrCat("tensor '", p.name, "': rank ", rank));
    }
    // elements <= remaining / 4 is kept invariant, so the product never overflows and no
    // allocation can exceed the file's size.
    uint64_t elements = 1;
    for (uint32_t r = 0; r < rank; ++r) {
      uint64_t dim = 0;
      QB_RETURN_IF_ERROR(in.U64(&dim));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::DataLossError(absl::StrCat("tensor '", p.name, "': dimension ", dim));
      }
      p.shape.push_back(static_cast<int64_t>(dim));
      if (elements != 0 && dim > in.remaining() / 4 / elements) {
        return absl::DataLossError(absl::StrCat("tensor '", p.name, "': shape ",
                                                ShapeToString(p.shape),
                                                " does not fit in the file"));
      }
      elements *= dim;
    }
    QB_RETURN_IF_ERROR(
        Annotate(in.F32s(elements, &p.values), absl::StrCat("tensor '", p.name, "'")));
    absl::Status added = store.Add(std::move(p));
    if (!added.ok()) return absl::DataLossError(added.message());
  }
  if (in.remaining() != 0) {
    return absl::DataLossError(absl::StrCat(in.remaining(), " unexpected trailing bytes"));
  }
  return store;
}

}  // namespace

absl::Status SaveParamStore(const std::string& path, const ParamStore& params,
                            const std::string& key) {
  Writer out;
  out.Raw(kMagic, sizeof(kMagic));
  out.U32(kWeightCacheVersion);
  if (key.size() > std::numeric_limits<uint32_t>::max() ||
      params.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("SaveParamStore: key or tensor count too large");
  }
  out.Str(key);
  out.U32(static_cast<uint32_t>(params.size()));
  for (const Parameter& p : params.parameters()) {
    if (static_cast<int64_t>(p.values.size()) != p.NumElements()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SaveParamStore: parameter '", p.name, "' has shape ", ShapeToString(p.shape), " but ",
          p.values.size(), " values"));
    }
    out.Str(p.name);
    out.Str(p.layer);
    out.Str(p.layer_type);
    out.U8(static_cast<uint8_t>(p.kind));
    out.U32(static_cast<uint32_t>(p.shape.size()));
    for (int64_t d : p.shape) out.U64(static_cast<uint64_t>(d));
    out.F32s(p.values);
  }
  out.U32(Crc32(out.bytes(), out.bytes().size()));

  return WriteFileAtomically(path, {out.bytes()});
}

absl::StatusOr<ParamStore> ParseParamStore(const std::string& bytes,
                                           const std::string& expected_key) {
  return ParseBytes(bytes, expected_key);
}

absl::StatusOr<ParamStore> LoadParamStore(const std::string& path,
                                          const std::string& expected_key) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<ParamStore> store = ParseBytes(*bytes, expected_key);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("weight cache '", path, "': ", store.status().message()));
  }
  return store;
}

}  // namespace quantbench
