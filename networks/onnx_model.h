// Reading ONNX model files and decoding their initializers.
//
// The ONNX protos are compiled here from Debian's /usr/include/onnx/onnx.proto
// (//networks:onnx_proto, #include "networks/onnx.pb.h"); Debian's libonnx is never linked.
//
// Only what weight import needs is decoded: tensors of type FLOAT, INT8, UINT8, INT32 and
// INT64 stored inline (raw_data, little-endian, or the typed repeated fields). Tensors kept
// in external files (models > 2 GiB) are refused with Unimplemented, naming the tensor.
#ifndef QUANTBENCH_NETWORKS_ONNX_MODEL_H_
#define QUANTBENCH_NETWORKS_ONNX_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "networks/onnx.pb.h"

namespace quantbench {

// Reads and parses an ONNX model.
//   NotFound          the file does not exist;
//   PermissionDenied / Internal   it cannot be opened or read;
//   InvalidArgument   empty, over protobuf's 2 GiB limit, not a ModelProto (truncated,
//                     random bytes), no ir_version, or no graph;
// every message starts with the path. Never crashes on hostile input.
absl::StatusOr<onnx::ModelProto> ReadOnnxModel(const std::string& path);

// Parses serialized bytes; `source` names them in error messages (a path, "<memory>").
absl::StatusOr<onnx::ModelProto> ParseOnnxModel(const std::string& bytes, const std::string& source);

// "FLOAT", "INT8", ... ("type 42" for unknown values).
std::string OnnxDataTypeName(int32_t data_type);

// The tensor's dims. InvalidArgument for a negative dim or an element count overflowing int64.
absl::StatusOr<std::vector<int64_t>> OnnxTensorDims(const onnx::TensorProto& tensor);

// A FLOAT tensor's values (raw_data or float_data), row-major. InvalidArgument naming the
// tensor for another type or a size that does not match the dims; Unimplemented for
// external data.
absl::StatusOr<std::vector<float>> OnnxTensorFloats(const onnx::TensorProto& tensor);

// An integer tensor's values, exactly: INT8, UINT8, INT32 (raw_data or int32_data) and
// INT64 (raw_data or int64_data). Same errors as OnnxTensorFloats.
absl::StatusOr<std::vector<int64_t>> OnnxTensorInts(const onnx::TensorProto& tensor);

// Any supported type converted to float (integers exactly up to 2^24 in magnitude).
absl::StatusOr<std::vector<float>> OnnxTensorAsFloats(const onnx::TensorProto& tensor);

// A decoded initializer: its name, type, dims and values as float.
struct OnnxTensor {
  std::string name;
  int32_t data_type = 0;  // onnx::TensorProto::DataType
  std::vector<int64_t> dims;
  std::vector<float> values;  // row-major, product(dims) elements
};
absl::StatusOr<OnnxTensor> DecodeOnnxTensor(const onnx::TensorProto& tensor);

// Initializers of a graph by name (pointers into `graph`, valid while it lives).
// InvalidArgument for an unnamed or duplicated initializer.
absl::StatusOr<absl::flat_hash_map<std::string, const onnx::TensorProto*>> OnnxInitializersByName(
    const onnx::GraphProto& graph);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_ONNX_MODEL_H_
