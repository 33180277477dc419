// bazel run //experiments:export_onnx -- --config=fashion_mnist_mlp.pbtxt --out=/tmp/mlp.onnx
//
// Writes the fp32 network an experiment config describes as an ONNX model (opset 13,
// networks/onnx_export.h). The weights are obtained exactly as a sweep obtains them
// (experiments/model_loader.h): trained here or taken from the weight cache, read from a .qbw
// or ONNX file, or seeded; BatchNorm kept or folded as the config says. Initializer names are
// our parameter names, so a config with network { onnx { path: ... binding: BY_NAME } } (or
// --weights=... on a config that has an onnx block) sweeps the exported file. Before exiting,
// the written file is read back and bound by name, and every value must be bit-identical.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/config.h"
#include "experiments/cache_directory.h"
#include "experiments/model_loader.h"
#include "kernels/status_macros.h"
#include "networks/onnx_export.h"
#include "networks/onnx_import.h"
#include "networks/onnx_model.h"

namespace quantbench {
namespace {

constexpr char kUsage[] =
    "usage: bazel run //experiments:export_onnx -- --config=FILE --out=PATH.onnx [--logits]\n"
    "                                               [--weights=PATH] [--data=DIR] [--cache_dir=DIR]\n"
    "  --config     experiment config (.pbtxt), resolved as by the sweep (bare name: configs/)\n"
    "  --out        the ONNX file to write (relative: to the directory you ran bazel from)\n"
    "  --logits     end the model at the logits instead of Softmax probabilities\n"
    "  --weights    weights file replacing the config's onnx path or weights_file\n"
    "  --data       dataset folder replacing the config's dataset.dir\n"
    "  --cache_dir  trained-weight cache (default: $QUANTBENCH_CACHE_DIR or ~/.cache/quantbench)\n";

struct Flags {
  std::string config;
  std::string out;
  bool logits = false;
  std::string cache_dir = DefaultCacheDirectory();
  ConfigOverrides overrides;
};

// The exported model, read back from disk, must give every parameter bit for bit.
absl::Status VerifyWrittenFile(const std::string& path, const ParamStore& expected) {
  ParamStore reread = expected;
  for (Parameter& p : reread.parameters()) std::fill(p.values.begin(), p.values.end(), 0.0f);
  QB_RETURN_IF_ERROR(ImportOnnxWeights(path, OnnxBindingRule::kByName, &reread).status());
  for (size_t i = 0; i < expected.size(); ++i) {
    const Parameter& a = expected.parameters()[i];
    const Parameter& b = reread.parameters()[i];
    if (std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) != 0) {
      return absl::InternalError(absl::StrCat(path, ": parameter '", a.name,
                                              "' reads back with different values"));
    }
  }
  return absl::OkStatus();
}

absl::Status Run(const Flags& flags, const std::string& command) {
  const RunDirectories dirs = RunDirectories::FromEnvironment();
  QB_ASSIGN_OR_RETURN(std::string config_path, ResolveConfigPath(flags.config, dirs));
  ConfigOverrides overrides = flags.overrides;
  // Relative paths on the command line are the user's: resolve them where `bazel run` started.
  for (std::string* p : {&overrides.weights, &overrides.data}) {
    if (!p->empty() && (*p)[0] != '/') *p = absl::StrCat(dirs.working, "/", *p);
  }
  const std::string out = flags.out[0] == '/' ? flags.out : absl::StrCat(dirs.working, "/", flags.out);
  QB_ASSIGN_OR_RETURN(Experiment config, LoadExperiment(config_path, dirs, overrides));
  auto log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  QB_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(config, flags.cache_dir, log));

  OnnxExportOptions options;
  options.softmax = !flags.logits;
  options.graph_name = config.name();
  options.doc = absl::StrCat(config.description(), "\nExported by: ", command);
  options.metadata = {{"quantbench.config", config_path},
                      {"quantbench.weights", model.weights.dump()},
                      {"quantbench.preprocessing", config.dataset().preprocessing().ShortDebugString()}};
  absl::StatusOr<onnx::ModelProto> onnx = GraphToOnnx(*model.graph, model.fp32, options);
  QB_RETURN_IF_ERROR(onnx.status());
  QB_RETURN_IF_ERROR(WriteOnnxModel(*onnx, out));
  QB_RETURN_IF_ERROR(VerifyWrittenFile(out, model.fp32));
  std::fprintf(stderr,
               "wrote %s: %s, %d nodes, %d initializers (%lld values), opset %d; read back by "
               "name: identical\n",
               out.c_str(), config.network().architecture().c_str(), onnx->graph().node_size(),
               onnx->graph().initializer_size(), static_cast<long long>(model.fp32.TotalCount()),
               kOnnxExportOpset);
  std::fprintf(stderr,
               "sweep it: network { onnx { path: \"%s\" binding: BY_NAME } } in place of the "
               "config's weights (same architecture, mlp widths and batchnorm setting)\n",
               out.c_str());
  return absl::OkStatus();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "export_onnx: error: %s\n", message.c_str());
  return 1;
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) {
  quantbench::Flags flags;
  if (const char* env = std::getenv("QUANTBENCH_WEIGHTS"); env && *env) flags.overrides.weights = env;
  if (const char* env = std::getenv("QUANTBENCH_DATA"); env && *env) flags.overrides.data = env;
  std::string command = "bazel run //experiments:export_onnx --";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    absl::StrAppend(&command, " ", arg);
    auto value_of = [&](const char* flag) -> const char* {
      const std::string prefix = absl::StrCat(flag, "=");
      return absl::StartsWith(arg, prefix) ? argv[i] + prefix.size() : nullptr;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(quantbench::kUsage, stdout);
      return 0;
    } else if (arg == "--logits") {
      flags.logits = true;
    } else if (const char* v = value_of("--config")) {
      flags.config = v;
    } else if (const char* v = value_of("--out")) {
      flags.out = v;
    } else if (const char* v = value_of("--weights")) {
      flags.overrides.weights = v;
    } else if (const char* v = value_of("--data")) {
      flags.overrides.data = v;
    } else if (const char* v = value_of("--cache_dir")) {
      flags.cache_dir = v;
    } else {
      std::fputs(quantbench::kUsage, stderr);
      return quantbench::Fail(absl::StrCat("unknown argument '", arg, "'"));
    }
  }
  if (flags.config.empty() || flags.out.empty()) {
    std::fputs(quantbench::kUsage, stderr);
    return quantbench::Fail(flags.config.empty() ? "--config is required" : "--out is required");
  }
  const absl::Status status = quantbench::Run(flags, command);
  if (!status.ok()) return quantbench::Fail(std::string(status.message()));
  return 0;
}
