// File format (version 1). Integers little-endian; "len" is a u64 count; str = len + bytes;
// floats = len + len x IEEE-754 binary32.
//   "QBTRAINC"                         8 bytes magic
//   u32 version                        kCheckpointVersion
//   str key
//   u32 epochs_done
//   u32 parameter count, per parameter:
//     str name, str layer, str layer_type, u8 kind (Parameter::Kind),
//     u32 rank, rank x u64 dims, floats values (product(dims) of them)
//   u64 optimizer steps
//   u32 buffer count, per buffer: str tensor name, floats buffer
//   u32 extra tensor count, per tensor: str name, floats values
//   str rng_state
//   str history_json
//   u32 CRC-32 (zlib) of every byte before it
// The CRC is checked before anything is parsed, so a torn or bit-flipped file is DataLoss
// whatever field it hits; the parser still checks every size against the bytes left, so even
// a file with a valid CRC but nonsense sizes cannot make it allocate more than the file holds.
#include "training/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoint floats are copied as little-endian bytes");

namespace quantbench {
namespace {

constexpr char kMagic[] = "QBTRAINC";  // 8 bytes, without the terminating NUL
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr uint32_t kCheckpointVersion = 1;
constexpr uint32_t kMaxRank = 16;

uint32_t Crc32(absl::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), chunk);
    bytes.remove_prefix(chunk);
  }
  return static_cast<uint32_t>(crc);
}

// Appends fields to a byte string.
class Encoder {
 public:
  template <typename T>
  void Unsigned(T value) {
    for (size_t i = 0; i < sizeof(T); ++i) bytes_.push_back(static_cast<char>(value >> (8 * i)));
  }
  void String(absl::string_view s) {
    Unsigned<uint64_t>(s.size());
    bytes_.append(s.data(), s.size());
  }
  void Floats(absl::Span<const float> values) {
    Unsigned<uint64_t>(values.size());
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

// Reads fields back; every read first checks that the bytes are there.
class Decoder {
 public:
  explicit Decoder(absl::string_view bytes) : rest_(bytes) {}

  size_t left() const { return rest_.size(); }

  template <typename T>
  absl::Status Unsigned(const char* what, T* value) {
    QB_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      v |= static_cast<T>(static_cast<uint8_t>(rest_[i])) << (8 * i);
    }
    rest_.remove_prefix(sizeof(T));
    *value = v;
    return absl::OkStatus();
  }
  absl::Status String(const char* what, std::string* s) {
    uint64_t size = 0;
    QB_RETURN_IF_ERROR(Unsigned(what, &size));
    QB_RETURN_IF_ERROR(Need(size, what));
    s->assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return absl::OkStatus();
  }
  absl::Status Floats(const std::string& what, std::vector<float>* values) {
    uint64_t count = 0;
    QB_RETURN_IF_ERROR(Unsigned(what.c_str(), &count));
    if (count > left() / sizeof(float)) {
      return absl::DataLossError(
          absl::StrCat(what, ": ", count, " floats claimed, ", left(), " bytes left"));
    }
    values->resize(count);
    // An empty vector's data() may be null, and memcpy from or to null is undefined even
    // for 0 bytes (UBSan's nonnull-attribute check).
    if (count > 0) std::memcpy(values->data(), rest_.data(), count * sizeof(float));
    rest_.remove_prefix(count * sizeof(float));
    return absl::OkStatus();
  }

 private:
  absl::Status Need(uint64_t size, const char* what) const {
    if (size > rest_.size()) {
      return absl::DataLossError(
          absl::StrCat(what, ": ", size, " bytes needed, ", rest_.size(), " left"));
    }
    return absl::OkStatus();
  }

  absl::string_view rest_;
};

void EncodeParameter(const Parameter& p, Encoder* out) {
  out->String(p.name);
  out->String(p.layer);
  out->String(p.layer_type);
  out->Unsigned<uint8_t>(static_cast<uint8_t>(p.kind));
  out->Unsigned<uint32_t>(static_cast<uint32_t>(p.shape.size()));
  for (int64_t dim : p.shape) out->Unsigned<uint64_t>(static_cast<uint64_t>(dim));
  out->Floats(p.values);
}

absl::StatusOr<Parameter> DecodeParameter(Decoder* in) {
  Parameter p;
  QB_RETURN_IF_ERROR(in->String("parameter name", &p.name));
  QB_RETURN_IF_ERROR(in->String("layer name", &p.layer));
  QB_RETURN_IF_ERROR(in->String("layer type", &p.layer_type));
  uint8_t kind = 0;
  QB_RETURN_IF_ERROR(in->Unsigned("parameter kind", &kind));
  if (kind > Parameter::kNormalization) {
    return absl::DataLossError(absl::StrCat("parameter '", p.name, "': kind ", kind));
  }
  p.kind = static_cast<Parameter::Kind>(kind);
  uint32_t rank = 0;
  QB_RETURN_IF_ERROR(in->Unsigned("rank", &rank));
  if (rank > kMaxRank) {
    return absl::DataLossError(absl::StrCat("parameter '", p.name, "': rank ", rank));
  }
  uint64_t elements = 1;
  for (uint32_t r = 0; r < rank; ++r) {
    uint64_t dim = 0;
    QB_RETURN_IF_ERROR(in->Unsigned("dimension", &dim));
    // Every partial product stays <= the floats the file can still hold: no overflow.
    if (dim != 0 && elements > in->left() / sizeof(float) / dim) {
      return absl::DataLossError(
          absl::StrCat("parameter '", p.name, "': dimension ", dim, " does not fit in the file"));
    }
    elements *= dim;
    p.shape.push_back(static_cast<int64_t>(dim));
  }
  QB_RETURN_IF_ERROR(in->Floats(absl::StrCat("parameter '", p.name, "'"), &p.values));
  if (p.values.size() != elements) {
    return absl::DataLossError(absl::StrCat("parameter '", p.name, "': ", p.values.size(),
                                            " values for shape ", ShapeToString(p.shape)));
  }
  return p;
}

// Named float tensors (optimizer buffers, extra tensors).
void EncodeTensorMap(const std::map<std::string, std::vector<float>>& tensors, Encoder* out) {
  out->Unsigned<uint32_t>(static_cast<uint32_t>(tensors.size()));
  for (const auto& [name, values] : tensors) {
    out->String(name);
    out->Floats(values);
  }
}

absl::Status DecodeTensorMap(const char* what, Decoder* in,
                             std::map<std::string, std::vector<float>>* tensors) {
  uint32_t count = 0;
  QB_RETURN_IF_ERROR(in->Unsigned(what, &count));
  for (uint32_t i = 0; i < count; ++i) {
    std::string name;
    QB_RETURN_IF_ERROR(in->String(what, &name));
    std::vector<float> values;
    QB_RETURN_IF_ERROR(in->Floats(absl::StrCat(what, " '", name, "'"), &values));
    if (!tensors->emplace(std::move(name), std::move(values)).second) {
      return absl::DataLossError(absl::StrCat(what, ": a name appears twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no checkpoint '", path, "'"));
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open checkpoint '", path, "'"));
  }
  std::string bytes;
  // Reserving the size up front saves the re-allocations of a multi-100-MB checkpoint; the
  // loop still reads whatever is there if the file changes meanwhile.
  if (std::fseek(file, 0, SEEK_END) == 0) {
    const long size = std::ftell(file);
    if (size > 0) bytes.reserve(static_cast<size_t>(size));
    std::rewind(file);
  }
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) bytes.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return absl::ErrnoToStatus(error, absl::StrCat("cannot read checkpoint '", path, "'"));
  }
  return bytes;
}

absl::StatusOr<TrainingCheckpoint> Decode(absl::string_view bytes, const std::string& key) {
  if (bytes.size() < kMagicSize ||
      bytes.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return absl::DataLossError("not a training checkpoint (bad magic)");
  }
  if (bytes.size() < kMagicSize + 4 + 4) {
    return absl::DataLossError(absl::StrCat("truncated: ", bytes.size(), " bytes"));
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - 4);
  Decoder crc_field(bytes.substr(body.size()));
  uint32_t stored_crc = 0;
  QB_RETURN_IF_ERROR(crc_field.Unsigned("CRC", &stored_crc));
  const uint32_t actual_crc = Crc32(body);
  if (stored_crc != actual_crc) {
    return absl::DataLossError(absl::StrCat("CRC mismatch (stored ", stored_crc, ", computed ",
                                            actual_crc, "): truncated or corrupted"));
  }

  Decoder in(body.substr(kMagicSize));
  uint32_t version = 0;
  QB_RETURN_IF_ERROR(in.Unsigned("version", &version));
  if (version != kCheckpointVersion) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint format version ", version,
                                                      ", this build reads ", kCheckpointVersion));
  }
  std::string file_key;
  QB_RETURN_IF_ERROR(in.String("key", &file_key));
  if (file_key != key) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint of another training: key \"",
                                                      file_key, "\", expected \"", key, "\""));
  }
  TrainingCheckpoint checkpoint;
  uint32_t epochs = 0;
  QB_RETURN_IF_ERROR(in.Unsigned("epochs_done", &epochs));
  if (epochs > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return absl::DataLossError(absl::StrCat("epochs_done ", epochs));
  }
  checkpoint.epochs_done = static_cast<int>(epochs);
  uint32_t parameters = 0;
  QB_RETURN_IF_ERROR(in.Unsigned("parameter count", &parameters));
  for (uint32_t i = 0; i < parameters; ++i) {
    QB_ASSIGN_OR_RETURN(Parameter p, DecodeParameter(&in));
    const absl::Status added = checkpoint.params.Add(std::move(p));
    if (!added.ok()) return absl::DataLossError(added.message());
  }
  uint64_t steps = 0;
  QB_RETURN_IF_ERROR(in.Unsigned("optimizer steps", &steps));
  if (steps > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::DataLossError(absl::StrCat("optimizer steps ", steps));
  }
  checkpoint.optimizer.steps = static_cast<int64_t>(steps);
  QB_RETURN_IF_ERROR(DecodeTensorMap("optimizer buffer", &in, &checkpoint.optimizer.buffers));
  QB_RETURN_IF_ERROR(DecodeTensorMap("extra tensor", &in, &checkpoint.extra_tensors));
  QB_RETURN_IF_ERROR(in.String("rng state", &checkpoint.rng_state));
  QB_RETURN_IF_ERROR(in.String("history", &checkpoint.history_json));
  if (in.left() != 0) {
    return absl::DataLossError(absl::StrCat(in.left(), " unexpected bytes after the history"));
  }
  return checkpoint;
}

}  // namespace

absl::Status SaveTrainingCheckpoint(const std::string& path, const std::string& key,
                                    const TrainingCheckpoint& checkpoint) {
  if (checkpoint.epochs_done < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: epochs_done ", checkpoint.epochs_done));
  }
  if (checkpoint.optimizer.steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: optimizer steps ", checkpoint.optimizer.steps));
  }
  constexpr size_t kMaxCount = std::numeric_limits<uint32_t>::max();
  if (checkpoint.params.size() > kMaxCount || checkpoint.optimizer.buffers.size() > kMaxCount ||
      checkpoint.extra_tensors.size() > kMaxCount) {
    return absl::InvalidArgumentError("checkpoint: more than 2^32 tensors");
  }
  Encoder out;
  out.bytes().append(kMagic, kMagicSize);
  out.Unsigned<uint32_t>(kCheckpointVersion);
  out.String(key);
  out.Unsigned<uint32_t>(static_cast<uint32_t>(checkpoint.epochs_done));
  out.Unsigned<uint32_t>(static_cast<uint32_t>(checkpoint.params.size()));
  for (const Parameter& p : checkpoint.params.parameters()) EncodeParameter(p, &out);
  out.Unsigned<uint64_t>(static_cast<uint64_t>(checkpoint.optimizer.steps));
  EncodeTensorMap(checkpoint.optimizer.buffers, &out);
  EncodeTensorMap(checkpoint.extra_tensors, &out);
  out.String(checkpoint.rng_state);
  out.String(checkpoint.history_json);
  out.Unsigned<uint32_t>(Crc32(out.bytes()));
  return Annotate(WriteFileAtomically(path, out.bytes()), "saving training checkpoint");
}

absl::StatusOr<TrainingCheckpoint> ParseTrainingCheckpoint(absl::string_view bytes,
                                                           const std::string& key) {
  return Decode(bytes, key);
}

absl::StatusOr<TrainingCheckpoint> LoadTrainingCheckpoint(const std::string& path,
                                                          const std::string& key) {
  const absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<TrainingCheckpoint> checkpoint = Decode(*bytes, key);
  if (!checkpoint.ok()) {
    return absl::Status(checkpoint.status().code(),
                        absl::StrCat("checkpoint '", path, "': ", checkpoint.status().message()));
  }
  return checkpoint;
}

}  // namespace quantbench
