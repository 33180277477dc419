// Training throughput, ours against PyTorch 1.13 CPU in the same run (a benchmark, not a test):
//
//   bazel run //training:bench                       # ResNet-20 at batch 128, 1 and 2 threads
//   bazel run //training:bench -- --threads=2 --steps=20 --net=cifar_resnet32
//   bazel run //training:bench -- --net=resiliency_cnn --variant=width_multiplier=0.25 \
//       --threads=1 --torch_python= --mlp_data=
//
// One step = TrainableGraph forward (kTrain) + softmax cross-entropy + backward + SGD
// (Nesterov 0.9, weight decay 5e-4) on random N(0, 1) images, exactly what tools/
// torch_train_bench.py does in PyTorch (run through Debian's /usr/bin/python3, same threads,
// same batch). Reported: images/s (median step), the forward / backward / optimizer split of
// ours, and the ratio ours / PyTorch. With --mlp_data, also one epoch of the Fashion-MNIST MLP
// (784-256-256-256-10, batch 100) through the same trainer.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "datasets/idx_dataset.h"
#include "networks/architecture.h"
#include "networks/threads.h"
#include "training/labeled_images_data.h"
#include "training/losses.h"
#include "training/optimizer.h"
#include "training/trainable_graph.h"
#include "training/trainer.h"

ABSL_FLAG(std::string, net, "cifar_resnet20", "registered CIFAR architecture");
ABSL_FLAG(std::string, variant, "",
          "architecture variant as key=value pairs, comma separated (e.g. width_multiplier=0.25)");
ABSL_FLAG(std::string, threads, "1,2", "comma-separated thread counts");
ABSL_FLAG(int, batch, 128, "batch size");
ABSL_FLAG(int, steps, 10, "timed steps (after 3 warm-up steps)");
ABSL_FLAG(std::string, torch_python, "/usr/bin/python3", "python with torch 1.13 (empty: skip PyTorch)");
ABSL_FLAG(std::string, mlp_data, "/usr/share/datasets/fashion-mnist",
          "Fashion-MNIST idx folder for the MLP epoch (empty: skip)");

namespace quantbench {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Split {
  double step = 0, forward = 0, backward = 0, update = 0;
};

// Median step of ours, with the median forward / backward / update parts.
absl::StatusOr<Split> OursImagesPerSecond(const Graph& graph, int batch, int steps) {
  ParamStore params = *InitGraphParams(graph, 1);
  QB_ASSIGN_OR_RETURN(std::unique_ptr<TrainableGraph> net, TrainableGraph::Create(graph, {}));
  QB_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                      Optimizer::Create({OptimizerSpec::kSgd, 0.9f, true, 0.9f, 0.999f, 1e-8f, 5e-4f}));
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<size_t>(batch) * graph.input.NumElements());
  for (float& v : x) v = normal(rng);
  std::vector<int32_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>(rng() % graph.num_classes);
  std::vector<float> logits(static_cast<size_t>(batch) * graph.num_classes), dlogits(logits.size());
  ParamGradients grads = ParamGradients::ZerosLike(params);
  std::vector<std::array<double, 3>> parts;
  for (int step = 0; step < 3 + steps; ++step) {
    Clock::time_point t0 = Clock::now();
    QB_RETURN_IF_ERROR(net->Forward(&params, x, batch, Phase::kTrain, absl::MakeSpan(logits)));
    QB_ASSIGN_OR_RETURN(double loss, SoftmaxCrossEntropy(logits, labels, batch, graph.num_classes,
                                                         absl::MakeSpan(dlogits)));
    (void)loss;
    const double forward = Since(t0);
    Clock::time_point t1 = Clock::now();
    QB_RETURN_IF_ERROR(net->Backward(dlogits, &grads));
    const double backward = Since(t1);
    Clock::time_point t2 = Clock::now();
    std::vector<TrainableTensor> tensors;
    for (size_t i = 0; i < params.parameters().size(); ++i) {
      Parameter& p = params.parameters()[i];
      if (grads.grads[i].empty()) continue;
      tensors.push_back({p.name, absl::MakeSpan(p.values), grads.grads[i], p.kind == Parameter::kWeight});
    }
    QB_RETURN_IF_ERROR(optimizer->Step(0.05f, tensors));
    if (step >= 3) parts.push_back({forward, backward, Since(t2)});
  }
  auto median = [&](int k) {
    std::vector<double> v;
    for (const auto& p : parts) v.push_back(p[k]);
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  Split s;
  s.forward = median(0);
  s.backward = median(1);
  s.update = median(2);
  std::vector<double> total;
  for (const auto& p : parts) total.push_back(p[0] + p[1] + p[2]);
  std::nth_element(total.begin(), total.begin() + total.size() / 2, total.end());
  s.step = total[total.size() / 2];
  return s;
}

double TorchImagesPerSecond(const std::string& python, const std::string& net, int threads, int batch,
                            int steps) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string script = absl::StrCat(workspace ? workspace : ".", "/tools/torch_train_bench.py");
  const std::string command = absl::StrCat(python, " ", script, " --net ", net, " --threads ", threads,
                                           " --batch ", batch, " --steps ", steps, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char line[512];
  double value = -1;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    if (std::sscanf(line, "images_per_second %lf", &value) == 1) break;
    std::fprintf(stderr, "torch: %s", line);
  }
  pclose(pipe);
  return value;
}

int Run() {
  const std::string net_name = absl::GetFlag(FLAGS_net);
  ArchitectureOptions options;
  options.num_classes = 10;
  for (absl::string_view kv : absl::StrSplit(absl::GetFlag(FLAGS_variant), ',', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> pair = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (pair.first.empty() || pair.second.empty()) {
      std::fprintf(stderr, "bench: --variant: '%s' is not key=value\n", std::string(kv).c_str());
      return 1;
    }
    options.variant[pair.first] = pair.second;
  }
  absl::StatusOr<Graph> graph = ArchitectureRegistry::Global().Build(net_name, options);
  if (!graph.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(graph.status().message()).c_str());
    return 1;
  }
  const int batch = absl::GetFlag(FLAGS_batch), steps = absl::GetFlag(FLAGS_steps);
  std::printf("## Training throughput: %s%s%s, batch %d, %d timed steps (median)\n\n", net_name.c_str(),
              absl::GetFlag(FLAGS_variant).empty() ? "" : " ", absl::GetFlag(FLAGS_variant).c_str(), batch,
              steps);
  std::printf("| threads | ours img/s | forward ms | backward ms | update ms | PyTorch 1.13 img/s | ours / PyTorch |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (absl::string_view t : absl::StrSplit(absl::GetFlag(FLAGS_threads), ',')) {
    int threads = 0;
    if (!absl::SimpleAtoi(t, &threads) || threads < 1) {
      std::fprintf(stderr, "bench: --threads: '%s' is not a positive integer\n", std::string(t).c_str());
      return 1;
    }
    SetNumThreads(threads);
    absl::StatusOr<Split> ours = OursImagesPerSecond(*graph, batch, steps);
    if (!ours.ok()) {
      std::fprintf(stderr, "bench: %s\n", std::string(ours.status().message()).c_str());
      return 1;
    }
    const double ours_ips = batch / ours->step;
    const std::string python = absl::GetFlag(FLAGS_torch_python);
    const double torch_ips = python.empty() ? -1 : TorchImagesPerSecond(python, net_name, threads, batch, steps);
    std::printf("| %d | %.1f | %.1f | %.1f | %.2f | %s | %s |\n", threads, ours_ips, 1e3 * ours->forward,
                1e3 * ours->backward, 1e3 * ours->update,
                torch_ips > 0 ? absl::StrFormat("%.1f", torch_ips).c_str() : "n/a",
                torch_ips > 0 ? absl::StrFormat("%.2fx", ours_ips / torch_ips).c_str() : "n/a");
    std::fflush(stdout);
  }

  const std::string mlp_dir = absl::GetFlag(FLAGS_mlp_data);
  if (!mlp_dir.empty()) {
    absl::StatusOr<LabeledImages> data = LoadIdxDataset(mlp_dir + "/train-images-idx3-ubyte.gz",
                                                        mlp_dir + "/train-labels-idx1-ubyte.gz", 0,
                                                        PixelNormalization{1.0f / 255, 0.2860f, 0.3530f});
    if (!data.ok()) {
      std::printf("\nMLP epoch skipped: %s\n", std::string(data.status().message()).c_str());
      return 0;
    }
    ArchitectureOptions mlp_options;
    mlp_options.num_classes = 10;
    mlp_options.variant = {{"hidden", "256,256,256"}};
    Graph mlp = *ArchitectureRegistry::Global().Build("mlp", mlp_options);
    LabeledImagesData train(&*data);
    std::printf("\n## Fashion-MNIST MLP 784-256-256-256-10, one epoch of %lld images, batch 100\n\n",
                static_cast<long long>(data->count));
    std::printf("| threads | seconds per epoch |\n|---:|---:|\n");
    for (absl::string_view t : absl::StrSplit(absl::GetFlag(FLAGS_threads), ',')) {
      int threads = 1;
      if (!absl::SimpleAtoi(t, &threads)) continue;
      SetNumThreads(threads);
      ParamStore params = *InitGraphParams(mlp, 1);
      TrainerOptions o;
      o.epochs = 1;
      o.batch_size = 100;
      o.schedule.lr = 0.05;
      absl::StatusOr<TrainingReport> report = TrainGraph(mlp, &params, o, train, nullptr);
      if (!report.ok()) {
        std::fprintf(stderr, "bench: %s\n", std::string(report.status().message()).c_str());
        return 1;
      }
      std::printf("| %d | %.2f |\n", threads, report->epochs[0].seconds);
    }
  }
  return 0;
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return quantbench::Run();
}
