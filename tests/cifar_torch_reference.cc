#include "tests/cifar_torch_reference.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"
#include "networks/onnx_import.h"
#include "networks/onnx_model.h"

namespace quantbench {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kScript[] = "tools/cifar_torch_reference.py";
constexpr char kEvalScript[] = "tools/onnx_torch_eval.py";

// Runs `command` through the shell; its stdout, or Internal with `stderr_path`'s contents.
absl::StatusOr<std::string> Run(const std::string& command, const std::string& stderr_path) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", command));
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  if (status != 0) {
    std::ifstream err(stderr_path);
    std::stringstream text;
    text << err.rdbuf();
    return absl::InternalError(
        absl::StrCat("'", command, "' failed (status ", status, "): ", text.str()));
  }
  return out;
}

}  // namespace

absl::StatusOr<const CifarTorchReference::Tensor*> CifarTorchReference::Get(
    const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    return absl::InvalidArgumentError(absl::StrCat(onnx_path, " has no tensor '", name, "'"));
  }
  return &it->second;
}

std::string TorchUnavailable() {
  std::ifstream python(kPython);
  if (!python) {
    return absl::StrCat(kPython, " is missing: Debian's python3 with python3-torch is the reference");
  }
  const int status = std::system(
      absl::StrCat(kPython, " -c 'import torch, onnx, numpy' >/dev/null 2>&1").c_str());
  if (status != 0) {
    return absl::StrCat(kPython,
                        " cannot import torch, onnx and numpy (Debian: python3-torch, "
                        "python3-onnx, python3-numpy)");
  }
  return "";
}

absl::StatusOr<CifarTorchReference> MakeCifarTorchReference(const std::string& net,
                                                            double width_multiplier) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  CifarTorchReference ref;
  const std::string stem = width_multiplier > 0 ? absl::StrCat(net, "_x", width_multiplier) : net;
  ref.onnx_path = absl::StrCat(dir, "/", stem, ".onnx");
  const std::string stderr_path = absl::StrCat(dir, "/", stem, ".stderr");
  std::string command = absl::StrCat(kPython, " ", kScript, " --net ", net, " --out '",
                                     ref.onnx_path, "'");
  if (width_multiplier > 0) absl::StrAppend(&command, " --width_multiplier ", width_multiplier);
  absl::StrAppend(&command, " 2>'", stderr_path, "'");
  QB_ASSIGN_OR_RETURN(const std::string out, Run(command, stderr_path));
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "parameters ")) {
      if (!absl::SimpleAtoi(rest, &ref.torch_parameters)) {
        return absl::InternalError(absl::StrCat("bad script output line: ", line));
      }
    }
  }
  QB_ASSIGN_OR_RETURN(const onnx::ModelProto model, ReadOnnxModel(ref.onnx_path));
  for (const onnx::TensorProto& t : model.graph().initializer()) {
    QB_ASSIGN_OR_RETURN(std::vector<int64_t> dims, OnnxTensorDims(t));
    QB_ASSIGN_OR_RETURN(std::vector<float> values, OnnxTensorFloats(t));
    ref.tensors[t.name()] = {std::move(dims), std::move(values)};
  }
  QB_ASSIGN_OR_RETURN(const CifarTorchReference::Tensor* input, ref.Get("ref.input"));
  if (input->dims.size() != 4) return absl::InternalError("ref.input is not 4-D");
  ref.batch = static_cast<int>(input->dims[0]);

  ArchitectureOptions options;
  options.num_classes = 10;
  if (width_multiplier > 0) options.variant["width_multiplier"] = absl::StrCat(width_multiplier);
  QB_ASSIGN_OR_RETURN(ref.graph, ArchitectureRegistry::Global().Build(net, options));
  QB_ASSIGN_OR_RETURN(ref.params, InitGraphParams(ref.graph, 99));
  QB_ASSIGN_OR_RETURN(const OnnxBindingReport report,
                      ImportOnnxWeights(ref.onnx_path, OnnxBindingRule::kByName, &ref.params));
  ref.bound_tensors = report.tensors.size();
  return ref;
}

absl::StatusOr<std::vector<float>> EvalOnnxWithTorch(const std::string& model_path,
                                                     const std::string& inputs_path,
                                                     const std::string& input_name) {
  const std::string out_path = absl::StrCat(model_path, ".torch_output.onnx");
  const std::string stderr_path = absl::StrCat(model_path, ".torch_eval.stderr");
  QB_RETURN_IF_ERROR(Run(absl::StrCat(kPython, " ", kEvalScript, " '", model_path, "' '",
                                      inputs_path, "' '", input_name, "' '", out_path, "' 2>'",
                                      stderr_path, "'"),
                         stderr_path)
                         .status());
  QB_ASSIGN_OR_RETURN(const onnx::ModelProto model, ReadOnnxModel(out_path));
  for (const onnx::TensorProto& t : model.graph().initializer()) {
    if (t.name() == "output") return OnnxTensorFloats(t);
  }
  return absl::InternalError(absl::StrCat(out_path, " has no 'output'"));
}

}  // namespace quantbench
