#include "experiments/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// A workspace with configs/ and a data directory holding (empty) idx files: validation only
// checks that files exist; reading them is the runner's job.
RunDirectories MakeWorkspace() {
  std::string ws = TestDir() + "/ws";
  mkdir(ws.c_str(), 0755);
  mkdir((ws + "/configs").c_str(), 0755);
  mkdir((ws + "/data").c_str(), 0755);
  mkdir((ws + "/elsewhere").c_str(), 0755);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"}) {
    std::ofstream(ws + "/data/" + f) << "x";
  }
  return RunDirectories{ws, ws + "/elsewhere"};
}

constexpr char kValid[] = R"(name: "demo"
network {
  architecture: "mlp"
  mlp { hidden: [16] }
  train { data { dir: "data" } epochs: 1 }
}
dataset { dir: "data" }
quantizers { name: "linear" }
quantizers { name: "exponential" params { key: "base" value: "0.5" } }
bits: [2, 4, 8]
)";

absl::StatusOr<Experiment> Parse(const std::string& text) {
  return ParseExperiment(text, "demo.pbtxt", MakeWorkspace());
}

std::string ErrorOf(const std::string& text) {
  auto config = Parse(text);
  EXPECT_FALSE(config.ok()) << "expected an error for:\n" << text;
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(Config, ValidConfigGetsDefaults) {
  auto config = Parse(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  RunDirectories dirs = MakeWorkspace();
  EXPECT_EQ(config->output(), dirs.workspace + "/results/demo.json");
  EXPECT_EQ(config->dataset().dir(), dirs.workspace + "/data");
  EXPECT_EQ(config->dataset().images(), "t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(config->network().train().data().images(), "train-images-idx3-ubyte.gz");
  EXPECT_EQ(config->network().input_shape(0), 784);
  EXPECT_EQ(config->quantizers(0).label(), "linear");
  EXPECT_EQ(config->quantizers(1).label(), "exponential base=0.5");
  EXPECT_FLOAT_EQ(config->dataset().preprocessing().scale(), 1.0f / 255.0f);
}

TEST(Config, SyntaxErrorNamesFileLineAndColumn) {
  std::string error = ErrorOf("name: \"x\"\nbits: [2, 3\nquantizers { name: \"linear\" }\n");
  EXPECT_EQ(error.rfind("demo.pbtxt:3:", 0), 0u) << error;
}

TEST(Config, UnknownFieldIsNamed) {
  std::string error = ErrorOf(absl::StrCat(kValid, "colour: \"red\"\n"));
  EXPECT_NE(error.find("demo.pbtxt:11:"), std::string::npos) << error;
  EXPECT_NE(error.find("colour"), std::string::npos) << error;
}

// Issue #14: an invalid byte in description or a label used to abort with nlohmann's
// type_error 316 when the result was written, after the whole sweep.
TEST(Config, InvalidUtf8IsRejectedWithFieldAndByte) {
  std::string error = ErrorOf(absl::StrCat(kValid, "description: \"bad \xff here\"\n"));
  EXPECT_NE(error.find("demo.pbtxt:11:1: description: invalid UTF-8 at byte 4 of the value (0xff)"), std::string::npos)
      << error;
  error = ErrorOf(absl::StrReplaceAll(kValid, {{"name: \"exponential\"", "name: \"exponential\" label: \"e\xc3\""}}));
  EXPECT_NE(error.find("quantizers[1].label: invalid UTF-8 at byte 1"), std::string::npos) << error;
  error = ErrorOf(absl::StrReplaceAll(kValid, {{"value: \"0.5\"", "value: \"0.5\xed\xa0\x80\""}}));
  EXPECT_NE(error.find("quantizers[1].params[0].value: invalid UTF-8 at byte 4 of the value (0xa0)"), std::string::npos) << error;
  EXPECT_TRUE(Parse(absl::StrCat(kValid, "description: \"caf\xc3\xa9 \xe2\x82\xac\"\n")).ok());
}

TEST(Config, InvalidUtf8OverridePathIsRejected) {
  ConfigOverrides overrides;
  overrides.data = "/data/\xfe";
  auto config = ParseExperiment(kValid, "demo.pbtxt", MakeWorkspace(), overrides);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--data (or its environment variable): invalid UTF-8 at byte 6"),
            std::string::npos)
      << config.status();
}

TEST(Config, UnknownQuantizerListsRegistered) {
  std::string text = absl::StrReplaceAll(kValid, {{"name: \"linear\"", "name: \"lineer\""}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("demo.pbtxt:8:14: quantizers[0].name"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown quantizer 'lineer'"), std::string::npos) << error;
  EXPECT_NE(error.find("exponential"), std::string::npos) << error;
  EXPECT_NE(error.find("linear"), std::string::npos) << error;
}

TEST(Config, UnknownParameterListsAccepted) {
  std::string text = absl::StrReplaceAll(kValid, {{"key: \"base\"", "key: \"bsae\""}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("quantizers[1].name"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown parameter 'bsae'"), std::string::npos) << error;
  EXPECT_NE(error.find("base"), std::string::npos) << error;
}

TEST(Config, IllTypedParameterIsNamed) {
  std::string text = absl::StrReplaceAll(kValid, {{"value: \"0.5\"", "value: \"half\""}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("'base'"), std::string::npos) << error;
  EXPECT_NE(error.find("half"), std::string::npos) << error;
}

TEST(Config, BitsOutOfRange) {
  for (const char* bad : {"0", "17", "-3"}) {
    std::string text = absl::StrReplaceAll(kValid, {{"bits: [2, 4, 8]", absl::StrCat("bits: [2, ", bad, "]")}});
    std::string error = ErrorOf(text);
    EXPECT_NE(error.find("demo.pbtxt:10:"), std::string::npos) << error;
    EXPECT_NE(error.find("bits[1]"), std::string::npos) << error;
    EXPECT_NE(error.find("outside 1..16"), std::string::npos) << error;
  }
}

TEST(Config, MissingBitsAndQuantizers) {
  EXPECT_NE(ErrorOf(absl::StrReplaceAll(kValid, {{"bits: [2, 4, 8]", ""}})).find("bits: missing"),
            std::string::npos);
  std::string text = absl::StrReplaceAll(
      kValid, {{"quantizers { name: \"linear\" }\n", ""},
               {"quantizers { name: \"exponential\" params { key: \"base\" value: \"0.5\" } }\n", ""}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("quantizers: missing"), std::string::npos) << error;
  EXPECT_NE(error.find("registered: "), std::string::npos) << error;
}

TEST(Config, MissingDatasetFileSaysPathAndHow) {
  std::string text = absl::StrReplaceAll(kValid, {{"dataset { dir: \"data\" }", "dataset { dir: \"nodata\" }"}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("dataset.images"), std::string::npos) << error;
  EXPECT_NE(error.find("/ws/nodata/t10k-images-idx3-ubyte.gz not found"), std::string::npos) << error;
}

TEST(Config, DefaultFashionMnistLocationSaysWhichPackage) {
  std::string text = absl::StrReplaceAll(kValid, {{"dataset { dir: \"data\" }",
                                                   "dataset { dir: \"/usr/share/datasets/fashion-mnist\" images: \"nope.gz\" }"}});
  std::string error = ErrorOf(text);
  EXPECT_NE(error.find("dataset-fashion-mnist"), std::string::npos) << error;
}

TEST(Config, UnknownArchitectureListsAvailable) {
  std::string error = ErrorOf(absl::StrReplaceAll(kValid, {{"\"mlp\"", "\"resnet9000\""}}));
  EXPECT_NE(error.find("demo.pbtxt:3:"), std::string::npos) << error;
  EXPECT_NE(error.find("network.architecture: unknown architecture 'resnet9000'; available: alexnet, "), std::string::npos)
      << error;
  EXPECT_NE(error.find(" mlp, "), std::string::npos) << error;
  EXPECT_NE(error.find(" cifar_resnet20, "), std::string::npos) << error;
}

TEST(Config, DuplicateLabelsRejected) {
  std::string text = absl::StrCat(kValid, "quantizers { name: \"linear\" }\n");
  EXPECT_NE(ErrorOf(text).find("duplicate label 'linear'"), std::string::npos);
}

TEST(Config, MidTreadOneBitRejectedBeforeWork) {
  std::string error = ErrorOf(absl::StrReplaceAll(kValid, {{"bits: [2, 4, 8]", "bits: [1, 4]"}}));
  EXPECT_NE(error.find("bits[0]"), std::string::npos) << error;
  EXPECT_NE(error.find("'linear'"), std::string::npos) << error;
}

TEST(Config, PerQuantizerBitsReplaceTheSweepsBits) {
  std::string text = absl::StrCat(kValid, "quantizers { name: \"ternary\" bits: [2] }\n");
  auto config = Parse(text);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(BitsFor(*config, config->quantizers(2)), std::vector<int>({2}));
  EXPECT_EQ(BitsFor(*config, config->quantizers(0)), std::vector<int>({2, 4, 8}));
  EXPECT_EQ(CellCount(*config), 7);
  // Without its own bits, ternary would be asked for 4 and 8 bits: the error points there.
  std::string error = ErrorOf(absl::StrCat(kValid, "quantizers { name: \"ternary\" }\n"));
  EXPECT_NE(error.find("bits[1]"), std::string::npos) << error;
  EXPECT_NE(error.find("'ternary'"), std::string::npos) << error;
  error = ErrorOf(absl::StrCat(kValid, "quantizers { name: \"ternary\" bits: [2, 3] }\n"));
  EXPECT_NE(error.find("quantizers[2].bits[1]"), std::string::npos) << error;
  // Every quantizer with its own bits: the experiment needs none.
  text = absl::StrReplaceAll(kValid, {{"bits: [2, 4, 8]", ""},
                                      {"quantizers { name: \"linear\" }", "quantizers { name: \"linear\" bits: [4] }"},
                                      {"value: \"0.5\" } }", "value: \"0.5\" } bits: [3] }"}});
  EXPECT_TRUE(Parse(text).ok()) << Parse(text).status();
}

TEST(Config, LayerOverridesByNameOrType) {
  EXPECT_TRUE(Parse(absl::StrCat(kValid, "layers { overrides { type: \"dense\" bits: 8 } }\n")).ok());
  std::string error = ErrorOf(absl::StrCat(kValid, "layers { overrides { type: \"pointwise\" skip: true } }\n"));
  EXPECT_NE(error.find("layers.overrides[0].type"), std::string::npos) << error;
  EXPECT_NE(error.find("depthwise_conv"), std::string::npos) << error;
  error = ErrorOf(absl::StrCat(kValid, "layers { overrides { layer: \"fc1\" type: \"dense\" } }\n"));
  EXPECT_NE(error.find("exactly one of layer"), std::string::npos) << error;
  // A fixed width the quantizer can not do is caught before work starts.
  error = ErrorOf(absl::StrCat(kValid, "layers { overrides { layer: \"fc1\" bits: 1 } }\n"));
  EXPECT_NE(error.find("layers.overrides[0].bits"), std::string::npos) << error;
}

TEST(Config, ActivationQuantizationFieldsAreChecked) {
  EXPECT_TRUE(Parse(absl::StrCat(kValid, "activations { bits: 8 calibration: \"percentile\" percentile: 99.9 }\n")).ok());
  std::string error = ErrorOf(absl::StrCat(kValid, "activations { bits: 1 }\n"));
  EXPECT_NE(error.find("activations.bits: expected 0 (off) or 2..16"), std::string::npos) << error;
  error = ErrorOf(absl::StrCat(kValid, "activations { bits: 8 calibration: \"kl\" }\n"));
  EXPECT_NE(error.find("activations.calibration"), std::string::npos) << error;
  EXPECT_NE(error.find("minmax"), std::string::npos) << error;
  error = ErrorOf(absl::StrCat(kValid, "activations { bits: 8 percentile: 20 }\n"));
  EXPECT_NE(error.find("activations.percentile"), std::string::npos) << error;
}

TEST(Config, LearnedRoundingDefaultsAndErrors) {
  absl::StatusOr<Experiment> config =
      Parse(absl::StrCat(kValid, "quantizers { name: \"linear\" label: \"ada\" learned_rounding { images: 8 } }\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  const LearnedRounding& lr = config->quantizers(config->quantizers_size() - 1).learned_rounding();
  EXPECT_EQ(lr.iterations(), 1000);
  EXPECT_FLOAT_EQ(lr.regularization(), 100.0f);
  EXPECT_FLOAT_EQ(lr.warmup(), 0.2f);
  std::string error =
      ErrorOf(absl::StrCat(kValid, "quantizers { name: \"linear\" label: \"ada\" learned_rounding { warmup: 1.5 } }\n"));
  EXPECT_NE(error.find("learned_rounding.warmup: must be in (0, 1)"), std::string::npos) << error;
  error = ErrorOf(absl::StrCat(kValid, "quantizers { name: \"linear\" label: \"ada\" learned_rounding { beta_start: 1.5 } }\n"));
  EXPECT_NE(error.find("learned_rounding.beta_start: must be >= beta_end"), std::string::npos) << error;
}

TEST(Config, MissingWeightsSourceAndHidden) {
  std::string error = ErrorOf(absl::StrReplaceAll(kValid, {{"  train { data { dir: \"data\" } epochs: 1 }\n", ""}}));
  EXPECT_NE(error.find("missing weights"), std::string::npos) << error;
  error = ErrorOf(absl::StrReplaceAll(kValid, {{"  mlp { hidden: [16] }\n", ""}}));
  EXPECT_NE(error.find("network.mlp.hidden: missing"), std::string::npos) << error;
}

TEST(Config, NegativeTrainingValues) {
  std::string error = ErrorOf(absl::StrReplaceAll(kValid, {{"epochs: 1", "epochs: 1 momentum: 1.5"}}));
  EXPECT_NE(error.find("network.train.momentum"), std::string::npos) << error;
}

TEST(Config, ResolvesBareNamesRelativeAndAbsolutePaths) {
  RunDirectories dirs = MakeWorkspace();
  std::ofstream(dirs.workspace + "/configs/a.pbtxt") << kValid;
  std::ofstream(dirs.working + "/b.pbtxt") << kValid;
  EXPECT_EQ(*ResolveConfigPath("a.pbtxt", dirs), dirs.workspace + "/configs/a.pbtxt");
  EXPECT_EQ(*ResolveConfigPath("b.pbtxt", dirs), dirs.working + "/b.pbtxt");
  EXPECT_EQ(*ResolveConfigPath(dirs.working + "/b.pbtxt", dirs), dirs.working + "/b.pbtxt");
  auto missing = ResolveConfigPath("c.pbtxt", dirs);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dirs.workspace + "/configs/c.pbtxt"), std::string::npos);
  EXPECT_NE(missing.status().message().find(dirs.working + "/c.pbtxt"), std::string::npos);
}

constexpr char kImageNet[] = R"(name: "inet"
network { architecture: "resnet18" onnx { path: "weights/r18.onnx" } }
dataset { kind: IMAGENET_VAL dir: "data" labels: "val.txt" }
quantizers { name: "linear" }
bits: [4]
)";

TEST(Config, MissingOnnxSaysHowToProvideIt) {
  RunDirectories dirs = MakeWorkspace();
  std::ofstream(dirs.workspace + "/data/val.txt") << "a.JPEG 1\n";
  std::string error = ErrorOf(kImageNet);
  EXPECT_NE(error.find("network.onnx.path: ONNX file " + dirs.workspace + "/weights/r18.onnx not found"),
            std::string::npos) << error;
  EXPECT_NE(error.find("--weights="), std::string::npos) << error;
}

TEST(Config, WeightsAndDataOverridesReplaceConfigPaths) {
  RunDirectories dirs = MakeWorkspace();
  std::ofstream(dirs.working + "/mine.onnx") << "x";
  std::ofstream(dirs.working + "/val.txt") << "a.JPEG 1\n";
  auto config = ParseExperiment(kImageNet, "inet.pbtxt", dirs, {dirs.working + "/mine.onnx", dirs.working});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->network().onnx().path(), dirs.working + "/mine.onnx");
  EXPECT_EQ(config->dataset().dir(), dirs.working);
  EXPECT_EQ(config->network().num_classes(), 1000);
  EXPECT_EQ(config->dataset().preprocessing().preset(), "torch");
  // A --data folder without the ground-truth file names the file.
  auto missing = ParseExperiment(kImageNet, "inet.pbtxt", dirs, {dirs.working + "/mine.onnx", dirs.workspace});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("dataset.labels: file " + dirs.workspace + "/val.txt not found"),
            std::string::npos) << missing.status();
}

TEST(Config, WeightsOverrideNeedsAFileSource) {
  RunDirectories dirs = MakeWorkspace();
  auto config = ParseExperiment(kValid, "demo.pbtxt", dirs, {"/some/model.onnx", ""});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--weights"), std::string::npos) << config.status();
}

TEST(Config, ImageNetFieldErrors) {
  EXPECT_NE(ErrorOf(absl::StrReplaceAll(kImageNet, {{"kind: IMAGENET_VAL ", ""}})).find("dataset.kind: image networks read images: IMAGENET_VAL"),
            std::string::npos);
  EXPECT_NE(ErrorOf(absl::StrReplaceAll(kImageNet, {{"labels: \"val.txt\"", "labels: \"val.txt\" preprocessing { preset: \"caffe\" }"}}))
                .find("unknown preset 'caffe'; available: keras-caffe, keras-tf, torch"),
            std::string::npos);
  EXPECT_NE(ErrorOf(absl::StrReplaceAll(kImageNet, {{"labels: \"val.txt\" ", ""}})).find("dataset.labels: missing"),
            std::string::npos);
  // An ImageNet net trains on images, and an idx default makes no sense for it.
  EXPECT_NE(ErrorOf(absl::StrReplaceAll(kImageNet, {{"onnx { path: \"weights/r18.onnx\" }", "train { }"}}))
                .find("network.train.data: image networks train on CLASS_FOLDERS, CIFAR10_BINARY or JPEG folders"),
            std::string::npos);
}

TEST(Config, CommittedConfigsValidate) {
  // The runfiles hold configs/ (data dependency); the default data is Debian's package.
  const std::string path = "configs/fashion_mnist_mlp.pbtxt";
  if (std::ifstream("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").fail()) {
    GTEST_SKIP() << "missing /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)";
  }
  RunDirectories dirs{".", "."};
  auto config = LoadExperiment(path, dirs);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "fashion_mnist_mlp");
  // resnet50_exp needs the user's weights: without them the error says how to give them.
  auto resnet = LoadExperiment("configs/resnet50_exp.pbtxt", dirs);
  ASSERT_FALSE(resnet.ok());
  EXPECT_NE(resnet.status().message().find("configs/resnet50_exp.pbtxt:"), std::string::npos) << resnet.status();
  EXPECT_NE(resnet.status().message().find("--weights=/path/model.onnx"), std::string::npos) << resnet.status();
  // With --weights and --data given, it validates (any existing files do for validation).
  std::string tmp = TestDir();
  std::ofstream(tmp + "/val.txt") << "a.JPEG 1\n";
  std::ofstream(tmp + "/r50.onnx") << "x";
  auto overridden = LoadExperiment("configs/resnet50_exp.pbtxt", dirs, {tmp + "/r50.onnx", tmp});
  EXPECT_TRUE(overridden.ok()) << overridden.status();
  // The exponential paper's other networks, likewise.
  for (const char* name : {"configs/vgg16_exp.pbtxt", "configs/xception_exp.pbtxt", "configs/inception_v3_exp.pbtxt"}) {
    auto missing = LoadExperiment(name, dirs);
    ASSERT_FALSE(missing.ok()) << name;
    EXPECT_NE(missing.status().message().find("--weights=/path/model.onnx"), std::string::npos) << missing.status();
    auto given = LoadExperiment(name, dirs, {tmp + "/r50.onnx", tmp});
    EXPECT_TRUE(given.ok()) << name << ": " << given.status();
  }
}

}  // namespace
}  // namespace quantbench

namespace quantbench {
namespace {

// A CIFAR-style config: class folders at native size, trained here, one QAT variant.
constexpr char kCifar[] = R"(name: "cifar"
network {
  architecture: "cifar_resnet20"
  input_shape: [3, 32, 32]
  num_classes: 10
  train {
    epochs: 4
    optimizer { nesterov: true }
    schedule { kind: MULTISTEP milestones: [2, 3] }
    augmentation { random_crop_padding: 4 horizontal_flip: true }
  }
}
dataset { kind: CLASS_FOLDERS dir: "cifar" }
quantizers { name: "ternary" bits: [2] qat { train { epochs: 1 } ste: CLIPPED } }
quantizers { name: "linear" label: "l" qat { train { epochs: 1 } loss: DISTILL_KL temperature: 2 } }
bits: [4]
)";

RunDirectories CifarWorkspace() {
  RunDirectories dirs = MakeWorkspace();
  for (const char* d : {"/cifar", "/cifar/train", "/cifar/test"}) mkdir((dirs.workspace + d).c_str(), 0755);
  return dirs;
}

std::string CifarErrorOf(const std::string& text) {
  auto config = ParseExperiment(text, "cifar.pbtxt", CifarWorkspace());
  EXPECT_FALSE(config.ok()) << "expected an error for:\n" << text;
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(Config, TrainingRecipeDefaultsAndTrainingData) {
  auto config = ParseExperiment(kCifar, "cifar.pbtxt", CifarWorkspace());
  ASSERT_TRUE(config.ok()) << config.status();
  const TrainingSpec& train = config->network().train();
  EXPECT_EQ(train.batch_size(), 128);
  EXPECT_FLOAT_EQ(train.learning_rate(), 0.1f);
  EXPECT_FLOAT_EQ(train.momentum(), 0.9f);
  EXPECT_FLOAT_EQ(train.schedule().gamma(), 0.1f);
  // The training data defaults to the evaluation folder's train split.
  EXPECT_EQ(train.data().kind(), DatasetSpec::CLASS_FOLDERS);
  EXPECT_EQ(train.data().split(), "train");
  EXPECT_EQ(config->dataset().split(), "test");
  EXPECT_EQ(train.data().dir(), config->dataset().dir());
  // Preset cifar10 fills the per-channel statistics.
  ASSERT_EQ(config->dataset().preprocessing().channel_mean_size(), 3);
  EXPECT_FLOAT_EQ(config->dataset().preprocessing().channel_mean(0), 0.4914f);
  EXPECT_EQ(config->quantizers(0).qat().train().data().split(), "train");
  EXPECT_FLOAT_EQ(config->quantizers(0).qat().temperature(), 1.0f);
  EXPECT_FLOAT_EQ(config->quantizers(1).qat().temperature(), 2.0f);
}

TEST(Config, TrainingRecipeErrorsNameTheField) {
  auto with = [](const std::string& from, const std::string& to) {
    return CifarErrorOf(absl::StrReplaceAll(kCifar, {{from, to}}));
  };
  std::string e = with("milestones: [2, 3]", "milestones: [3, 2]");
  EXPECT_NE(e.find("cifar.pbtxt:9:"), std::string::npos) << e;
  EXPECT_NE(e.find("network.train.schedule.milestones[1]: 2: milestones must increase"), std::string::npos) << e;
  e = with("milestones: [2, 3]", "milestones: [2, 4]");
  EXPECT_NE(e.find("within 1..epochs-1 (3)"), std::string::npos) << e;
  e = with("optimizer { nesterov: true }", "optimizer { kind: ADAM nesterov: true }");
  EXPECT_NE(e.find("network.train.optimizer.kind: nesterov and plain_sgd are SGD options"), std::string::npos) << e;
  e = with("epochs: 4\n", "epochs: -2\n");
  EXPECT_NE(e.find("network.train.epochs: must be positive"), std::string::npos) << e;
  e = with("qat { train { epochs: 1 } ste: CLIPPED }", "qat { train { epochs: 1 weight_decay: -1 } ste: CLIPPED }");
  EXPECT_NE(e.find("quantizers[0].qat.train.weight_decay: must be >= 0"), std::string::npos) << e;
  e = with("temperature: 2", "temperature: -1");
  EXPECT_NE(e.find("quantizers[1].qat.temperature: must be positive"), std::string::npos) << e;
  e = with("dataset { kind: CLASS_FOLDERS dir: \"cifar\" }",
           "dataset { kind: CLASS_FOLDERS dir: \"cifar\" preprocessing { preset: \"torch\" } }");
  EXPECT_NE(e.find("dataset.preprocessing.preset: unknown preset 'torch' for native-size images"), std::string::npos) << e;
  e = with("dataset { kind: CLASS_FOLDERS dir: \"cifar\" }", "dataset { kind: CLASS_FOLDERS dir: \"cifar\" split: \"val\" }");
  EXPECT_NE(e.find("dataset.split: 'val': expected train or test"), std::string::npos) << e;
  e = with("dataset { kind: CLASS_FOLDERS dir: \"cifar\" }", "dataset { kind: CLASS_FOLDERS dir: \"nowhere\" }");
  EXPECT_NE(e.find("dataset.dir: folder"), std::string::npos) << e;
  // Augmentation needs native-size images.
  e = ErrorOf(absl::StrReplaceAll(kValid, {{"epochs: 1 }", "epochs: 1 augmentation { horizontal_flip: true } }"}}));
  EXPECT_NE(e.find("network.train.augmentation: augmentation applies to CLASS_FOLDERS and CIFAR10_BINARY images only"),
            std::string::npos) << e;
}

TEST(Config, CommittedCifarConfigsValidate) {
  // The data folder is replaced (--data) by an empty one with train/ and test/ splits:
  // validation checks fields and that the folders exist.
  RunDirectories dirs{".", "."};
  const std::string data = CifarWorkspace().workspace + "/cifar";
  for (const char* name : {"configs/cifar10_resnet20.pbtxt", "configs/cifar10_resnet20_qat.pbtxt"}) {
    auto config = LoadExperiment(name, dirs, {"", data});
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_EQ(config->network().train().data().dir(), data) << name;
  }
}

}  // namespace
}  // namespace quantbench
