#include "networks/param_store.h"

#include "gtest/gtest.h"

namespace quantbench {
namespace {

Parameter MakeParam(const std::string& name, std::vector<int64_t> shape, float fill) {
  Parameter p;
  p.name = name;
  p.layer = name.substr(0, name.find('.'));
  p.layer_type = "dense";
  p.kind = name.find("bias") != std::string::npos ? Parameter::kBias : Parameter::kWeight;
  p.shape = std::move(shape);
  p.values.assign(p.NumElements(), fill);
  return p;
}

TEST(ParamStoreTest, AddFindAndCount) {
  ParamStore store;
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.TotalCount(), 0);
  ASSERT_TRUE(store.Add(MakeParam("fc1.weight", {3, 4}, 1.0f)).ok());
  ASSERT_TRUE(store.Add(MakeParam("fc1.bias", {3}, 2.0f)).ok());
  ASSERT_TRUE(store.Add(MakeParam("fc2.weight", {2, 3}, 3.0f)).ok());
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.TotalCount(), 12 + 3 + 6);

  // Network order is insertion order.
  ASSERT_EQ(store.parameters().size(), 3u);
  EXPECT_EQ(store.parameters()[0].name, "fc1.weight");
  EXPECT_EQ(store.parameters()[1].name, "fc1.bias");
  EXPECT_EQ(store.parameters()[2].name, "fc2.weight");

  Parameter* p = store.Find("fc1.bias");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind, Parameter::kBias);
  EXPECT_EQ(p->layer, "fc1");
  EXPECT_EQ(p->shape, std::vector<int64_t>({3}));
  EXPECT_EQ(store.Find("fc3.weight"), nullptr);

  // Mutable access rewrites in place.
  p->values[1] = -7.0f;
  const ParamStore& const_store = store;
  EXPECT_EQ(const_store.Find("fc1.bias")->values[1], -7.0f);
  store.parameters()[0].values[0] = 5.0f;
  EXPECT_EQ(const_store.parameters()[0].values[0], 5.0f);
}

TEST(ParamStoreTest, RejectsDuplicateEmptyAndMismatchedSizes) {
  ParamStore store;
  ASSERT_TRUE(store.Add(MakeParam("fc1.weight", {3, 4}, 1.0f)).ok());

  absl::Status dup = store.Add(MakeParam("fc1.weight", {3, 4}, 1.0f));
  EXPECT_EQ(dup.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("duplicate parameter 'fc1.weight'"), std::string::npos) << dup;

  EXPECT_EQ(store.Add(MakeParam("", {1}, 0.0f)).code(), absl::StatusCode::kInvalidArgument);

  Parameter bad = MakeParam("fc2.weight", {2, 3}, 0.0f);
  bad.values.pop_back();
  absl::Status size = store.Add(bad);
  EXPECT_EQ(size.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(size.message().find("fc2.weight"), std::string::npos) << size;
  EXPECT_NE(size.message().find("[2, 3]"), std::string::npos) << size;

  Parameter negative = MakeParam("fc3.weight", {}, 0.0f);
  negative.shape = {-1, 2};
  negative.values.clear();
  EXPECT_EQ(store.Add(negative).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.size(), 1u);
}

TEST(ParamStoreTest, ShapeHelpers) {
  EXPECT_EQ(ShapeToString({256, 784}), "[256, 784]");
  EXPECT_EQ(ShapeToString({}), "[]");
  EXPECT_EQ(*ShapeNumElements({256, 784}), 256 * 784);
  EXPECT_EQ(*ShapeNumElements({}), 1);
  EXPECT_EQ(*ShapeNumElements({5, 0, 3}), 0);
  EXPECT_FALSE(ShapeNumElements({int64_t{1} << 40, int64_t{1} << 40}).ok());
}

}  // namespace
}  // namespace quantbench
