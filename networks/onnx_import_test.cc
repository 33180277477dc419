// ReadOnnxModel, tensor decoding and both binding rules on small ONNX models built here
// with the generated protos, written to TEST_TMPDIR and read back.
#include "networks/onnx_import.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "networks/onnx.pb.h"
#include "networks/onnx_model.h"
#include "networks/param_store.h"

namespace quantbench {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string WriteModel(const onnx::ModelProto& model, const std::string& name) {
  std::string bytes;
  EXPECT_TRUE(model.SerializeToString(&bytes));
  const std::string path = TempPath(name);
  WriteBytes(path, bytes);
  return path;
}

std::vector<float> Ramp(int64_t n, float start, float step) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

int64_t Count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// FLOAT initializer, in raw_data (little-endian) or float_data.
void AddFloat(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
              const std::vector<float>& v, bool raw = true) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  if (raw) {
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  } else {
    for (float x : v) t->add_float_data(x);
  }
}

// INT8 / UINT8 / INT32 initializer, in raw_data or int32_data.
void AddInt(onnx::GraphProto* g, const std::string& name, onnx::TensorProto::DataType type,
            const std::vector<int64_t>& dims, const std::vector<int32_t>& v, bool raw = true) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  if (!raw) {
    for (int32_t x : v) t->add_int32_data(x);
    return;
  }
  std::string bytes;
  for (int32_t x : v) {
    if (type == onnx::TensorProto::INT8) {
      bytes.push_back(static_cast<char>(static_cast<int8_t>(x)));
    } else if (type == onnx::TensorProto::UINT8) {
      bytes.push_back(static_cast<char>(static_cast<uint8_t>(x)));
    } else {
      char b[4];
      std::memcpy(b, &x, 4);
      bytes.append(b, 4);
    }
  }
  t->set_raw_data(bytes);
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op,
                         const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs, const std::string& domain = "") {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_domain(domain);
  n->set_name(op + "_" + std::to_string(g->node_size() - 1));
  for (const auto& s : inputs) n->add_input(s);
  for (const auto& s : outputs) n->add_output(s);
  return n;
}

void SetInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

onnx::ModelProto NewModel() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("onnx_import_test");
  onnx::OperatorSetIdProto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  m.mutable_graph()->set_name("test");
  return m;
}

Parameter Param(const std::string& name, const std::string& layer, Parameter::Kind kind,
                const std::vector<int64_t>& shape) {
  Parameter p;
  p.name = name;
  p.layer = layer;
  p.layer_type = shape.size() == 4 ? "conv" : "dense";
  p.kind = kind;
  p.shape = shape;
  p.values.assign(Count(shape), -7.0f);  // sentinel: never a bound value
  return p;
}

// ---- a float Conv + Gemm model with state_dict-like names

const std::vector<int64_t> kConvW = {3, 2, 3, 3};
const std::vector<int64_t> kFcW = {4, 48};

onnx::ModelProto ConvGemmModel(bool raw = true) {
  onnx::ModelProto m = NewModel();
  onnx::GraphProto* g = m.mutable_graph();
  AddFloat(g, "conv1.weight", kConvW, Ramp(Count(kConvW), -1.0f, 0.01f), raw);
  AddFloat(g, "conv1.bias", {3}, {0.5f, -0.25f, 0.125f}, raw);
  AddFloat(g, "fc.weight", kFcW, Ramp(Count(kFcW), 2.0f, -0.03f), raw);
  AddFloat(g, "fc.bias", {4}, {1, 2, 3, 4}, raw);
  AddInt(g, "bn.num_batches_tracked", onnx::TensorProto::INT32, {}, {5});
  onnx::NodeProto* conv = AddNode(g, "Conv", {"input", "conv1.weight", "conv1.bias"}, {"c"});
  SetInt(conv, "group", 1);
  AddNode(g, "Flatten", {"c"}, {"f"});
  onnx::NodeProto* gemm = AddNode(g, "Gemm", {"f", "fc.weight", "fc.bias"}, {"logits"});
  SetInt(gemm, "transB", 1);
  return m;
}

ParamStore ConvGemmStore(const std::vector<int64_t>& fc_shape = kFcW) {
  ParamStore s;
  EXPECT_TRUE(s.Add(Param("conv1.weight", "conv1", Parameter::kWeight, kConvW)).ok());
  EXPECT_TRUE(s.Add(Param("conv1.bias", "conv1", Parameter::kBias, {3})).ok());
  EXPECT_TRUE(s.Add(Param("fc.weight", "fc", Parameter::kWeight, fc_shape)).ok());
  EXPECT_TRUE(s.Add(Param("fc.bias", "fc", Parameter::kBias, {fc_shape[0]})).ok());
  return s;
}

TEST(ReadOnnxModelTest, RoundTripsAndDecodesTensors) {
  const std::string path = WriteModel(ConvGemmModel(), "roundtrip.onnx");
  auto model = ReadOnnxModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->ir_version(), 7);
  ASSERT_EQ(model->graph().initializer_size(), 5);
  auto t = DecodeOnnxTensor(model->graph().initializer(1));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "conv1.bias");
  EXPECT_EQ(t->dims, std::vector<int64_t>({3}));
  EXPECT_EQ(t->values, std::vector<float>({0.5f, -0.25f, 0.125f}));
  auto scalar = OnnxTensorInts(model->graph().initializer(4));
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(*scalar, std::vector<int64_t>({5}));
}

TEST(ReadOnnxModelTest, DecodesTypedFieldsAndRawData) {
  onnx::GraphProto g;
  AddInt(&g, "i8", onnx::TensorProto::INT8, {3}, {-128, 0, 127}, /*raw=*/true);
  AddInt(&g, "i8f", onnx::TensorProto::INT8, {3}, {-128, 0, 127}, /*raw=*/false);
  AddInt(&g, "u8", onnx::TensorProto::UINT8, {2}, {0, 255}, /*raw=*/true);
  AddInt(&g, "i32", onnx::TensorProto::INT32, {2}, {-100000, 7}, /*raw=*/true);
  AddFloat(&g, "f", {2}, {1.5f, -2.0f}, /*raw=*/false);
  EXPECT_EQ(*OnnxTensorInts(g.initializer(0)), std::vector<int64_t>({-128, 0, 127}));
  EXPECT_EQ(*OnnxTensorInts(g.initializer(1)), std::vector<int64_t>({-128, 0, 127}));
  EXPECT_EQ(*OnnxTensorInts(g.initializer(2)), std::vector<int64_t>({0, 255}));
  EXPECT_EQ(*OnnxTensorInts(g.initializer(3)), std::vector<int64_t>({-100000, 7}));
  EXPECT_EQ(*OnnxTensorAsFloats(g.initializer(2)), std::vector<float>({0.0f, 255.0f}));
  EXPECT_EQ(*OnnxTensorFloats(g.initializer(4)), std::vector<float>({1.5f, -2.0f}));
  // Wrong type, wrong size, out-of-range int32_data, external data: errors naming the tensor.
  EXPECT_THAT(OnnxTensorFloats(g.initializer(0)).status().message(), HasSubstr("'i8' is INT8"));
  onnx::TensorProto bad = g.initializer(4);
  bad.add_dims(5);
  EXPECT_THAT(OnnxTensorFloats(bad).status().message(), HasSubstr("tensor 'f'"));
  onnx::TensorProto range = g.initializer(1);
  range.set_int32_data(0, 300);
  EXPECT_THAT(OnnxTensorInts(range).status().message(), HasSubstr("outside -128..127"));
  onnx::TensorProto external = g.initializer(4);
  external.clear_float_data();
  external.set_data_location(onnx::TensorProto::EXTERNAL);
  onnx::StringStringEntryProto* e = external.add_external_data();
  e->set_key("location");
  e->set_value("weights.bin");
  const absl::Status ext = OnnxTensorFloats(external).status();
  EXPECT_EQ(ext.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(ext.message(), HasSubstr("weights.bin"));
  EXPECT_THAT(ext.message(), HasSubstr("not supported"));
}

TEST(ReadOnnxModelTest, MissingFileIsNotFound) {
  auto model = ReadOnnxModel(TempPath("does_not_exist.onnx"));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(model.status().message(), HasSubstr("does_not_exist.onnx"));
}

TEST(ReadOnnxModelTest, BadFilesGiveClearErrorsNamingTheFile) {
  std::string bytes;
  ASSERT_TRUE(ConvGemmModel().SerializeToString(&bytes));
  std::mt19937 rng(1);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng() & 0xff);
  // A prefix that ends exactly after the graph field: parses, but lacks opset_import.
  onnx::ModelProto no_opset = ConvGemmModel();
  no_opset.clear_opset_import();
  std::string no_opset_bytes;
  ASSERT_TRUE(no_opset.SerializeToString(&no_opset_bytes));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty.onnx", ""},
      {"truncated_half.onnx", bytes.substr(0, bytes.size() / 2)},
      {"truncated_end.onnx", bytes.substr(0, bytes.size() - 3)},
      {"random.onnx", noise},
      {"text.onnx", "this is not an onnx model\n"},
      {"no_opset.onnx", no_opset_bytes},
  };
  for (const auto& [name, content] : cases) {
    const std::string path = TempPath(name);
    WriteBytes(path, content);
    auto model = ReadOnnxModel(path);
    ASSERT_FALSE(model.ok()) << name;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(model.status().message(), HasSubstr(path)) << name;
    ParamStore store = ConvGemmStore();
    EXPECT_FALSE(ImportOnnxWeights(path, OnnxBindingRule::kByName, &store).ok()) << name;
  }
  EXPECT_THAT(ReadOnnxModel(TempPath("empty.onnx")).status().message(), HasSubstr("empty"));
  // Every prefix of a valid file fails cleanly (or, if a prefix happens to be a valid
  // model, has an ir_version and a graph): never a crash.
  for (size_t n = 0; n < bytes.size(); n += 7) {
    auto model = ParseOnnxModel(bytes.substr(0, n), "prefix");
    if (model.ok()) {
      EXPECT_TRUE(model->has_graph());
    }
  }
  // A directory is not a model.
  EXPECT_FALSE(ReadOnnxModel(std::getenv("TEST_TMPDIR") != nullptr ? std::getenv("TEST_TMPDIR")
                                                                    : "/tmp")
                   .ok());
}

// ---- by_name

TEST(BindByNameTest, BindsEveryParameterAndCountsExtras) {
  for (bool raw : {true, false}) {
    const std::string path = WriteModel(ConvGemmModel(raw), "by_name.onnx");
    ParamStore store = ConvGemmStore();
    auto report = ImportOnnxWeights(path, OnnxBindingRule::kByName, &store);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(store.Find("conv1.weight")->values, Ramp(Count(kConvW), -1.0f, 0.01f));
    EXPECT_EQ(store.Find("conv1.bias")->values, std::vector<float>({0.5f, -0.25f, 0.125f}));
    EXPECT_EQ(store.Find("fc.weight")->values, Ramp(Count(kFcW), 2.0f, -0.03f));
    EXPECT_EQ(store.Find("fc.bias")->values, std::vector<float>({1, 2, 3, 4}));
    ASSERT_EQ(report->tensors.size(), 4u);
    EXPECT_EQ(report->tensors[2].param, "fc.weight");
    EXPECT_EQ(report->tensors[2].initializer, "fc.weight");
    EXPECT_EQ(report->unused_initializers, std::vector<std::string>({"bn.num_batches_tracked"}));
    EXPECT_EQ(report->bound_values, 54 + 3 + 192 + 4);
    EXPECT_EQ(report->dequantized_tensors, 0);
    EXPECT_THAT(report->Summary(), HasSubstr("by_name: 4 tensors"));
  }
}

TEST(BindByNameTest, ShapeMismatchNamesParameterAndBothShapesAndLeavesStoreUnchanged) {
  const std::string path = WriteModel(ConvGemmModel(), "by_name_shape.onnx");
  ParamStore store = ConvGemmStore({4, 50});
  auto report = ImportOnnxWeights(path, OnnxBindingRule::kByName, &store);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(), HasSubstr("'fc.weight'"));
  EXPECT_THAT(report.status().message(), HasSubstr("layer 'fc'"));
  EXPECT_THAT(report.status().message(), HasSubstr("expected shape [4, 50]"));
  EXPECT_THAT(report.status().message(), HasSubstr("has [4, 48]"));
  EXPECT_THAT(report.status().message(), HasSubstr(path));
  // conv1 matched before the failure but was not written.
  for (float v : store.Find("conv1.weight")->values) ASSERT_EQ(v, -7.0f);
}

TEST(BindByNameTest, MissingParameterIsNamed) {
  ParamStore store = ConvGemmStore();
  ASSERT_TRUE(store.Add(Param("fc2.weight", "fc2", Parameter::kWeight, {2, 4})).ok());
  auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByName, &store);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("no initializer named 'fc2.weight'"));
  EXPECT_THAT(report.status().message(), HasSubstr("[2, 4]"));
  for (float v : store.Find("fc.weight")->values) ASSERT_EQ(v, -7.0f);
}

TEST(BindByNameTest, OptionalParametersMayBeMissing) {
  // Like inception_v3's AuxLogits: in the native graph (used = false), not in an eval export.
  for (OnnxBindingRule rule : {OnnxBindingRule::kByName, OnnxBindingRule::kByOrder}) {
    ParamStore store;
    ASSERT_TRUE(store.Add(Param("conv1.weight", "conv1", Parameter::kWeight, kConvW)).ok());
    ASSERT_TRUE(store.Add(Param("conv1.bias", "conv1", Parameter::kBias, {3})).ok());
    ASSERT_TRUE(store.Add(Param("aux.weight", "aux", Parameter::kWeight, {2, 4})).ok());
    ASSERT_TRUE(store.Add(Param("aux.bias", "aux", Parameter::kBias, {2})).ok());
    ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, kFcW)).ok());
    ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {4})).ok());
    EXPECT_FALSE(BindOnnxWeights(ConvGemmModel(), rule, &store).ok());
    OnnxBindOptions options;
    options.optional_params = {"aux.weight", "aux.bias"};
    auto report = BindOnnxWeights(ConvGemmModel(), rule, &store, options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->skipped_optional, std::vector<std::string>({"aux.weight", "aux.bias"}));
    EXPECT_EQ(store.Find("aux.bias")->values, std::vector<float>(2, -7.0f));
    EXPECT_EQ(store.Find("fc.bias")->values, std::vector<float>({1, 2, 3, 4}));
    EXPECT_THAT(report->Summary(), HasSubstr("2 optional parameters not in the file"));
  }
}

TEST(BindByNameTest, QuantizedInitializerIsRefused) {
  onnx::ModelProto m = NewModel();
  AddInt(m.mutable_graph(), "w", onnx::TensorProto::INT8, {2}, {1, 2});
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("w", "l", Parameter::kWeight, {2})).ok());
  auto report = BindOnnxWeights(m, OnnxBindingRule::kByName, &store);
  EXPECT_THAT(report.status().message(), HasSubstr("INT8, expected FLOAT"));
}

// ---- by_order, float

TEST(BindByOrderTest, FloatConvGemmBindInNetworkOrderWhateverTheNames) {
  onnx::ModelProto m = ConvGemmModel();
  // Rename the initializers (and their uses) to meaningless numbers, as the Model Zoo does.
  onnx::GraphProto* g = m.mutable_graph();
  int k = 100;
  for (onnx::TensorProto& t : *g->mutable_initializer()) {
    const std::string old = t.name();
    t.set_name(std::to_string(k++));
    for (onnx::NodeProto& n : *g->mutable_node()) {
      for (std::string& in : *n.mutable_input()) {
        if (in == old) in = t.name();
      }
    }
  }
  ParamStore store = ConvGemmStore();
  auto report = BindOnnxWeights(m, OnnxBindingRule::kByOrder, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(store.Find("conv1.weight")->values, Ramp(Count(kConvW), -1.0f, 0.01f));
  EXPECT_EQ(store.Find("fc.weight")->values, Ramp(Count(kFcW), 2.0f, -0.03f));
  EXPECT_EQ(store.Find("fc.bias")->values, std::vector<float>({1, 2, 3, 4}));
  EXPECT_EQ(report->weight_nodes, 2);
  ASSERT_EQ(report->tensors.size(), 4u);
  EXPECT_EQ(report->tensors[0].initializer, "100");
  EXPECT_THAT(report->tensors[0].node, HasSubstr("Conv #0"));
  EXPECT_THAT(report->tensors[2].node, HasSubstr("Gemm #2"));
  EXPECT_EQ(report->unused_initializers, std::vector<std::string>({"104"}));
}

TEST(BindByOrderTest, MatMulWeightIsTransposedAndFollowingAddIsItsBias) {
  onnx::ModelProto m = NewModel();
  onnx::GraphProto* g = m.mutable_graph();
  // ONNX MatMul B is [in=3, out=2]: B[i][o] = 10 * i + o.
  AddFloat(g, "B", {3, 2}, {0, 1, 10, 11, 20, 21});
  AddFloat(g, "bias", {2}, {0.5f, -0.5f});
  AddNode(g, "MatMul", {"x", "B"}, {"y"});
  AddNode(g, "Add", {"y", "bias"}, {"z"});
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, {2, 3})).ok());
  ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {2})).ok());
  auto report = BindOnnxWeights(m, OnnxBindingRule::kByOrder, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(store.Find("fc.weight")->values, std::vector<float>({0, 10, 20, 1, 11, 21}));
  EXPECT_EQ(store.Find("fc.bias")->values, std::vector<float>({0.5f, -0.5f}));
  EXPECT_TRUE(report->tensors[0].transposed);
  EXPECT_THAT(report->tensors[1].node, HasSubstr("Add #1"));
  EXPECT_EQ(report->transposed_tensors, 1);
}

TEST(BindByOrderTest, ShapeMismatchNamesLayerAndShapes) {
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("conv1.weight", "conv1", Parameter::kWeight, {3, 2, 5, 5})).ok());
  ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, kFcW)).ok());
  auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByOrder, &store);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("'conv1.weight' (layer 'conv1')"));
  EXPECT_THAT(report.status().message(), HasSubstr("expected shape [3, 2, 5, 5]"));
  EXPECT_THAT(report.status().message(), HasSubstr("[3, 2, 3, 3]"));
  EXPECT_THAT(report.status().message(), HasSubstr("Conv #0"));
}

TEST(BindByOrderTest, CountMismatchAndBatchNormAndMissingBiasAreErrors) {
  {  // one more native layer than the file has
    ParamStore store = ConvGemmStore();
    ASSERT_TRUE(store.Add(Param("fc2.weight", "fc2", Parameter::kWeight, {2, 4})).ok());
    auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByOrder, &store);
    EXPECT_THAT(report.status().message(), HasSubstr("first unmatched: 'fc2.weight' [2, 4]"));
  }
  {  // one native layer fewer
    ParamStore store;
    ASSERT_TRUE(store.Add(Param("conv1.weight", "conv1", Parameter::kWeight, kConvW)).ok());
    ASSERT_TRUE(store.Add(Param("conv1.bias", "conv1", Parameter::kBias, {3})).ok());
    auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByOrder, &store);
    EXPECT_THAT(report.status().message(), HasSubstr("first extra: Gemm #2"));
  }
  {  // unfolded BatchNorm in the network
    ParamStore store = ConvGemmStore();
    ASSERT_TRUE(store.Add(Param("bn1.weight", "bn1", Parameter::kNormalization, {3})).ok());
    auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByOrder, &store);
    EXPECT_THAT(report.status().message(), HasSubstr("'bn1.weight'"));
    EXPECT_THAT(report.status().message(), HasSubstr("fold BatchNorm"));
  }
  {  // the file has a bias, the native layer has none
    ParamStore store;
    ASSERT_TRUE(store.Add(Param("conv1.weight", "conv1", Parameter::kWeight, kConvW)).ok());
    ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, kFcW)).ok());
    ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {4})).ok());
    auto report = BindOnnxWeights(ConvGemmModel(), OnnxBindingRule::kByOrder, &store);
    EXPECT_THAT(report.status().message(), HasSubstr("layer 'conv1' has no bias parameter"));
  }
}

TEST(BindByOrderTest, MissingOnnxBiasIsZeroFilled) {
  onnx::ModelProto m = ConvGemmModel();
  m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();  // Conv without B
  ParamStore store = ConvGemmStore();
  auto report = BindOnnxWeights(m, OnnxBindingRule::kByOrder, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(store.Find("conv1.bias")->values, std::vector<float>(3, 0.0f));
  EXPECT_TRUE(report->tensors[1].zero_filled);
  EXPECT_EQ(report->zero_filled_tensors, 1);
}

// ---- by_order, int8 (the Model Zoo's QLinearConv / QLinearMatMul + QLinearAdd layout)

struct QuantModel {
  onnx::ModelProto model;
  std::vector<int32_t> wq;        // conv weight [2, 3, 3, 3] int8
  std::vector<float> w_scale;     // [2]
  std::vector<int32_t> w_zp;      // [2] int8
  float x_scale = 0.0f;
  std::vector<int32_t> bias;      // [2] int32
  std::vector<int32_t> fq;        // fc weight [2 (in), 3 (out)] int8
  std::vector<float> f_scale;     // [3] per column
  std::vector<int32_t> fb;        // fc bias [3] uint8
  float fb_scale = 0.0f;
  int32_t fb_zp = 0;
};

QuantModel MakeQuantModel() {
  QuantModel q;
  q.model = NewModel();
  onnx::OperatorSetIdProto* ms = q.model.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  onnx::GraphProto* g = q.model.mutable_graph();
  for (int i = 0; i < 54; ++i) q.wq.push_back((i * 37) % 256 - 128);
  q.w_scale = {0.0123f, 0.456f};
  q.w_zp = {0, -3};
  q.x_scale = 0.0187f;
  q.bias = {123456, -98765};
  q.fq = {-128, 127, 5, -6, 0, 77};
  q.f_scale = {0.5f, 0.03125f, 0.1f};
  q.fb = {0, 128, 255};
  q.fb_scale = 0.0625f;
  q.fb_zp = 128;

  AddFloat(g, "input_scale", {}, {q.x_scale}, /*raw=*/false);
  AddInt(g, "input_zero_point", onnx::TensorProto::UINT8, {}, {128}, /*raw=*/false);
  AddInt(g, "w_q", onnx::TensorProto::INT8, {2, 3, 3, 3}, q.wq);
  AddFloat(g, "w_scale", {2}, q.w_scale, /*raw=*/false);
  AddInt(g, "w_zp", onnx::TensorProto::INT8, {2}, q.w_zp, /*raw=*/false);
  AddFloat(g, "y_scale", {}, {0.05f}, /*raw=*/false);
  AddInt(g, "y_zp", onnx::TensorProto::UINT8, {}, {0}, /*raw=*/false);
  AddInt(g, "b_q", onnx::TensorProto::INT32, {2}, q.bias);
  AddInt(g, "fc_q", onnx::TensorProto::INT8, {2, 3}, q.fq);
  AddFloat(g, "fc_scale", {3}, q.f_scale, /*raw=*/false);
  AddInt(g, "fc_zp", onnx::TensorProto::INT8, {3}, {0, 0, 0}, /*raw=*/false);
  AddFloat(g, "mm_scale", {}, {0.2f}, /*raw=*/false);
  AddInt(g, "mm_zp", onnx::TensorProto::UINT8, {}, {100}, /*raw=*/false);
  AddInt(g, "fb_q", onnx::TensorProto::UINT8, {3}, q.fb);
  AddFloat(g, "fb_scale", {}, {q.fb_scale}, /*raw=*/false);
  AddInt(g, "fb_zp", onnx::TensorProto::UINT8, {}, {q.fb_zp}, /*raw=*/false);

  AddNode(g, "QuantizeLinear", {"input", "input_scale", "input_zero_point"}, {"xq"});
  onnx::NodeProto* conv = AddNode(
      g, "QLinearConv",
      {"xq", "input_scale", "input_zero_point", "w_q", "w_scale", "w_zp", "y_scale", "y_zp", "b_q"},
      {"yq"});
  SetInt(conv, "group", 1);
  AddNode(g, "QLinearGlobalAveragePool", {"yq", "y_scale", "y_zp", "y_scale", "y_zp"}, {"pq"},
          "com.microsoft");
  AddNode(g, "Reshape", {"pq", "shape"}, {"rq"});
  AddNode(g, "QLinearMatMul",
          {"rq", "y_scale", "y_zp", "fc_q", "fc_scale", "fc_zp", "mm_scale", "mm_zp"}, {"mq"});
  AddNode(g, "QLinearAdd",
          {"mq", "mm_scale", "mm_zp", "fb_q", "fb_scale", "fb_zp", "y_scale", "y_zp"}, {"oq"},
          "com.microsoft");
  AddNode(g, "DequantizeLinear", {"oq", "y_scale", "y_zp"}, {"output"});
  return q;
}

TEST(BindByOrderTest, QLinearConvAndMatMulDequantizeExactly) {
  const QuantModel q = MakeQuantModel();
  const std::string path = WriteModel(q.model, "int8.onnx");
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("conv.weight", "conv", Parameter::kWeight, {2, 3, 3, 3})).ok());
  ASSERT_TRUE(store.Add(Param("conv.bias", "conv", Parameter::kBias, {2})).ok());
  ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, {3, 2})).ok());
  ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {3})).ok());
  auto report = ImportOnnxWeights(path, OnnxBindingRule::kByOrder, &store);
  ASSERT_TRUE(report.ok()) << report.status();

  // Conv weight: per output channel (27 values each), w_f = (q - zp) * scale.
  const std::vector<float>& w = store.Find("conv.weight")->values;
  for (int i = 0; i < 54; ++i) {
    const int oc = i / 27;
    ASSERT_EQ(w[i], static_cast<float>(q.wq[i] - q.w_zp[oc]) * q.w_scale[oc]) << i;
  }
  EXPECT_EQ(w[27], static_cast<float>(q.wq[27] + 3) * 0.456f);
  // Conv bias: int32 in units of x_scale * w_scale[oc].
  const std::vector<float>& b = store.Find("conv.bias")->values;
  for (int oc = 0; oc < 2; ++oc) {
    EXPECT_EQ(b[oc], static_cast<float>(static_cast<double>(q.bias[oc]) * q.x_scale * q.w_scale[oc]));
  }
  EXPECT_NEAR(b[0], 123456 * 0.0187 * 0.0123, 1e-4);
  // FC: ONNX [in=2, out=3] with per-column scale -> our [out=3, in=2].
  const std::vector<float>& f = store.Find("fc.weight")->values;
  for (int o = 0; o < 3; ++o) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(f[o * 2 + i], static_cast<float>(q.fq[i * 3 + o]) * q.f_scale[o]) << o << "," << i;
    }
  }
  // FC bias from the QLinearAdd: (q - zp) * scale.
  EXPECT_EQ(store.Find("fc.bias")->values, std::vector<float>({-8.0f, 0.0f, 7.9375f}));

  EXPECT_EQ(report->weight_nodes, 2);
  EXPECT_EQ(report->dequantized_tensors, 4);
  EXPECT_EQ(report->transposed_tensors, 1);
  ASSERT_EQ(report->tensors.size(), 4u);
  EXPECT_EQ(report->tensors[0].initializer, "w_q");
  EXPECT_THAT(report->tensors[0].node, HasSubstr("QLinearConv #1"));
  EXPECT_EQ(report->tensors[1].initializer, "b_q");
  EXPECT_EQ(report->tensors[2].initializer, "fc_q");
  EXPECT_TRUE(report->tensors[2].transposed);
  EXPECT_EQ(report->tensors[3].initializer, "fb_q");
  EXPECT_THAT(report->tensors[3].node, HasSubstr("QLinearAdd #5"));
  // Read: input_scale (x_scale of the bias), w_*, b_q, fc_*, fb_*; unused: the rest.
  EXPECT_EQ(report->unused_initializers,
            std::vector<std::string>({"input_zero_point", "y_scale", "y_zp", "mm_scale", "mm_zp"}));
  EXPECT_THAT(report->Summary(), HasSubstr("by_order: 4 tensors"));
}

TEST(BindByOrderTest, DequantizeLinearFeedingAFloatConvIsDequantized) {
  onnx::ModelProto m = NewModel();
  onnx::GraphProto* g = m.mutable_graph();
  AddInt(g, "wq", onnx::TensorProto::INT8, {2, 1, 1, 1}, {10, -20});
  AddFloat(g, "ws", {2}, {0.5f, 0.25f});
  AddInt(g, "wz", onnx::TensorProto::INT8, {2}, {0, 4});
  onnx::NodeProto* dq = AddNode(g, "DequantizeLinear", {"wq", "ws", "wz"}, {"w"});
  SetInt(dq, "axis", 0);
  AddNode(g, "Conv", {"x", "w"}, {"y"});
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("c.weight", "c", Parameter::kWeight, {2, 1, 1, 1})).ok());
  auto report = BindOnnxWeights(m, OnnxBindingRule::kByOrder, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(store.Find("c.weight")->values, std::vector<float>({5.0f, -6.0f}));
  EXPECT_TRUE(report->tensors[0].dequantized);
}

TEST(BindByOrderTest, QuantShapeMismatchNamesTheNode) {
  const QuantModel q = MakeQuantModel();
  ParamStore store;
  ASSERT_TRUE(store.Add(Param("conv.weight", "conv", Parameter::kWeight, {2, 3, 3, 3})).ok());
  ASSERT_TRUE(store.Add(Param("conv.bias", "conv", Parameter::kBias, {2})).ok());
  ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, {2, 3})).ok());
  ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {2})).ok());
  auto report = BindOnnxWeights(q.model, OnnxBindingRule::kByOrder, &store);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("weight #1 'fc.weight'"));
  EXPECT_THAT(report.status().message(), HasSubstr("expected shape [2, 3]"));
  EXPECT_THAT(report.status().message(), HasSubstr("'fc_q' of shape [3, 2]"));
  EXPECT_THAT(report.status().message(), HasSubstr("[in, out] -> [out, in]"));
}

TEST(BindFuzzTest, MutatedModelsFailCleanlyOrBind) {
  std::string bytes;
  ASSERT_TRUE(MakeQuantModel().model.SerializeToString(&bytes));
  std::mt19937 rng(7);
  int parsed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string mutated = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng() & 0xff);
    }
    auto model = ParseOnnxModel(mutated, "fuzz");
    if (!model.ok()) continue;
    ++parsed;
    for (OnnxBindingRule rule : {OnnxBindingRule::kByName, OnnxBindingRule::kByOrder}) {
      ParamStore store;
      ASSERT_TRUE(store.Add(Param("conv.weight", "conv", Parameter::kWeight, {2, 3, 3, 3})).ok());
      ASSERT_TRUE(store.Add(Param("conv.bias", "conv", Parameter::kBias, {2})).ok());
      ASSERT_TRUE(store.Add(Param("fc.weight", "fc", Parameter::kWeight, {3, 2})).ok());
      ASSERT_TRUE(store.Add(Param("fc.bias", "fc", Parameter::kBias, {3})).ok());
      auto report = BindOnnxWeights(*model, rule, &store);
      if (report.ok()) {
        for (const Parameter& p : store.parameters()) {
          ASSERT_EQ(static_cast<int64_t>(p.values.size()), p.NumElements());
        }
      }
    }
  }
  EXPECT_GT(parsed, 0);
}

TEST(OnnxBindingRuleTest, Parses) {
  EXPECT_EQ(*ParseOnnxBindingRule("by_name"), OnnxBindingRule::kByName);
  EXPECT_EQ(*ParseOnnxBindingRule("BY_ORDER"), OnnxBindingRule::kByOrder);
  EXPECT_FALSE(ParseOnnxBindingRule("by_guess").ok());
  EXPECT_STREQ(OnnxBindingRuleName(OnnxBindingRule::kByOrder), "by_order");
}

}  // namespace
}  // namespace quantbench
