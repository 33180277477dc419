// Test-only: runs tools/cifar_torch_reference.py (Debian's /usr/bin/python3 with torch 1.13
// and python3-onnx) for one CIFAR network and reads what it wrote: the PyTorch weights, a
// random batch, eval- and train-mode logits, the loss, every parameter's gradient and the
// updated BatchNorm running statistics (the script's docstring lists the names).
#ifndef QUANTBENCH_TESTS_CIFAR_TORCH_REFERENCE_H_
#define QUANTBENCH_TESTS_CIFAR_TORCH_REFERENCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

struct CifarTorchReference {
  std::string onnx_path;  // the file written (weights bind from it by name)
  int64_t torch_parameters = 0;  // sum(p.numel() for p in model.parameters())
  int batch = 0;
  struct Tensor {
    std::vector<int64_t> dims;
    std::vector<float> values;
  };
  std::map<std::string, Tensor> tensors;  // every initializer of the file

  // The registered graph of the same name (10 classes, the width_multiplier variant if
  // given) and its parameters bound by name from the file: every native parameter is a torch
  // state_dict entry of the same shape.
  Graph graph;
  ParamStore params;
  size_t bound_tensors = 0;  // parameters the binding reported

  // InvalidArgument naming the tensor if it is missing.
  absl::StatusOr<const Tensor*> Get(const std::string& name) const;
};

// Empty if /usr/bin/python3 can import torch, onnx and numpy; else why not (a skip message).
std::string TorchUnavailable();

// Runs the script (from the test's runfiles) for `net` ("cifar_resnet20", "resiliency_cnn",
// ...) into $TEST_TMPDIR (else /tmp), reads the file, builds the graph and binds the weights.
// `width_multiplier` <= 0 leaves the script's default. Internal with the script's stderr if it
// fails; the builder's or the binding's error otherwise.
absl::StatusOr<CifarTorchReference> MakeCifarTorchReference(const std::string& net,
                                                            double width_multiplier);

// Runs tools/onnx_torch_eval.py: `model_path`'s graph evaluated with PyTorch ops on the
// initializer `input_name` of `inputs_path`; returns its first output (row-major). Internal
// with the script's stderr if it fails (e.g. an operator it does not handle). Writes next to
// `model_path`.
absl::StatusOr<std::vector<float>> EvalOnnxWithTorch(const std::string& model_path,
                                                     const std::string& inputs_path,
                                                     const std::string& input_name);

}  // namespace quantbench

#endif  // QUANTBENCH_TESTS_CIFAR_TORCH_REFERENCE_H_
