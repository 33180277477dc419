#include "experiments/quantize_model.h"

#include <gtest/gtest.h>

#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

Parameter Weight(const std::string& layer, const std::string& type, std::vector<int64_t> shape) {
  Parameter p;
  p.name = layer + ".weight";
  p.layer = layer;
  p.layer_type = type;
  p.kind = Parameter::kWeight;
  p.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  for (int64_t i = 0; i < n; ++i) p.values.push_back(0.01f * static_cast<float>((i * 37) % 101 - 50));
  return p;
}

ParamStore SmallNet() {
  ParamStore store;
  EXPECT_TRUE(store.Add(Weight("stem", "conv", {8, 3, 3, 3})).ok());
  EXPECT_TRUE(store.Add(Weight("dw", "depthwise_conv", {8, 1, 3, 3})).ok());
  EXPECT_TRUE(store.Add(Weight("pw", "conv", {16, 8, 1, 1})).ok());
  EXPECT_TRUE(store.Add(Weight("fc", "dense", {10, 16})).ok());
  return store;
}

std::vector<int> Bits(const std::vector<LayerPlan>& plan) {
  std::vector<int> bits;
  for (const LayerPlan& l : plan) bits.push_back(l.bits);
  return bits;
}

TEST(PlanLayers, TypeOverridesThenNameOverrides) {
  LayerSelection selection;
  selection.set_mode(LayerSelection::SKIP_FIRST);
  LayerOverride* dw = selection.add_overrides();
  dw->set_type("depthwise_conv");
  dw->set_bits(8);
  // Name overrides win over type overrides whatever their order in the config.
  LayerOverride* pw = selection.add_overrides();
  pw->set_layer("pw");
  pw->set_skip(true);
  LayerOverride* conv = selection.add_overrides();
  conv->set_type("conv");
  conv->set_bits(6);
  auto plan = PlanLayers(SmallNet(), selection, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // stem: a conv, so the type override re-enables it at 6 bits despite SKIP_FIRST.
  EXPECT_EQ(Bits(*plan), std::vector<int>({6, 8, 0, 4}));
  EXPECT_EQ((*plan)[1].type, "depthwise_conv");
}

TEST(PlanLayers, UnknownTypeListsTheNetworksTypes) {
  LayerSelection selection;
  selection.add_overrides()->set_type("dense_but_wrong");
  auto plan = PlanLayers(SmallNet(), selection, 4);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("conv, dense, depthwise_conv"), std::string::npos)
      << plan.status();
}

TEST(QuantizeModel, KeepsQuantizerOutputAndCountsEffectiveBits) {
  ParamStore original = SmallNet(), quantized;
  auto quantizer = QuantizerRegistry::Global().Create("linear", {{"granularity", "per_channel"}});
  ASSERT_TRUE(quantizer.ok()) << quantizer.status();
  auto plan = PlanLayers(original, LayerSelection(), 4);
  ASSERT_TRUE(plan.ok());
  std::map<std::string, QuantizedTensor> kept;
  auto report = QuantizeModel(**quantizer, original, *plan, &quantized, &kept);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(kept.size(), 4u);
  int64_t weights = 0, storage = 0;
  for (const Parameter& p : quantized.parameters()) {
    const QuantizedTensor& q = kept.at(p.name);
    EXPECT_EQ(q.values, p.values) << p.name;  // the store holds exactly what was kept
    EXPECT_EQ(q.codes.size(), p.values.size());
    weights += static_cast<int64_t>(p.values.size());
    storage += q.storage_bits;
  }
  EXPECT_EQ(report->quantized_weights, weights);
  EXPECT_EQ(report->quantized_storage_bits, storage);
  // 4-bit codes plus one fp32 scale per output row: strictly more than 4 bits per weight.
  EXPECT_GT(report->EffectiveBitsPerWeight(), 4.0);
  EXPECT_DOUBLE_EQ(report->EffectiveBitsPerWeight(), static_cast<double>(storage) / weights);
}

TEST(QuantizeModel, CountsZerosPerLayerAndOverall) {
  ParamStore original = SmallNet(), quantized;
  // The TTN threshold at 0.3·max|W| zeroes a sizeable, layer-dependent share of the weights.
  auto quantizer = QuantizerRegistry::Global().Create(
      "ternary", {{"method", "statistical"}, {"threshold_ratio", "0.3"}});
  ASSERT_TRUE(quantizer.ok()) << quantizer.status();
  auto plan = PlanLayers(original, LayerSelection(), 2);
  ASSERT_TRUE(plan.ok());
  (*plan)[1].bits = 0;  // dw stays fp32 and must not count
  auto report = QuantizeModel(**quantizer, original, *plan, &quantized);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->layers.size(), 3u);
  int64_t zeros = 0, weights = 0;
  for (const LayerReport& layer : report->layers) {
    const Parameter* q = quantized.Find(layer.layer + ".weight");
    ASSERT_NE(q, nullptr);
    int64_t layer_zeros = 0;
    for (float v : q->values) layer_zeros += v == 0.0f;
    EXPECT_EQ(layer.zeros, layer_zeros) << layer.layer;
    EXPECT_GT(layer.zeros, 0) << layer.layer;
    EXPECT_LT(layer.zeros, layer.weights) << layer.layer;
    EXPECT_DOUBLE_EQ(layer.Sparsity(), static_cast<double>(layer_zeros) / layer.weights);
    zeros += layer_zeros;
    weights += layer.weights;
  }
  EXPECT_EQ(report->quantized_zeros, zeros);
  EXPECT_DOUBLE_EQ(report->Sparsity(), static_cast<double>(zeros) / weights);
}

}  // namespace
}  // namespace quantbench
