// A convolutional network as a small DAG of layers, independent of any runtime.
//
// GraphBuilder appends layers in topological order and returns value ids (a value is the
// output of one layer; its id is that layer's index in Graph::layers). Finish(output) checks
// the graph, drops layers that do not reach `output` (their parameters stay listed, with
// used = false, e.g. inception_v3's auxiliary classifier) and derives the parameter list.
//
// Parameter names follow torchvision's state_dict: a conv "layer1.0.conv1" owns
// "layer1.0.conv1.weight" [out, in/groups, kh, kw] (+ ".bias" [out]); a batch norm "bn1" owns
// "bn1.weight" (gamma), "bn1.bias" (beta), "bn1.running_mean", "bn1.running_var" (all [C],
// kind kNormalization); a dense layer "fc" owns "fc.weight" [out, in] and "fc.bias" [out].
// A dense layer after a Flatten of C x H x W sees the features in C, H, W order (torch.flatten).
//
// The network's output value holds the logits; GraphNetwork applies softmax after it.
// Runtime: networks/graph_network.h. Registry of named architectures: networks/architecture.h.
#ifndef QUANTBENCH_NETWORKS_GRAPH_H_
#define QUANTBENCH_NETWORKS_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "networks/param_store.h"

namespace quantbench {

enum class LayerKind {
  kInput,
  kConv,
  kBatchNorm,
  kRelu,
  kRelu6,
  kAdd,
  kMaxPool,
  kAvgPool,
  kGlobalAvgPool,
  kConcat,
  kFlatten,
  kDense,
  // Zero channels added before and after the input's channels (the CIFAR ResNets' option-A
  // shortcut: a stride-2 1x1 MaxPool subsamples, PadChannels widens, no weights).
  kPadChannels,
};

// "conv", "batch_norm", "max_pool", ...
const char* LayerKindName(LayerKind kind);

// Shape of one example's value (no batch dimension). A flat value (output of Flatten or Dense)
// has c = number of features, h = w = 1 and flat = true.
struct TensorShape {
  int c = 0;
  int h = 1;
  int w = 1;
  bool flat = false;

  int64_t NumElements() const { return static_cast<int64_t>(c) * h * w; }
  bool operator==(const TensorShape& o) const {
    return c == o.c && h == o.h && w == o.w && flat == o.flat;
  }
  bool operator!=(const TensorShape& o) const { return !(*this == o); }
};

// "[64, 56, 56]" or "[1000]" (flat).
std::string TensorShapeToString(const TensorShape& shape);

struct Layer {
  LayerKind kind = LayerKind::kInput;
  std::string name;         // parameter prefix (conv, batch_norm, dense); "" for the others
  std::vector<int> inputs;  // value ids, all smaller than this layer's index
  TensorShape shape;        // output shape

  // Conv and pooling windows (pooling: out_channels, groups, bias, dilation unused).
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int dilation = 1;
  // Conv and Dense.
  int out_channels = 0;
  int groups = 1;
  bool bias = false;  // Dense always has a bias
  // BatchNorm.
  float eps = 1e-5f;
  // Pooling. ceil_mode follows PyTorch: the last window must start inside the input or the
  // left/top padding. count_include_pad: the divisor counts the padding (PyTorch's rule: the
  // window is clipped to input + declared padding, never to the ceil_mode extension).
  bool ceil_mode = false;
  bool count_include_pad = false;
  // PadChannels: zero channels before / after the input's.
  int pad_channels_before = 0;
  int pad_channels_after = 0;
};

// One tensor the graph reads, as GraphNetwork and InitGraphParams expect it in a ParamStore.
struct ParamSpec {
  std::string name;        // "layer1.0.conv1.weight"
  std::string layer;       // "layer1.0.conv1"
  std::string layer_type;  // "conv", "depthwise_conv", "dense", "batch_norm"
  Parameter::Kind kind = Parameter::kWeight;
  std::vector<int64_t> shape;
  // False for parameters of layers that do not reach the output (inception_v3's AuxLogits):
  // created by InitGraphParams and counted, but never read; CheckGraphParams accepts their
  // absence.
  bool used = true;

  // The store entry this spec describes, values still empty.
  Parameter EmptyParameter() const {
    Parameter p;
    p.name = name;
    p.layer = layer;
    p.layer_type = layer_type;
    p.kind = kind;
    p.shape = shape;
    return p;
  }
};

struct Graph {
  std::vector<Layer> layers;  // topological order; layers[0] is the input
  int output = -1;            // value id of the logits
  TensorShape input;          // {C, H, W}
  int num_classes = 0;        // output.NumElements()
  std::vector<ParamSpec> params;  // network order (creation order of the layers)

  std::vector<int64_t> input_shape() const { return {input.c, input.h, input.w}; }
  // Sum of the elements of the parameters torch counts (model.parameters()): everything but
  // BatchNorm running statistics. Includes unused parameters.
  int64_t NumTrainableParameters() const;
};

// "conv" / "depthwise_conv" (groups > 1 and one input channel per group) / "dense" / ...
std::string LayerParamType(const Layer& layer, int in_channels);
// The parameters one layer owns (empty for parameterless layers); in_channels is the
// input's channel count (Dense: number of input features).
std::vector<ParamSpec> LayerParams(const Layer& layer, int in_channels);

// Builds a Graph. Every method returns the new value's id, or -1 after an error; the first
// error is kept and returned by Finish (so call sites need no checks).
class GraphBuilder {
 public:
  GraphBuilder() = default;

  int Input(int c, int h, int w);

  int Conv(int x, std::string name, int out_channels, int kh, int kw, int stride_h, int stride_w,
           int pad_t, int pad_l, int pad_b, int pad_r, int groups, bool bias, int dilation = 1);
  // Square kernel, same stride and padding on every side.
  int Conv(int x, std::string name, int out_channels, int kernel, int stride, int pad,
           int groups = 1, bool bias = false);
  int BatchNorm(int x, std::string name, float eps = 1e-5f);
  int Relu(int x);
  int Relu6(int x);
  int Add(int a, int b);
  int MaxPool(int x, int kh, int kw, int stride_h, int stride_w, int pad_t, int pad_l, int pad_b,
              int pad_r, bool ceil_mode);
  int MaxPool(int x, int kernel, int stride, int pad, bool ceil_mode = false);
  int AvgPool(int x, int kh, int kw, int stride_h, int stride_w, int pad_t, int pad_l, int pad_b,
              int pad_r, bool count_include_pad, bool ceil_mode);
  int AvgPool(int x, int kernel, int stride, int pad, bool count_include_pad = true,
              bool ceil_mode = false);
  int GlobalAvgPool(int x);  // output C x 1 x 1 (not flat)
  int Concat(std::vector<int> xs);  // channel axis; equal H, W
  int Flatten(int x);
  int Dense(int x, std::string name, int out);  // x must be flat
  // Output channels: `before` zeros, x's channels, `after` zeros (x not flat; both >= 0).
  int PadChannels(int x, int before, int after);

  // Convenience: Conv (no bias) -> BatchNorm [-> Relu / Relu6].
  enum class Act { kNone, kRelu, kRelu6 };
  int ConvBn(int x, const std::string& conv_name, const std::string& bn_name, int out_channels,
             int kernel, int stride, int pad, int groups = 1, Act act = Act::kRelu,
             float eps = 1e-5f);

  // Shape of a value built so far (an empty shape for an invalid id).
  TensorShape shape(int x) const;
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  // InvalidArgument on the first builder error, on duplicate parameter names or if `output`
  // is not a valid value. The builder can not be reused afterwards.
  absl::StatusOr<Graph> Finish(int output);

 private:
  int Append(Layer layer);
  bool Fail(const std::string& message);
  bool CheckValue(int x, const char* what);
  int Pool(LayerKind kind, int x, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
           bool count_include_pad, bool ceil_mode);

  std::vector<Layer> layers_;
  absl::Status status_;
};

// Output size of a conv or pooling window along one axis (PyTorch's formulas, ceil_mode
// included). Returns <= 0 if the window does not fit.
int WindowOutputSize(int in, int kernel, int stride, int pad_before, int pad_after, int dilation,
                     bool ceil_mode);

// Recomputes Graph::params from the layers, keeping unused parameters of the old list in
// place. For code that rewrites a graph (FoldBatchNormIntoConvs).
void RebuildGraphParams(Graph* graph);

// Fresh parameters for every ParamSpec (used or not), in graph.params order. Deterministic
// and portable (std::mt19937_64(seed) + hand-written Box-Muller): conv and dense weights
// He-normal N(0, 2 / fan_in) with fan_in = in/groups * kh * kw, biases 0, BatchNorm gamma 1,
// beta 0, running mean 0, running variance 1.
absl::StatusOr<ParamStore> InitGraphParams(const Graph& graph, uint64_t seed);

// OK if `params` holds every used ParamSpec with its shape (and every unused one it holds has
// the right shape). InvalidArgument naming the first offender:
// "parameter 'fc.weight': expected shape [1000, 2048], found [1000, 512]" or
// "parameter 'bn1.running_var' (expected shape [64]) is missing from the store".
absl::Status CheckGraphParams(const Graph& graph, const ParamStore& params);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_GRAPH_H_
