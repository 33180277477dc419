// Forward-pass speed of GraphNetwork (oneDNN) vs onnxruntime (CPU) on the same ONNX files, and
// the time budget of one quantization sweep cell.
//
//   bazel run //networks:bench                       # table: resnet50, mobilenet_v2,
//                                                    # squeezenet1_1 x batch 1, 32; 2 threads
//   bazel run //networks:bench -- --threads=1 --seconds=5 --archs=resnet50 --batches=1,8,32
//   bazel run //networks:bench -- --cell             # one ResNet-50 sweep cell, timed by phase
//   bazel run //networks:bench -- --packed_bits=4    # ResNet-50 batch 1: packed vs oneDNN fp32
//   bazel run //networks:bench -- --help
//
// Ours: the architecture from ArchitectureRegistry, weights bound by name from
// $QUANTBENCH_REFERENCE_DIR/<arch>/model.onnx (default ~/.cache/quantbench/reference; written by
// tools/make_reference_models.sh), one GraphNetwork per (arch, batch) with max_batch = batch,
// so primitives are created once and only Forward is timed: warm-up (>= 3 runs and >= 1 s),
// then runs until --seconds have passed (and >= 5 runs). The table's img/s is batch / median
// time per run on both sides (the mean, runs * batch / elapsed, is in the log lines).
// --rounds=R alternates ours / onnxruntime R times per (arch, batch) and keeps each side's best
// round: on a shared VM throughput drifts by ~10 % over minutes, and alternating exposes both
// sides to the same drift.
// onnxruntime: `node tools/ort_bench.js MODEL BATCH THREADS SECONDS CHANNELS SIZE` in a
// subprocess, after ours (never concurrently), with ORT_NODE_MODULES =
// $QUANTBENCH_REFERENCE_DIR/npm/node_modules unless already set. The same input values
// (sin(0.001 i)) on both sides. A missing model.onnx, node or onnxruntime-node is reported
// and our side still runs (random weights if there is no ONNX file).
//
// node's per-call overhead (N-API + promise) is measured on a one-node Relu model written to a
// temporary file, and printed.
//
// --packed_bits=B: each arch (default resnet50) at each batch (default 1), weights quantized
// with QuantizerRegistry's 'linear' (per_channel, mid-tread, min-max) at B bits, one network:
// the oneDNN fp32 plan (simulated: fp32 weights holding the quantized values, exactly the
// speed of the fp32 network) and the packed plan (UsePackedWeights) with fp32 and with int8
// activations, timed alternately in the same process (--rounds), plus the top-1 agreement of
// the packed runs with the simulated one on the bench input and the packed weight bytes.
//
// --ort_int8[=MODEL]: the baseline a user of int8 inference would pick: onnxruntime's own int8
// execution (QLinearConv, static activation scales) of MODEL (default
// ../shared/data/onnx/mobilenetv2-12-int8/model.onnx), against the --packed_bits comparison
// above (default 8,4; arch mobilenet_v2, batches 1,32) on the same weights: the file's int8
// weights dequantized and bound by order into the BatchNorm-folded architecture, then
// quantized per channel again at each width (at 8 bits that reproduces the file's grid up to
// the min-max range). onnxruntime runs in its own process after ours in every round.
//
// --cell: ResNet-50 (ONNX weights), one sweep cell the way experiments/runner.cc does it:
// copy the fp32 store, quantize every weight tensor with QuantizerRegistry's 'exponential'
// (default: per-tensor MSE-optimal base, zero level) at --cell_bits, the per-weight statistics
// QuantizeModel computes (MSE, distinct levels), SyncParams, Forward over --cell_images images
// in batches of --cell_batch. Prints each phase and the forward share. --cell_whatif adds rows
// with the tensors quantized on --threads threads and the distinct levels counted from the
// codes: what the runner would gain from those two changes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "networks/architecture.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx.pb.h"
#include "networks/onnx_import.h"
#include "networks/param_store.h"
#include "kernels/packed_gemm.h"
#include "networks/threads.h"
#include "oneapi/dnnl/dnnl.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  int threads = 2;
  double seconds = 3.0;
  int rounds = 1;
  std::vector<std::string> archs = {"resnet50", "mobilenet_v2", "squeezenet1_1"};
  std::vector<int> batches = {1, 32};
  bool ort = true;
  bool plan = false;
  bool cell = false;
  int cell_images = 100;
  int cell_batch = 25;
  int cell_bits = 4;
  int cell_repeats = 2;
  bool cell_whatif = false;
  std::vector<int> packed_bits;  // non-empty: the packed-vs-oneDNN comparison, per width
  // Non-empty: the packed comparison binds its weights by order from this int8 QLinearConv
  // file (BatchNorm folded) and also times onnxruntime's own int8 execution of it.
  std::string ort_int8_model;
  bool archs_given = false, batches_given = false;
  std::string reference_dir;
  std::string workspace;
};

constexpr char kUsage[] =
    "usage: bench [--threads=N] [--seconds=S] [--rounds=R] [--archs=a,b] [--batches=1,32]\n"
    "             [--no_ort] [--plan] [--reference_dir=DIR]\n"
    "       bench --cell [--cell_images=100] [--cell_batch=25] [--cell_bits=4] "
    "[--cell_repeats=2] [--cell_whatif]\n"
    "             [--threads=N]\n"
    "       bench --packed_bits=4[,8..] [--archs=resnet50] [--batches=1] [--rounds=R] [--seconds=S] "
    "[--plan]\n"
    "       bench --ort_int8[=MODEL.onnx] [--packed_bits=8,4] [--batches=1,32] [--threads=N]\n";

bool Exists(const std::string& path) { return std::ifstream(path, std::ios::binary).good(); }

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<Options> ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string key = arg, value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    auto to_int = [&](int* out) -> absl::Status {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 1) {
        return absl::InvalidArgumentError(absl::StrCat(key, ": expected a positive integer, got '", value, "'"));
      }
      *out = static_cast<int>(v);
      return absl::OkStatus();
    };
    absl::Status s;
    if (key == "--threads") {
      s = to_int(&o.threads);
    } else if (key == "--seconds") {
      o.seconds = std::atof(value.c_str());
      if (!(o.seconds > 0)) s = absl::InvalidArgumentError("--seconds: expected > 0");
    } else if (key == "--rounds") {
      s = to_int(&o.rounds);
    } else if (key == "--archs") {
      o.archs = absl::StrSplit(value, ',', absl::SkipEmpty());
      o.archs_given = true;
    } else if (key == "--batches") {
      o.batches_given = true;
      o.batches.clear();
      for (absl::string_view b : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        const int v = std::atoi(std::string(b).c_str());
        if (v < 1) return absl::InvalidArgumentError(absl::StrCat("--batches: bad batch '", b, "'"));
        o.batches.push_back(v);
      }
    } else if (key == "--no_ort") {
      o.ort = false;
    } else if (key == "--plan") {
      o.plan = true;
    } else if (key == "--cell") {
      o.cell = true;
    } else if (key == "--cell_images") {
      s = to_int(&o.cell_images);
    } else if (key == "--cell_batch") {
      s = to_int(&o.cell_batch);
    } else if (key == "--cell_bits") {
      s = to_int(&o.cell_bits);
    } else if (key == "--cell_repeats") {
      s = to_int(&o.cell_repeats);
    } else if (key == "--cell_whatif") {
      o.cell_whatif = true;
    } else if (key == "--packed_bits") {
      o.packed_bits.clear();
      for (absl::string_view b : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        const int v = std::atoi(std::string(b).c_str());
        if (v < 1 || v > 8) {
          return absl::InvalidArgumentError(absl::StrCat("--packed_bits: bad width '", b, "' (1..8)"));
        }
        o.packed_bits.push_back(v);
      }
      if (o.packed_bits.empty()) s = absl::InvalidArgumentError("--packed_bits: expected 1..8, e.g. 8,4");
    } else if (key == "--ort_int8") {
      o.ort_int8_model = value.empty() ? "DEFAULT" : value;
    } else if (key == "--reference_dir") {
      o.reference_dir = value;
    } else if (key == "--help" || key == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "'\n", kUsage));
    }
    if (!s.ok()) return s;
  }
  if (!o.ort_int8_model.empty()) {
    if (o.packed_bits.empty()) o.packed_bits = {8, 4};
    if (!o.archs_given) o.archs = {"mobilenet_v2"};
    if (!o.batches_given) o.batches = {1, 32};
    o.archs_given = o.batches_given = true;
    if (o.archs.size() != 1) {
      return absl::InvalidArgumentError("--ort_int8: one --archs entry, the file's architecture");
    }
  }
  if (!o.packed_bits.empty()) {
    if (!o.archs_given) o.archs = {"resnet50"};
    if (!o.batches_given) o.batches = {1};
  }
  if (o.reference_dir.empty()) {
    o.reference_dir = Env("QUANTBENCH_REFERENCE_DIR");
    if (o.reference_dir.empty()) o.reference_dir = Env("HOME") + "/.cache/quantbench/reference";
  }
  o.workspace = Env("BUILD_WORKSPACE_DIRECTORY");
  if (o.workspace.empty()) {
    char cwd[4096];
    o.workspace = getcwd(cwd, sizeof(cwd)) != nullptr ? cwd : ".";
  }
  if (o.ort_int8_model == "DEFAULT") {
    o.ort_int8_model = o.workspace + "/../shared/data/onnx/mobilenetv2-12-int8/model.onnx";
  }
  return o;
}

// Deterministic input, the same values tools/ort_bench.js feeds onnxruntime.
std::vector<float> BenchInput(size_t count) {
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i) x[i] = static_cast<float>(std::sin(i * 0.001));
  return x;
}

struct Model {
  Graph graph;
  std::unique_ptr<ParamStore> store;
  std::string onnx;  // "" when the file is missing (random weights)
};

absl::StatusOr<Model> LoadModel(const std::string& arch, const Options& o) {
  Model m;
  QB_ASSIGN_OR_RETURN(m.graph, ArchitectureRegistry::Global().Build(arch, ArchitectureOptions{}));
  QB_ASSIGN_OR_RETURN(ParamStore store, InitGraphParams(m.graph, /*seed=*/1));
  m.store = std::make_unique<ParamStore>(std::move(store));
  const std::string path = o.reference_dir + "/" + arch + "/model.onnx";
  if (!Exists(path)) {
    std::fprintf(stderr,
                 "bench: %s is missing (run tools/make_reference_models.sh %s); timing ours with "
                 "random weights, no onnxruntime\n",
                 path.c_str(), arch.c_str());
    return m;
  }
  OnnxBindOptions bind;
  for (const ParamSpec& p : m.graph.params) {
    if (!p.used) bind.optional_params.insert(p.name);
  }
  QB_ASSIGN_OR_RETURN(OnnxBindingReport report,
                      ImportOnnxWeights(path, OnnxBindingRule::kByName, m.store.get(), bind));
  std::fprintf(stderr, "bench: %s: %s\n", arch.c_str(), report.Summary().c_str());
  m.onnx = path;
  return m;
}

// The architecture with BatchNorm folded and the weights of an int8 QLinearConv file bound by
// order (dequantized), as experiments/ does for configs/mobilenetv2_int8_val1300.pbtxt.
absl::StatusOr<Model> LoadInt8OnnxModel(const std::string& arch, const std::string& path) {
  if (!Exists(path)) {
    return absl::NotFoundError(absl::StrCat("--ort_int8: ", path,
                                            " is missing (the Model Zoo mobilenetv2-12-int8 file; "
                                            "pass --ort_int8=PATH)"));
  }
  Model m;
  QB_ASSIGN_OR_RETURN(m.graph, ArchitectureRegistry::Global().Build(arch, ArchitectureOptions{}));
  QB_ASSIGN_OR_RETURN(ParamStore store, InitGraphParams(m.graph, /*seed=*/1));
  m.store = std::make_unique<ParamStore>(std::move(store));
  QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&m.graph, m.store.get()));
  QB_ASSIGN_OR_RETURN(OnnxBindingReport report,
                      ImportOnnxWeights(path, OnnxBindingRule::kByOrder, m.store.get()));
  std::fprintf(stderr, "bench: %s: %s\n", arch.c_str(), report.Summary().c_str());
  m.onnx = path;
  return m;
}

struct Timing {
  double images_per_second = 0;  // runs * batch / elapsed (what ort_bench.js calls so)
  double mean_ms = 0, median_ms = 0, min_ms = 0;
  int runs = 0;
  // The table's number: batch / median time per run, robust to the odd disturbed run on a
  // shared VM (the mean is in the log lines).
  double MedianImagesPerSecond(int batch) const {
    return median_ms > 0 ? 1e3 * batch / median_ms : images_per_second;
  }
};

// Forward only; the network (primitives, weights) exists already.
absl::StatusOr<Timing> TimeOurs(GraphNetwork& net, int batch, double seconds) {
  const size_t in = static_cast<size_t>(net.graph().input.NumElements());
  const std::vector<float> input = BenchInput(batch * in);
  std::vector<float> probs(static_cast<size_t>(batch) * net.num_classes());
  const auto warm_start = Clock::now();
  for (int r = 0; r < 3 || Since(warm_start) < 1.0; ++r) {
    QB_RETURN_IF_ERROR(net.Forward(input, batch, absl::MakeSpan(probs)));
  }
  std::vector<double> runs;
  const auto start = Clock::now();
  while (Since(start) < seconds || runs.size() < 5) {
    const auto t = Clock::now();
    QB_RETURN_IF_ERROR(net.Forward(input, batch, absl::MakeSpan(probs)));
    runs.push_back(Since(t));
  }
  const double elapsed = Since(start);
  Timing timing;
  timing.runs = static_cast<int>(runs.size());
  timing.images_per_second = timing.runs * batch / elapsed;
  timing.mean_ms = 1e3 * elapsed / timing.runs;
  std::sort(runs.begin(), runs.end());
  timing.median_ms = 1e3 * runs[runs.size() / 2];
  timing.min_ms = 1e3 * runs.front();
  return timing;
}

// Runs `command` with /bin/sh, returns its stdout (stderr passes through); error if it fails.
absl::StatusOr<std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", command));
  std::string out;
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, got);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(absl::StrCat("exit status ", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                            ": ", command));
  }
  return out;
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// "images_per_second": 12.3 from ort_bench.js's JSON line.
absl::StatusOr<double> JsonNumber(const std::string& text, const std::string& key) {
  const size_t line = text.rfind("{\"images_per_second\"");
  const size_t k = text.find("\"" + key + "\"", line == std::string::npos ? 0 : line);
  if (k == std::string::npos) {
    return absl::InternalError(absl::StrCat("no \"", key, "\" in ort_bench output: ", text));
  }
  const size_t colon = text.find(':', k);
  return std::atof(text.c_str() + colon + 1);
}

struct Ort {
  bool available = false;
  std::string why_not;  // what is missing
  std::string script;
};

Ort FindOrt(const Options& o) {
  Ort ort;
  ort.script = o.workspace + "/tools/ort_bench.js";
  if (!o.ort) {
    ort.why_not = "--no_ort";
    return ort;
  }
  if (!Exists(ort.script)) {
    ort.why_not = ort.script + " is missing (run from the workspace: bazel run //networks:bench)";
    return ort;
  }
  if (system("command -v node >/dev/null 2>&1") != 0) {
    ort.why_not = "node is not on PATH (apt-get install nodejs)";
    return ort;
  }
  if (Env("ORT_NODE_MODULES").empty()) {
    setenv("ORT_NODE_MODULES", (o.reference_dir + "/npm/node_modules").c_str(), 1);
  }
  const std::string package = Env("ORT_NODE_MODULES") + "/onnxruntime-node/package.json";
  if (!Exists(package)) {
    ort.why_not = package + " is missing (tools/make_reference_models.sh installs onnxruntime-node)";
    return ort;
  }
  ort.available = true;
  return ort;
}

absl::StatusOr<Timing> TimeOrt(const Ort& ort, const std::string& model, int batch, int threads,
                               double seconds, int channels, int size) {
  const std::string command =
      absl::StrCat("node ", ShellQuote(ort.script), " ", ShellQuote(model), " ", batch, " ", threads,
                   " ", seconds, " ", channels, " ", size);
  QB_ASSIGN_OR_RETURN(std::string out, RunCommand(command));
  Timing t;
  QB_ASSIGN_OR_RETURN(t.images_per_second, JsonNumber(out, "images_per_second"));
  QB_ASSIGN_OR_RETURN(double spb, JsonNumber(out, "seconds_per_batch"));
  QB_ASSIGN_OR_RETURN(double runs, JsonNumber(out, "runs"));
  t.mean_ms = 1e3 * spb;
  t.runs = static_cast<int>(runs);
  auto median = JsonNumber(out, "median_seconds_per_batch");
  auto min = JsonNumber(out, "min_seconds_per_batch");
  if (median.ok()) t.median_ms = 1e3 * *median;
  if (min.ok()) t.min_ms = 1e3 * *min;
  return t;
}

// A one-node model (Relu on a [N, 1, 1, 1] input): its run time is node + N-API + session
// overhead, nearly no compute.
absl::StatusOr<std::string> WriteTinyOnnx() {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("quantbench bench");
  model.add_opset_import()->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("tiny");
  onnx::NodeProto* node = graph->add_node();
  node->set_op_type("Relu");
  node->add_input("input");
  node->add_output("output");
  for (const char* name : {"input", "output"}) {
    onnx::ValueInfoProto* v =
        std::string(name) == "input" ? graph->add_input() : graph->add_output();
    v->set_name(name);
    onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("N");
    for (int k = 0; k < 3; ++k) t->mutable_shape()->add_dim()->set_dim_value(1);
  }
  const std::string path = absl::StrCat("/tmp/quantbench_bench_tiny_", getpid(), ".onnx");
  std::ofstream f(path, std::ios::binary);
  if (!f || !model.SerializeToOstream(&f)) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return path;
}

absl::Status RunLatencyTable(const Options& o) {
  const Ort ort = FindOrt(o);
  if (!ort.available) std::fprintf(stderr, "bench: onnxruntime side skipped: %s\n", ort.why_not.c_str());
  const dnnl_version_t* v = dnnl_version();
  std::printf("oneDNN %d.%d.%d (%s), %d thread(s); onnxruntime: node %s\n", v->major, v->minor,
              v->patch, DnnlCpuRuntimeName().c_str(), o.threads,
              (ort.available ? ort.script : "(skipped: " + ort.why_not + ")").c_str());

  std::fflush(stdout);
  double overhead_ms = -1;
  if (ort.available) {
    auto tiny = WriteTinyOnnx();
    if (tiny.ok()) {
      auto t = TimeOrt(ort, *tiny, 1, o.threads, 1.0, 1, 1);
      std::remove(tiny->c_str());
      if (t.ok()) {
        overhead_ms = t->mean_ms;
        std::printf("node/N-API overhead per session.run (1-node Relu model, batch 1): %.3f ms\n",
                    overhead_ms);
      } else {
        std::fprintf(stderr, "bench: overhead probe failed: %s\n", t.status().ToString().c_str());
      }
    }
  }

  struct Row {
    std::string arch;
    int batch;
    Timing ours, ort;
    bool has_ort = false;
    std::string why_not = "n/a";  // ort column when there is no number
  };
  std::vector<Row> rows;
  for (const std::string& arch : o.archs) {
    QB_ASSIGN_OR_RETURN(Model m, LoadModel(arch, o));
    for (int batch : o.batches) {
      SetNumThreads(o.threads);
      const auto create_start = Clock::now();
      QB_ASSIGN_OR_RETURN(std::unique_ptr<GraphNetwork> net,
                          GraphNetwork::Create(m.graph, m.store.get(), batch));
      const double create_s = Since(create_start);
      if (o.plan) {
        for (const std::string& line : net->DescribePlan()) std::printf("  %s\n", line.c_str());
      }
      Row row{arch, batch};
      if (!ort.available) row.why_not = "skipped";
      if (m.onnx.empty()) row.why_not = "no model.onnx";
      // Rounds alternate the two sides so that a slow spell of the (shared) machine hits both;
      // each side keeps its best round.
      for (int round = 1; round <= o.rounds; ++round) {
        QB_ASSIGN_OR_RETURN(Timing ours, TimeOurs(*net, batch, o.seconds));
        std::fprintf(stderr,
                     "bench: round %d ours %-14s batch %2d: %8.2f img/s  mean %.2f ms  median %.2f ms"
                     "  min %.2f ms  (%d runs; Create %.2f s)\n",
                     round, arch.c_str(), batch, ours.images_per_second, ours.mean_ms, ours.median_ms,
                     ours.min_ms, ours.runs, create_s);
        if (ours.MedianImagesPerSecond(batch) > row.ours.MedianImagesPerSecond(batch)) row.ours = ours;
        if (!ort.available || m.onnx.empty()) continue;
        auto t = TimeOrt(ort, m.onnx, batch, o.threads, o.seconds, m.graph.input.c, m.graph.input.h);
        if (!t.ok()) {
          if (!row.has_ort) row.why_not = "failed";
          std::fprintf(stderr, "bench: onnxruntime failed: %s\n", t.status().ToString().c_str());
          continue;
        }
        std::fprintf(stderr,
                     "bench: round %d ort  %-14s batch %2d: %8.2f img/s  mean %.2f ms  median %.2f ms"
                     "  min %.2f ms  (%d runs)\n",
                     round, arch.c_str(), batch, t->images_per_second, t->mean_ms, t->median_ms,
                     t->min_ms, t->runs);
        if (!row.has_ort || t->MedianImagesPerSecond(batch) > row.ort.MedianImagesPerSecond(batch)) {
          row.ort = *t;
        }
        row.has_ort = true;
      }
      net.reset();
      rows.push_back(row);
    }
  }

  std::printf("\n| arch | batch | threads | ours img/s | ort img/s | ratio ours/ort |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    char ort_ips[32], ratio[32] = "n/a";
    std::snprintf(ort_ips, sizeof(ort_ips), "%s", r.why_not.c_str());
    if (r.has_ort) {
      std::snprintf(ort_ips, sizeof(ort_ips), "%.2f", r.ort.MedianImagesPerSecond(r.batch));
      std::snprintf(ratio, sizeof(ratio), "%.2f",
                    r.ours.MedianImagesPerSecond(r.batch) / r.ort.MedianImagesPerSecond(r.batch));
    }
    std::printf("| %s | %d | %d | %.2f | %s | %s |\n", r.arch.c_str(), r.batch, o.threads,
                r.ours.MedianImagesPerSecond(r.batch), ort_ips, ratio);
  }
  std::printf("\nimg/s = batch / median time of one Forward (ours) or session.run (onnxruntime), "
              "best of %d alternating round(s) of %g s each; means in the log lines.\n",
              o.rounds, o.seconds);
  if (overhead_ms >= 0) {
    std::printf("onnxruntime times include node's per-run overhead, %.3f ms per session.run "
                "(measured above), i.e. per batch.\n", overhead_ms);
  }
  return absl::OkStatus();
}

// One weight tensor's share of a cell: quantize, then the statistics QuantizeModel computes
// (signal / noise energy for MSE and SQNR, number of distinct values).
struct TensorWork {
  const Parameter* source = nullptr;
  Parameter* target = nullptr;
  absl::StatusOr<QuantizedTensor> result = absl::UnknownError("not run");
  double quantize_s = 0, stats_s = 0;
  double signal = 0, noise = 0;
  size_t levels = 0;
};

// Exactly QuantizeModel's per-weight loop (experiments/quantize_model.cc).
void StatsLikeRunner(TensorWork* w) {
  const std::vector<float>& src = w->source->values;
  const std::vector<float>& q = w->result->values;
  std::unordered_set<float> levels;
  for (size_t i = 0; i < src.size(); ++i) {
    const double a = src[i], b = q[i];
    w->signal += a * a;
    w->noise += (a - b) * (a - b);
    levels.insert(q[i] == 0.0f ? 0.0f : q[i]);
  }
  w->levels = levels.size();
}

// The same numbers without hashing 25 M floats: the distinct values are the codebook entries
// whose codes occur (value = codebook[table * levels_per_table + code]).
void StatsFromCodes(TensorWork* w) {
  const QuantizedTensor& r = *w->result;
  const std::vector<float>& src = w->source->values;
  if (r.codes.size() != src.size() || r.levels_per_table <= 0) return StatsLikeRunner(w);
  double signal = 0, noise = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const double a = src[i], d = a - r.values[i];
    signal += a * a;
    noise += d * d;
  }
  std::vector<char> used(r.codebook.size(), 0);
  const size_t per_table = src.size() / std::max<int64_t>(1, r.num_tables);
  for (size_t i = 0; i < src.size(); ++i) {
    const size_t table = r.num_tables == 1 ? 0 : i / per_table;
    used[table * r.levels_per_table + r.codes[i]] = 1;
  }
  std::vector<float> values;
  for (size_t k = 0; k < used.size(); ++k) {
    if (used[k]) values.push_back(r.codebook[k] == 0.0f ? 0.0f : r.codebook[k]);
  }
  std::sort(values.begin(), values.end());
  w->signal = signal;
  w->noise = noise;
  w->levels = std::unique(values.begin(), values.end()) - values.begin();
}

absl::Status RunCell(const Options& o) {
  SetNumThreads(o.threads);
  const auto setup_start = Clock::now();
  QB_ASSIGN_OR_RETURN(Model m, LoadModel("resnet50", o));
  const ParamStore& original = *m.store;
  ParamStore working = original;
  QB_ASSIGN_OR_RETURN(std::unique_ptr<GraphNetwork> net,
                      GraphNetwork::Create(m.graph, &working, o.cell_batch));
  QB_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> quantizer,
                      QuantizerRegistry::Global().Create("exponential", {}));
  QB_RETURN_IF_ERROR(quantizer->CheckBits(o.cell_bits));
  const size_t in = static_cast<size_t>(m.graph.input.NumElements());
  const std::vector<float> images = BenchInput(o.cell_images * in);
  std::vector<float> probs(static_cast<size_t>(o.cell_images) * m.graph.num_classes);
  QB_RETURN_IF_ERROR(net->Forward(images, o.cell_images, absl::MakeSpan(probs)));  // fp32 baseline
  int64_t weights = 0;
  for (const Parameter& p : original.parameters()) {
    if (p.kind == Parameter::kWeight) weights += p.NumElements();
  }
  std::printf("resnet50 sweep cell: exponential (default: MSE-searched base, zero level) at %d bits on "
              "%lld weights, %d images at batch %d, %d thread(s); setup (load, bind, Create, fp32 pass) "
              "%.2f s, not part of the cell\n",
              o.cell_bits, static_cast<long long>(weights), o.cell_images, o.cell_batch, o.threads,
              Since(setup_start));
  std::printf("runner: as experiments/runner.cc does it (one thread quantizes, QuantizeModel's "
              "statistics).\n");
  if (o.cell_whatif) {
    std::printf("what-if: tensors quantized on %d std::threads (largest first), distinct levels "
                "counted from the codes instead of an unordered_set<float>.\n", o.threads);
  }
  std::printf("\n| variant | repeat | copy store s | quantize s | stats s | SyncParams s | forward s | "
              "total s | forward %% |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  double checksum = 0;
  for (int variant = 0; variant < (o.cell_whatif ? 2 : 1); ++variant) {
    const bool whatif = variant == 1;
    for (int r = 0; r < o.cell_repeats; ++r) {
      auto t0 = Clock::now();
      working = original;  // QuantizeModel starts from a copy of the fp32 store
      const double copy_s = Since(t0);
      std::vector<TensorWork> work;
      for (Parameter& p : working.parameters()) {
        if (p.kind != Parameter::kWeight) continue;
        TensorWork w;
        w.source = original.Find(p.name);
        w.target = &p;
        work.push_back(std::move(w));
      }
      auto run = [&](TensorWork* w) {
        auto t = Clock::now();
        w->result = quantizer->Quantize(
            WeightView{w->source->name, w->source->shape, w->source->values}, o.cell_bits);
        w->quantize_s = Since(t);
        if (!w->result.ok()) return;
        t = Clock::now();
        whatif ? StatsFromCodes(w) : StatsLikeRunner(w);
        w->stats_s = Since(t);
      };
      double quantize_s = 0, stats_s = 0;
      t0 = Clock::now();
      if (!whatif) {
        for (TensorWork& w : work) run(&w);
      } else {
        std::vector<int> order(work.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
          return work[a].source->values.size() > work[b].source->values.size();
        });
        std::vector<std::vector<int>> lists(o.threads);
        std::vector<size_t> load(o.threads, 0);
        for (int k : order) {
          const int t = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
          lists[t].push_back(k);
          load[t] += work[k].source->values.size();
        }
        std::vector<std::thread> threads;
        for (const std::vector<int>& list : lists) {
          threads.emplace_back([&, list] {
            for (int k : list) run(&work[k]);
          });
        }
        for (std::thread& t : threads) t.join();
      }
      const double phase_s = Since(t0);
      for (TensorWork& w : work) {
        if (!w.result.ok()) return w.result.status();
        quantize_s += w.quantize_s;
        stats_s += w.stats_s;
        checksum += w.noise / w.signal + w.levels;
      }
      if (whatif) {  // wall time of the threaded phase, split in the measured proportion
        const double f = quantize_s / std::max(1e-12, quantize_s + stats_s);
        quantize_s = phase_s * f;
        stats_s = phase_s * (1 - f);
      }
      t0 = Clock::now();
      for (TensorWork& w : work) w.target->values = std::move(w.result->values);
      quantize_s += Since(t0);
      t0 = Clock::now();
      QB_RETURN_IF_ERROR(net->SyncParams());
      const double sync_s = Since(t0);
      t0 = Clock::now();
      QB_RETURN_IF_ERROR(net->Forward(images, o.cell_images, absl::MakeSpan(probs)));
      const double forward_s = Since(t0);
      const double total = copy_s + quantize_s + stats_s + sync_s + forward_s;
      std::printf("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f |\n",
                  whatif ? "what-if" : "runner", r + 1, copy_s, quantize_s, stats_s, sync_s,
                  forward_s, total, 100 * forward_s / total);
      std::fflush(stdout);
    }
  }
  if (checksum < 0) std::printf("%g\n", checksum);  // keeps the statistics alive
  return absl::OkStatus();
}

// Top-1 class of each example.
std::vector<int> Top1(const std::vector<float>& probs, int classes) {
  std::vector<int> top;
  for (size_t b = 0; b * classes < probs.size(); ++b) {
    const auto row = probs.begin() + b * classes;
    top.push_back(static_cast<int>(std::max_element(row, row + classes) - row));
  }
  return top;
}

absl::Status RunPackedComparison(const Options& o) {
  const bool vs_ort_int8 = !o.ort_int8_model.empty();
  std::printf("packed (linear, per_channel) vs oneDNN fp32%s; %d thread(s); packed kernels: %s\n",
              vs_ort_int8 ? " and onnxruntime int8 (QLinearConv) on the same file" : "", o.threads,
              KernelIsaName(ActiveKernelIsa()));
  Ort ort;
  if (vs_ort_int8) {
    ort = FindOrt(o);
    if (!ort.available) std::fprintf(stderr, "bench: onnxruntime side skipped: %s\n", ort.why_not.c_str());
  }
  QB_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> quantizer,
                      QuantizerRegistry::Global().Create("linear", {{"granularity", "per_channel"}}));
  for (int bits : o.packed_bits) QB_RETURN_IF_ERROR(quantizer->CheckBits(bits));
  struct Row {
    std::string arch;
    int bits;
    int batch;
    Timing fp32, packed_f32, packed_i8, ort_i8;
    bool has_ort = false;
    double agree_f32 = 0, agree_i8 = 0;
    int64_t packed_bytes = 0, fp32_weight_bytes = 0;
  };
  std::vector<Row> rows;
  for (const std::string& arch : o.archs) {
    for (int bits : o.packed_bits) {
      Model m;
      if (vs_ort_int8) {
        QB_ASSIGN_OR_RETURN(m, LoadInt8OnnxModel(arch, o.ort_int8_model));
      } else {
        QB_ASSIGN_OR_RETURN(m, LoadModel(arch, o));
      }
      std::vector<std::pair<std::string, QuantizedTensor>> tensors;
      int64_t fp32_weight_bytes = 0;
      for (Parameter& p : m.store->parameters()) {
        if (p.kind != Parameter::kWeight) continue;
        QB_ASSIGN_OR_RETURN(QuantizedTensor q,
                            quantizer->Quantize(WeightView{p.name, p.shape, p.values}, bits));
        fp32_weight_bytes += 4 * static_cast<int64_t>(p.values.size());
        p.values = q.values;
        tensors.push_back({p.name, std::move(q)});
      }
      std::vector<PackedParam> params;
      for (const auto& [name, q] : tensors) params.push_back({name, &q, bits});
      for (int batch : o.batches) {
        SetNumThreads(o.threads);
        QB_ASSIGN_OR_RETURN(std::unique_ptr<GraphNetwork> net,
                            GraphNetwork::Create(m.graph, m.store.get(), batch));
        Row row{arch, bits, batch};
        row.fp32_weight_bytes = fp32_weight_bytes;
        // Agreement on the bench input: one Forward per mode.
        const size_t in = static_cast<size_t>(m.graph.input.NumElements());
        const std::vector<float> input = BenchInput(batch * in);
        std::vector<float> probs(static_cast<size_t>(batch) * net->num_classes());
        QB_RETURN_IF_ERROR(net->Forward(input, batch, absl::MakeSpan(probs)));
        const std::vector<int> simulated_top1 = Top1(probs, net->num_classes());
        auto agreement = [&]() -> absl::StatusOr<double> {
          QB_RETURN_IF_ERROR(net->Forward(input, batch, absl::MakeSpan(probs)));
          const std::vector<int> top = Top1(probs, net->num_classes());
          int same = 0;
          for (size_t i = 0; i < top.size(); ++i) same += top[i] == simulated_top1[i];
          return static_cast<double>(same) / top.size();
        };
        auto keep_best = [&](Timing* best, const Timing& t) {
          if (t.MedianImagesPerSecond(batch) > best->MedianImagesPerSecond(batch)) *best = t;
        };
        for (int round = 1; round <= o.rounds; ++round) {
          net->UseSimulatedWeights();
          QB_ASSIGN_OR_RETURN(Timing fp32, TimeOurs(*net, batch, o.seconds));
          QB_RETURN_IF_ERROR(net->UsePackedWeights(params, GemmActivations::kFloat));
          if (round == 1) {
            row.packed_bytes = net->packed_weight_bytes();
            QB_ASSIGN_OR_RETURN(row.agree_f32, agreement());
            if (o.plan) {
              for (const std::string& line : net->DescribePlan()) std::printf("  %s\n", line.c_str());
            }
          }
          QB_ASSIGN_OR_RETURN(Timing packed_f32, TimeOurs(*net, batch, o.seconds));
          QB_RETURN_IF_ERROR(net->UsePackedWeights(params, GemmActivations::kInt8));
          if (round == 1) {
            QB_ASSIGN_OR_RETURN(row.agree_i8, agreement());
          }
          QB_ASSIGN_OR_RETURN(Timing packed_i8, TimeOurs(*net, batch, o.seconds));
          std::fprintf(stderr,
                       "bench: round %d %s %d-bit batch %d median ms: oneDNN fp32 %.2f, packed "
                       "fp32-act %.2f, packed int8-act %.2f\n",
                       round, arch.c_str(), bits, batch, fp32.median_ms, packed_f32.median_ms,
                       packed_i8.median_ms);
          keep_best(&row.fp32, fp32);
          keep_best(&row.packed_f32, packed_f32);
          keep_best(&row.packed_i8, packed_i8);
          if (!ort.available) continue;
          // onnxruntime's process runs after ours, never concurrently.
          auto t = TimeOrt(ort, o.ort_int8_model, batch, o.threads, o.seconds, m.graph.input.c,
                           m.graph.input.h);
          if (!t.ok()) {
            std::fprintf(stderr, "bench: onnxruntime int8 failed: %s\n", t.status().ToString().c_str());
            continue;
          }
          std::fprintf(stderr, "bench: round %d onnxruntime int8 %s batch %d median ms %.2f\n", round,
                       arch.c_str(), batch, t->median_ms);
          keep_best(&row.ort_i8, *t);
          row.has_ort = true;
        }
        rows.push_back(row);
      }
    }
  }
  std::printf("\n| arch | W bits | batch | threads | oneDNN fp32 img/s | packed fp32-act img/s | ratio "
              "| packed int8-act img/s | ratio |%s top-1 agreement fp32-act / int8-act | "
              "weights MB packed / fp32 |\n",
              vs_ort_int8 ? " onnxruntime int8 img/s | packed int8-act / ort int8 |" : "");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|%s---|---|\n", vs_ort_int8 ? "---:|---:|" : "");
  for (const Row& r : rows) {
    const double base = r.fp32.MedianImagesPerSecond(r.batch);
    const double f = r.packed_f32.MedianImagesPerSecond(r.batch);
    const double i8 = r.packed_i8.MedianImagesPerSecond(r.batch);
    std::string ort_cells;
    if (vs_ort_int8) {
      ort_cells = r.has_ort ? absl::StrFormat(" %.2f | **%.2f** |", r.ort_i8.MedianImagesPerSecond(r.batch),
                                              i8 / r.ort_i8.MedianImagesPerSecond(r.batch))
                            : " n/a | n/a |";
    }
    std::printf("| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |%s %.3f / %.3f | %.2f / %.2f |\n",
                r.arch.c_str(), r.bits, r.batch, o.threads, base, f, f / base, i8, i8 / base,
                ort_cells.c_str(), r.agree_f32, r.agree_i8, r.packed_bytes / 1e6,
                r.fp32_weight_bytes / 1e6);
  }
  std::printf("\nimg/s = batch / median Forward time, best of %d alternating round(s) of %g s. "
              "ratio = packed / oneDNN fp32 (> 1: packed is faster). Agreement: top-1 of the "
              "packed runs vs the simulated run on the bench input.%s\n",
              o.rounds, o.seconds,
              vs_ort_int8 ? " onnxruntime int8: its own QLinearConv execution of the file our weights "
                            "were bound from (static activation scales), timed in its own process "
                            "after ours in each round."
                          : "");
  return absl::OkStatus();
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) {
  auto options = quantbench::ParseFlags(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  const absl::Status status = !options->packed_bits.empty() ? quantbench::RunPackedComparison(*options)
                              : options->cell         ? quantbench::RunCell(*options)
                                                      : quantbench::RunLatencyTable(*options);
  if (!status.ok()) {
    std::fprintf(stderr, "bench: error: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
