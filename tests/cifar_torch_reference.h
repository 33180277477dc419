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

  // InvalidArgument naming the tensor if it is missing.
  absl::StatusOr<const Tensor*> Get(const std::string& name) const;
};

// Empty if /usr/bin/python3 can import torch, onnx and numpy; else why not (a skip message).
std::string TorchUnavailable();

// Runs the script (from the test's runfiles) for `net` ("cifar_resnet20", "resiliency_cnn",
// ...) into `dir`. `width_multiplier` <= 0 leaves the script's default. Internal with the
// script's stderr if it fails.
absl::StatusOr<CifarTorchReference> MakeCifarTorchReference(const std::string& net,
                                                            double width_multiplier,
                                                            const std::string& dir);

}  // namespace quantbench

#endif  // QUANTBENCH_TESTS_CIFAR_TORCH_REFERENCE_H_
