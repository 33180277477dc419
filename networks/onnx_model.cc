#include "networks/onnx_model.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data is little-endian; decoding copies it as host order");

std::string DimsToString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

std::string TensorLabel(const onnx::TensorProto& tensor) {
  return absl::StrCat("tensor '", tensor.name(), "'");
}

// Element count of the tensor's dims; errors name the tensor.
absl::StatusOr<int64_t> TensorNumElements(const onnx::TensorProto& tensor) {
  QB_ASSIGN_OR_RETURN(std::vector<int64_t> dims, OnnxTensorDims(tensor));
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // overflow already ruled out by OnnxTensorDims
  return n;
}

absl::Status CheckInline(const onnx::TensorProto& tensor) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL || tensor.external_data_size() > 0) {
    std::string location;
    for (const auto& entry : tensor.external_data()) {
      if (entry.key() == "location") location = entry.value();
    }
    return absl::UnimplementedError(absl::StrCat(
        TensorLabel(tensor), " keeps its data in an external file",
        location.empty() ? "" : absl::StrCat(" ('", location, "')"),
        "; external data is not supported: export the model with its weights inside "
        "(models under 2 GiB)"));
  }
  if (tensor.has_segment()) {
    return absl::UnimplementedError(
        absl::StrCat(TensorLabel(tensor), " is a segment of a larger tensor; not supported"));
  }
  return absl::OkStatus();
}

absl::Status CountMismatch(const onnx::TensorProto& tensor, int64_t found, int64_t expected,
                           const char* where) {
  auto dims = OnnxTensorDims(tensor);
  return absl::InvalidArgumentError(absl::StrCat(
      TensorLabel(tensor), " (", OnnxDataTypeName(tensor.data_type()), ", dims ",
      dims.ok() ? DimsToString(*dims) : "?", ") has ", found, " values in ", where, ", expected ",
      expected));
}

// Copies raw_data (little-endian `T`s) into `out` converted to U.
template <typename T, typename U>
absl::Status DecodeRaw(const onnx::TensorProto& tensor, int64_t n, std::vector<U>* out) {
  const std::string& raw = tensor.raw_data();
  if (raw.size() % sizeof(T) != 0 || static_cast<int64_t>(raw.size() / sizeof(T)) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        TensorLabel(tensor), " (", OnnxDataTypeName(tensor.data_type()), ") has ", raw.size(),
        " bytes of raw_data, expected ", n, " x ", sizeof(T), " = ", n * sizeof(T)));
  }
  out->resize(n);
  const char* p = raw.data();
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    (*out)[i] = static_cast<U>(v);
  }
  return absl::OkStatus();
}

}  // namespace

std::string OnnxDataTypeName(int32_t data_type) {
  if (onnx::TensorProto::DataType_IsValid(data_type)) {
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(data_type));
  }
  return absl::StrCat("type ", data_type);
}

absl::StatusOr<onnx::ModelProto> ParseOnnxModel(const std::string& bytes, const std::string& source) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": empty file (0 bytes), not an ONNX model"));
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ", bytes.size(),
        " bytes is over protobuf's 2 GiB limit; larger models keep their weights as external "
        "data, which is not supported"));
  }
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a valid ONNX ModelProto (", bytes.size(),
        " bytes; the protobuf does not parse: truncated, corrupt, or not an ONNX file)"));
  }
  if (!model.has_ir_version() || model.ir_version() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not an ONNX model: no ir_version (", bytes.size(), " bytes parsed as protobuf)"));
  }
  if (!model.has_graph()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ONNX model (ir_version ", model.ir_version(), ") has no graph"));
  }
  // Exporters write opset_import after the graph, and every model of ir_version >= 3 needs
  // one: a file cut just after the graph still parses, this catches it.
  if (model.ir_version() >= 3 && model.opset_import_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ONNX model (ir_version ", model.ir_version(),
        ") has no opset_import: truncated or not a valid model"));
  }
  return model;
}

absl::StatusOr<onnx::ModelProto> ReadOnnxModel(const std::string& path) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    const std::string message = absl::StrCat(path, ": cannot open ONNX model: ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  std::string bytes;
  // Reserve the file's size (a 550 MB vgg16 would otherwise peak at twice that while growing).
  if (std::fseek(file, 0, SEEK_END) == 0) {
    const long size = std::ftell(file);
    if (size > 0 && static_cast<unsigned long>(size) <= static_cast<unsigned long>(INT_MAX)) {
      bytes.reserve(static_cast<size_t>(size));
    }
    std::rewind(file);
  }
  char buffer[1 << 16];
  bool read_error = false;
  int read_errno = 0;
  for (;;) {
    const size_t got = std::fread(buffer, 1, sizeof(buffer), file);
    bytes.append(buffer, got);
    if (got < sizeof(buffer)) {
      if (std::ferror(file)) {
        read_error = true;
        read_errno = errno;
      }
      break;
    }
    if (bytes.size() > static_cast<size_t>(INT_MAX)) break;  // reported by ParseOnnxModel
  }
  std::fclose(file);
  if (read_error) {
    const std::string message =
        absl::StrCat(path, ": cannot read ONNX model: ", std::strerror(read_errno));
    if (read_errno == EISDIR) return absl::InvalidArgumentError(message);
    return absl::InternalError(message);
  }
  return ParseOnnxModel(bytes, path);
}

absl::StatusOr<std::vector<int64_t>> OnnxTensorDims(const onnx::TensorProto& tensor) {
  std::vector<int64_t> dims(tensor.dims().begin(), tensor.dims().end());
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(TensorLabel(tensor), " has a negative dim: ", DimsToString(dims)));
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(
          absl::StrCat(TensorLabel(tensor), " dims overflow int64: ", DimsToString(dims)));
    }
    n *= d;
  }
  return dims;
}

absl::StatusOr<std::vector<float>> OnnxTensorFloats(const onnx::TensorProto& tensor) {
  QB_RETURN_IF_ERROR(CheckInline(tensor));
  if (tensor.data_type() != onnx::TensorProto::FLOAT) {
    return absl::InvalidArgumentError(absl::StrCat(TensorLabel(tensor), " is ",
                                                   OnnxDataTypeName(tensor.data_type()),
                                                   ", expected FLOAT"));
  }
  QB_ASSIGN_OR_RETURN(const int64_t n, TensorNumElements(tensor));
  std::vector<float> out;
  if (tensor.has_raw_data()) {
    QB_RETURN_IF_ERROR((DecodeRaw<float, float>(tensor, n, &out)));
    return out;
  }
  if (tensor.float_data_size() != n) {
    return CountMismatch(tensor, tensor.float_data_size(), n, "float_data");
  }
  out.assign(tensor.float_data().begin(), tensor.float_data().end());
  return out;
}

absl::StatusOr<std::vector<int64_t>> OnnxTensorInts(const onnx::TensorProto& tensor) {
  QB_RETURN_IF_ERROR(CheckInline(tensor));
  QB_ASSIGN_OR_RETURN(const int64_t n, TensorNumElements(tensor));
  std::vector<int64_t> out;
  const int32_t type = tensor.data_type();
  if (type == onnx::TensorProto::INT64) {
    if (tensor.has_raw_data()) {
      QB_RETURN_IF_ERROR((DecodeRaw<int64_t, int64_t>(tensor, n, &out)));
      return out;
    }
    if (tensor.int64_data_size() != n) {
      return CountMismatch(tensor, tensor.int64_data_size(), n, "int64_data");
    }
    out.assign(tensor.int64_data().begin(), tensor.int64_data().end());
    return out;
  }
  int64_t lo = 0, hi = 0;
  switch (type) {
    case onnx::TensorProto::INT8:
      lo = -128;
      hi = 127;
      break;
    case onnx::TensorProto::UINT8:
      lo = 0;
      hi = 255;
      break;
    case onnx::TensorProto::INT32:
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          TensorLabel(tensor), " is ", OnnxDataTypeName(type),
          ", expected an integer type (INT8, UINT8, INT32, INT64)"));
  }
  if (tensor.has_raw_data()) {
    if (type == onnx::TensorProto::INT8) {
      QB_RETURN_IF_ERROR((DecodeRaw<int8_t, int64_t>(tensor, n, &out)));
    } else if (type == onnx::TensorProto::UINT8) {
      QB_RETURN_IF_ERROR((DecodeRaw<uint8_t, int64_t>(tensor, n, &out)));
    } else {
      QB_RETURN_IF_ERROR((DecodeRaw<int32_t, int64_t>(tensor, n, &out)));
    }
    return out;
  }
  // INT8 / UINT8 / INT32 share int32_data, one element per entry.
  if (tensor.int32_data_size() != n) {
    return CountMismatch(tensor, tensor.int32_data_size(), n, "int32_data");
  }
  out.reserve(n);
  for (int32_t v : tensor.int32_data()) {
    if (v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat(TensorLabel(tensor), " (",
                                                     OnnxDataTypeName(type), ") holds ", v,
                                                     ", outside ", lo, "..", hi));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<std::vector<float>> OnnxTensorAsFloats(const onnx::TensorProto& tensor) {
  if (tensor.data_type() == onnx::TensorProto::FLOAT) return OnnxTensorFloats(tensor);
  QB_ASSIGN_OR_RETURN(std::vector<int64_t> ints, OnnxTensorInts(tensor));
  return std::vector<float>(ints.begin(), ints.end());
}

absl::StatusOr<OnnxTensor> DecodeOnnxTensor(const onnx::TensorProto& tensor) {
  OnnxTensor out;
  out.name = tensor.name();
  out.data_type = tensor.data_type();
  QB_ASSIGN_OR_RETURN(out.dims, OnnxTensorDims(tensor));
  QB_ASSIGN_OR_RETURN(out.values, OnnxTensorAsFloats(tensor));
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, const onnx::TensorProto*>> OnnxInitializersByName(
    const onnx::GraphProto& graph) {
  absl::flat_hash_map<std::string, const onnx::TensorProto*> out;
  out.reserve(graph.initializer_size());
  for (int i = 0; i < graph.initializer_size(); ++i) {
    const onnx::TensorProto& t = graph.initializer(i);
    if (t.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("initializer #", i, " has no name"));
    }
    if (!out.emplace(t.name(), &t).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("initializer '", t.name(), "' appears more than once"));
    }
  }
  return out;
}

}  // namespace quantbench
