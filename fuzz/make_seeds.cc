// Writes the fuzz targets' seed corpora with the project's own writers: small valid files of
// every format a reader accepts (bazel run //fuzz:make_seeds -- $PWD/fuzz/corpus). Committed
// under fuzz/corpus/<target>/ so the fuzzers start past the magic numbers and CRCs; rerun it
// when a format changes. Nothing here is copied from ../shared/data.
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/cifar10_binary.h"
#include "datasets/image_tensor_cache.h"
#include "datasets/jpeg_codec.h"
#include "fuzz/tiny_network.h"
#include "kernels/atomic_file.h"
#include "networks/onnx_export.h"
#include "networks/weight_cache.h"
#include "training/checkpoint.h"

namespace quantbench {
namespace {

void Check(const absl::Status& status, const std::string& what) {
  if (status.ok()) return;
  std::fprintf(stderr, "make_seeds: %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  std::exit(1);
}

void WriteBytes(const std::string& path, const std::string& bytes) { Check(WriteFileAtomically(path, {bytes}), path); }

std::string BigEndian32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}

std::string Idx(const std::vector<uint32_t>& dims, uint8_t first) {
  std::string out = {0, 0, 8, static_cast<char>(dims.size())};
  uint64_t n = 1;
  for (uint32_t d : dims) {
    out += BigEndian32(d);
    n *= d;
  }
  for (uint64_t i = 0; i < n; ++i) out += static_cast<char>(first + 37 * i);
  return out;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr || gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size()) ||
      gzclose(f) != Z_OK) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

void Run(const std::string& out) {
  const TinyNetwork& net = FuzzTinyNetwork();
  // idx: an images file (2 images of 3 x 3), its labels, and the images gzipped.
  const std::string images = Idx({2, 3, 3}, 1), labels = Idx({2}, 2);
  WriteBytes(out + "/idx_fuzz/images_2x3x3.idx", images);
  WriteBytes(out + "/idx_fuzz/labels_2.idx", labels);
  WriteGzip(out + "/idx_fuzz/images_2x3x3.idx.gz", images);
  // CIFAR-10: two records (label byte + 3 x 32 x 32 pixels).
  std::string records;
  for (int r = 0; r < 2; ++r) {
    records += static_cast<char>(r * 7);
    for (int i = 0; i < kCifar10RecordBytes - 1; ++i) records += static_cast<char>((i * 13 + r) & 0xff);
  }
  WriteBytes(out + "/cifar10_fuzz/two_records.bin", records);
  // JPEG: grey, RGB 4:4:4, RGB 4:2:0, odd sizes; the first byte is the target's crop selector.
  std::vector<uint8_t> pixels(3 * 13 * 9);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 29);
  struct Jpeg { const char* name; int components; bool subsample; char selector; };
  for (const Jpeg& j : {Jpeg{"grey", 1, false, 7}, Jpeg{"rgb444", 3, false, static_cast<char>(0x85)},
                        Jpeg{"rgb420", 3, true, 0x50}}) {
    auto jpeg = EncodeJpeg(pixels.data(), 13, 9, j.components, 90, j.subsample);
    Check(jpeg.status(), j.name);
    WriteBytes(absl::StrCat(out, "/jpeg_fuzz/", j.name, "_13x9.jpg"),
               std::string(1, j.selector) + std::string(jpeg->begin(), jpeg->end()));
  }
  // ONNX: the tiny mlp exported as the importer expects it.
  auto model = GraphToOnnx(net.graph, net.params);
  Check(model.status(), "GraphToOnnx");
  WriteBytes(out + "/onnx_fuzz/tiny_mlp.onnx", model->SerializeAsString());
  // .qbw, checkpoint and image cache: the writers' own output.
  Check(SaveParamStore(out + "/weight_cache_fuzz/tiny_mlp.qbw", net.params, "fuzz-seed"), "qbw");
  TrainingCheckpoint checkpoint;
  checkpoint.epochs_done = 2;
  checkpoint.params = net.params;
  checkpoint.optimizer.steps = 10;
  checkpoint.optimizer.buffers["fc1.weight"] = std::vector<float>(4, 0.5f);
  checkpoint.extra_tensors["threshold"] = {1.0f, 2.0f};
  checkpoint.rng_state = "12345";
  checkpoint.history_json = "[{\"epoch\":1}]";
  Check(SaveTrainingCheckpoint(out + "/checkpoint_fuzz/tiny_mlp.checkpoint", "fuzz-seed", checkpoint), "checkpoint");
  std::vector<uint8_t> tensor(2 * 3 * 4 * 4);
  for (size_t i = 0; i < tensor.size(); ++i) tensor[i] = static_cast<uint8_t>(i * 11);
  Check(SaveImageTensor(out + "/image_cache_fuzz/seed.qbimg", "fuzz-seed", {2, 3, 4, 4}, tensor), "qbimg");
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] != '/') {
    std::fprintf(stderr, "usage: bazel run //fuzz:make_seeds -- /absolute/path/to/fuzz/corpus\n");
    return 2;
  }
  quantbench::Run(argv[1]);
  return 0;
}
