// The ONNX loader (networks/onnx_model.h) and weight binding (networks/onnx_import.h) on
// arbitrary bytes: parse as a ModelProto, then bind by name and by order into the tiny mlp.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/tiny_network.h"
#include "networks/onnx_import.h"
#include "networks/onnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = quantbench::ParseOnnxModel(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
  if (!model.ok()) return 0;
  for (quantbench::OnnxBindingRule rule : {quantbench::OnnxBindingRule::kByName, quantbench::OnnxBindingRule::kByOrder}) {
    quantbench::ParamStore store = quantbench::FuzzTinyNetwork().params;
    (void)quantbench::BindOnnxWeights(*model, rule, &store);
  }
  return 0;
}
