#include "datasets/imagenet_dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "datasets/image_preprocess.h"
#include "datasets/jpeg_codec.h"
#include "datasets/shared_data_for_tests.h"
#include "datasets/test_util.h"

namespace quantbench {
namespace {

namespace fs = std::filesystem;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<uint8_t> JpegBytes(int width, int height, uint8_t red, int components = 3) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < width * height; ++i) {
    if (components == 1) {
      pixels.push_back(red);
    } else {
      pixels.insert(pixels.end(), {red, 100, 50});
    }
  }
  auto jpeg = EncodeJpeg(pixels.data(), width, height, components, 100);
  EXPECT_TRUE(jpeg.ok()) << jpeg.status();
  return *jpeg;
}

// A solid JPEG whose red channel identifies it (green 100, blue 50).
void WriteJpeg(const std::string& path, uint8_t red, int width = 40, int height = 30,
               int components = 3) {
  const std::vector<uint8_t> bytes = JpegBytes(width, height, red, components);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

ImageFolderOptions SmallOptions() {
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("keras-tf", 16);  // v / 127.5 - 1
  return options;
}

// Every example of a (streamed) set as one float vector.
std::vector<float> AllPixels(const LabeledImages& set) {
  std::vector<float> scratch;
  absl::StatusOr<absl::Span<const float>> all = set.Examples(0, set.count, &scratch);
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) return {};
  return std::vector<float>(all->begin(), all->end());
}

// The red value an image's plane 0 encodes (keras-tf), from its centre pixel.
int RedOf(const LabeledImages& set, int64_t index) {
  const int64_t s = set.example_shape[1];
  const float v = AllPixels(set)[index * set.example_size() + (s / 2) * s + s / 2];
  return static_cast<int>(std::lround((v + 1.0f) * 127.5f));
}

// A flat folder: a, b, c listed; extra.JPEG unlisted; notes.txt not an image.
class ValFolderTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("val");
    images_ = dir_ + "/images";
    fs::create_directories(images_);
    WriteJpeg(images_ + "/c.JPEG", 200);
    WriteJpeg(images_ + "/a.JPEG", 40, 37, 53);
    WriteJpeg(images_ + "/b.JPEG", 120, 1, 1);
    WriteJpeg(images_ + "/extra.JPEG", 90);
    WriteText(images_ + "/notes.txt", "not an image");
    WriteText(dir_ + "/val.txt", "b.JPEG 2\nc.JPEG 7\na.JPEG 5\n");
    WriteText(dir_ + "/dataset.txt", "./data/b.JPEG, 2\n./data/a.JPEG, 5\r\n\n./data/c.JPEG, 7\n");
  }
  std::string dir_;
  std::string images_;
};

TEST_F(ValFolderTest, ValTxtAndDatasetTxtGiveTheSameSortedSet) {
  ImageLoadInfo info;
  auto val = LoadLabeledImageFolder(images_, dir_ + "/val.txt", SmallOptions(), &info);
  ASSERT_TRUE(val.ok()) << val.status();
  EXPECT_EQ(val->count, 3);
  EXPECT_EQ(val->example_shape, (std::vector<int64_t>{3, 16, 16}));
  EXPECT_EQ(AllPixels(*val).size(), 3u * 3 * 16 * 16);
  EXPECT_EQ(val->labels, (std::vector<int32_t>{5, 2, 7}));  // a, b, c
  EXPECT_EQ(val->num_classes, 1000);
  EXPECT_NEAR(RedOf(*val, 0), 40, 2);
  EXPECT_NEAR(RedOf(*val, 1), 120, 2);
  EXPECT_NEAR(RedOf(*val, 2), 200, 2);
  EXPECT_EQ(info.listed, 3);
  EXPECT_EQ(info.unlisted, 1);  // extra.JPEG
  EXPECT_EQ(info.loaded, 3);
  EXPECT_EQ(info.cache_note, "disabled");

  auto dataset = LoadLabeledImageFolder(images_, dir_ + "/dataset.txt", SmallOptions());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->labels, val->labels);
  EXPECT_EQ(AllPixels(*dataset), AllPixels(*val));
}

TEST_F(ValFolderTest, LimitKeepsTheFirstInSortedOrder) {
  ImageFolderOptions options = SmallOptions();
  options.limit = 2;
  auto set = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 2);
  EXPECT_EQ(set->labels, (std::vector<int32_t>{5, 2}));
}

TEST_F(ValFolderTest, ThreadCountDoesNotChangeTheResult) {
  ImageFolderOptions one = SmallOptions();
  one.threads = 1;
  ImageFolderOptions three = SmallOptions();
  three.threads = 3;
  auto a = LoadUnlabeledImageFolder(images_, one);
  auto b = LoadUnlabeledImageFolder(images_, three);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(AllPixels(*a), AllPixels(*b));
}

TEST_F(ValFolderTest, MissingImageNamesTheFirstOneUnlessSkipped) {
  WriteText(dir_ + "/more.txt", "b.JPEG 2\nz.JPEG 1\nc.JPEG 7\nm.JPEG 3\na.JPEG 5\n");
  auto set = LoadLabeledImageFolder(images_, dir_ + "/more.txt", SmallOptions());
  ASSERT_FALSE(set.ok());
  ExpectStatus(set.status(), absl::StatusCode::kNotFound,
               {images_ + "/m.JPEG", "more.txt:4", "2 of 5"});

  ImageFolderOptions options = SmallOptions();
  options.skip_missing = true;
  ImageLoadInfo info;
  set = LoadLabeledImageFolder(images_, dir_ + "/more.txt", options, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->labels, (std::vector<int32_t>{5, 2, 7}));
  EXPECT_EQ(info.listed, 5);
  EXPECT_EQ(info.missing, 2);

  WriteText(dir_ + "/none.txt", "q.JPEG 1\n");
  set = LoadLabeledImageFolder(images_, dir_ + "/none.txt", options);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ValFolderTest, CorruptJpegIsDataLossNamingTheFile) {
  std::vector<uint8_t> bytes = JpegBytes(64, 64, 7);
  bytes.resize(bytes.size() / 2);
  std::ofstream(images_ + "/b.JPEG", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  auto set = LoadLabeledImageFolder(images_, dir_ + "/val.txt", SmallOptions());
  ASSERT_FALSE(set.ok());
  ExpectStatus(set.status(), absl::StatusCode::kDataLoss, {images_ + "/b.JPEG"});
}

TEST_F(ValFolderTest, GreyscaleAndTinyImagesLoad) {
  WriteJpeg(images_ + "/a.JPEG", 77, 37, 53, /*components=*/1);
  auto set = LoadLabeledImageFolder(images_, dir_ + "/val.txt", SmallOptions());
  ASSERT_TRUE(set.ok()) << set.status();
  // Grey 77 in all three planes.
  for (int c = 0; c < 3; ++c) {
    const float v = AllPixels(*set)[c * 256 + 8 * 16 + 8];
    EXPECT_NEAR((v + 1.0f) * 127.5f, 77.0f, 2.0f) << "plane " << c;
  }
  EXPECT_NEAR(RedOf(*set, 1), 120, 2);  // the 1 x 1 image, upscaled to 18 x 18
}

TEST(LabelFile, BadLinesNameFileAndLine) {
  const std::string dir = FreshTestDir("labels");
  struct Case {
    std::string text;
    std::vector<std::string> fragments;
  };
  const Case cases[] = {
      {"a.JPEG 1\nb.JPEG x\n", {"bad.txt:2: ", "\"x\" is not an integer"}},
      {"a.JPEG 1\n\nb.JPEG 1000\n", {"bad.txt:3: ", "label 1000 is outside 0..999"}},
      {"a.JPEG -1\n", {"bad.txt:1: ", "outside"}},
      {"a.JPEG 1\n./d/a.JPEG, 2\n", {"bad.txt:2: ", "a.JPEG is listed again (first at line 1)"}},
      {"66\n971\n", {"bad.txt:1: ", "ILSVRC2012_validation_ground_truth.txt", "val.txt"}},
      {"lonely.JPEG\n", {"bad.txt:1: ", "expected \"<file> <label>\""}},
      {"./data/, 3\n", {"bad.txt:1: ", "no file name"}},
  };
  for (const Case& c : cases) {
    WriteText(dir + "/bad.txt", c.text);
    auto entries = ReadImageLabelFile(dir + "/bad.txt", kImageNetClasses);
    ASSERT_FALSE(entries.ok()) << c.text;
    ExpectStatus(entries.status(), absl::StatusCode::kInvalidArgument, c.fragments);
  }
  auto missing = ReadImageLabelFile(dir + "/nope.txt", kImageNetClasses);
  ExpectStatus(missing.status(), absl::StatusCode::kNotFound, {"nope.txt"});
}

TEST(LabelFile, FormatsAndNamesWithSpaces) {
  const std::string dir = FreshTestDir("labels-ok");
  WriteText(dir + "/ok.txt",
            "ILSVRC2012_val_00000001.JPEG 65\r\n"
            "  ./data/ILSVRC2012_val_00000347.JPEG, 472  \n"
            "my photo.jpg\t3\n");
  auto entries = ReadImageLabelFile(dir + "/ok.txt", kImageNetClasses);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].file, "ILSVRC2012_val_00000001.JPEG");
  EXPECT_EQ((*entries)[0].label, 65);
  EXPECT_EQ((*entries)[1].file, "ILSVRC2012_val_00000347.JPEG");
  EXPECT_EQ((*entries)[1].label, 472);
  EXPECT_EQ((*entries)[1].line, 2);
  EXPECT_EQ((*entries)[2].file, "my photo.jpg");
  EXPECT_EQ((*entries)[2].label, 3);
}

TEST(SynsetFolders, LabelIsTheLineOfTheWnid) {
  const std::string root = FreshTestDir("synsets");
  WriteText(root + "/../synset_words.txt",
            "n00000001 one\nn00000002 two, deux\nn00000003 three\n");
  fs::create_directories(root + "/n00000002");
  fs::create_directories(root + "/n00000001");
  fs::create_directories(root + "/.cache");
  WriteJpeg(root + "/n00000002/x.JPEG", 10);
  WriteJpeg(root + "/n00000002/y.jpg", 20);
  WriteJpeg(root + "/n00000002/readme.txt", 0);  // not a JPEG name: ignored
  WriteJpeg(root + "/n00000001/z.JPEG", 30);
  WriteJpeg(root + "/.cache/w.JPEG", 40);
  WriteJpeg(root + "/stray.JPEG", 50);
  ImageLoadInfo info;
  auto set = LoadSynsetImageFolders(root, root + "/../synset_words.txt", SmallOptions(), &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->labels, (std::vector<int32_t>{0, 1, 1}));  // n1/z, n2/x, n2/y
  EXPECT_EQ(set->num_classes, 3);
  EXPECT_NEAR(RedOf(*set, 0), 30, 2);
  EXPECT_NEAR(RedOf(*set, 2), 20, 2);
  EXPECT_EQ(info.listed, 3);
  EXPECT_EQ(info.unlisted, 1);

  fs::create_directories(root + "/n09999999");
  set = LoadSynsetImageFolders(root, root + "/../synset_words.txt", SmallOptions());
  ExpectStatus(set.status(), absl::StatusCode::kInvalidArgument,
               {root + "/n09999999", "not a wnid"});

  WriteText(root + "/../dup_words.txt", "n00000001 one\nn00000002 two\nn00000001 again\n");
  auto wnids = ReadSynsetWords(root + "/../dup_words.txt");
  ExpectStatus(wnids.status(), absl::StatusCode::kInvalidArgument,
               {"dup_words.txt:3: ", "listed again (first at line 1)"});
}

TEST(UnlabeledFolder, LabelsAreMinusOne) {
  const std::string dir = FreshTestDir("unlabeled");
  WriteJpeg(dir + "/b.jpeg", 1);
  WriteJpeg(dir + "/a.JPG", 2);
  WriteJpeg(dir + "/c.png.txt", 3);
  auto set = LoadUnlabeledImageFolder(dir, SmallOptions());
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 2);
  EXPECT_EQ(set->labels, (std::vector<int32_t>{-1, -1}));
  EXPECT_EQ(set->num_classes, 1000);
  EXPECT_FALSE(LoadUnlabeledImageFolder(dir + "/nope", SmallOptions()).ok());
}

TEST_F(ValFolderTest, DiskCacheRoundTripAndCorruptionRecomputes) {
  ImageFolderOptions options = SmallOptions();
  options.cache_dir = FreshTestDir("image-cache");
  ImageLoadInfo info;
  auto first = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options, &info);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(info.cache_hit);
  EXPECT_EQ(info.cache_note, "miss (no cache file); written");
  ASSERT_TRUE(fs::exists(info.cache_path)) << info.cache_path;
  const std::string path = info.cache_path;

  auto second = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options, &info);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(info.cache_hit);
  EXPECT_EQ(info.cache_note, "hit");
  EXPECT_EQ(info.cache_path, path);
  EXPECT_EQ(AllPixels(*second), AllPixels(*first));
  EXPECT_EQ(second->labels, first->labels);

  // A flipped byte in the tensor: detected by the CRC, recomputed, rewritten. (`first` reads
  // this very file, verified when it was opened; in-place edits after that are not seen, so
  // keep its values from before the edit.)
  const std::vector<float> expected = AllPixels(*first);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(path) - 100));
    file.put('\x5a');
  }
  auto third = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options, &info);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(info.cache_hit);
  EXPECT_NE(info.cache_note.find("CRC mismatch"), std::string::npos) << info.cache_note;
  EXPECT_NE(info.cache_note.find("recomputed; written"), std::string::npos) << info.cache_note;
  EXPECT_EQ(AllPixels(*third), expected);
  auto fourth = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options, &info);
  EXPECT_TRUE(info.cache_hit);

  // Another preset or size is another key.
  ImageFolderOptions caffe = options;
  caffe.preprocessing = *ImagePreprocessingPreset("keras-caffe", 16);
  auto other = LoadLabeledImageFolder(images_, dir_ + "/val.txt", caffe, &info);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(info.cache_hit);
  EXPECT_NE(info.cache_path, path);

  // A changed image (new mtime) is another key too.
  fs::last_write_time(images_ + "/a.JPEG",
                      fs::last_write_time(images_ + "/a.JPEG") + std::chrono::seconds(5));
  auto touched = LoadLabeledImageFolder(images_, dir_ + "/val.txt", options, &info);
  ASSERT_TRUE(touched.ok());
  EXPECT_FALSE(info.cache_hit);
  EXPECT_NE(info.cache_path, path);
}

// ---- streaming: the set is stored as 8-bit pixels (cache file or memory) and normalised
// per batch; the floats must equal PreprocessImage's, the reference.

// A JPEG of smooth gradients plus pseudo-random noise, so resizing does real work.
void WriteNoisyJpeg(const std::string& path, int width, int height, uint32_t seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * 3);
  uint32_t x = seed * 2654435761u + 1;
  for (int y = 0; y < height; ++y) {
    for (int i = 0; i < width; ++i) {
      for (int c = 0; c < 3; ++c) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        const int gradient = (c == 0 ? i * 255 / width : c == 1 ? y * 255 / height : 128);
        pixels[(static_cast<size_t>(y) * width + i) * 3 + c] =
            static_cast<uint8_t>(std::clamp(gradient + static_cast<int>(x % 61) - 30, 0, 255));
      }
    }
  }
  auto jpeg = EncodeJpeg(pixels.data(), width, height, 3, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(jpeg->data()), static_cast<std::streamsize>(jpeg->size()));
}

class StreamedSetTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("streamed");
    // 7 images (odd), of odd and mixed sizes, landscape and portrait.
    const int sizes[][2] = {{41, 29}, {23, 37}, {64, 64}, {17, 17}, {90, 31}, {33, 71}, {25, 26}};
    for (int i = 0; i < 7; ++i) {
      paths_.push_back(dir_ + "/img" + std::to_string(i) + ".jpg");
      WriteNoisyJpeg(paths_.back(), sizes[i][0], sizes[i][1], static_cast<uint32_t>(i + 1));
      labels_.push_back(i * 3);
    }
  }

  // The reference: every image decoded and run through PreprocessImage into floats.
  std::vector<float> Reference(const ImagePreprocessing& preprocessing) {
    const size_t example = size_t{3} * preprocessing.crop_size * preprocessing.crop_size;
    std::vector<float> all(paths_.size() * example);
    for (size_t i = 0; i < paths_.size(); ++i) {
      auto image = DecodeJpegFile(paths_[i]);
      EXPECT_TRUE(image.ok()) << image.status();
      EXPECT_TRUE(PreprocessImage(*image, preprocessing, all.data() + i * example).ok());
    }
    return all;
  }

  std::string dir_;
  std::vector<std::string> paths_;
  std::vector<int32_t> labels_;
};

TEST_F(StreamedSetTest, CacheFileInSeveralChunksEqualsMemoryAndTheFloatReference) {
  for (const char* preset : {"torch", "keras-caffe", "keras-tf"}) {
    SCOPED_TRACE(preset);
    ImageFolderOptions options;
    options.preprocessing = *ImagePreprocessingPreset(preset, 15, 19);  // odd S and R
    options.threads = 2;
    const std::vector<float> reference = Reference(options.preprocessing);

    ImageLoadInfo memory_info;
    auto memory = LoadImageFiles(paths_, labels_, options, &memory_info);
    ASSERT_TRUE(memory.ok()) << memory.status();
    EXPECT_TRUE(memory_info.in_memory);
    EXPECT_TRUE(memory->pixels.empty());  // never materialised as floats

    options.cache_dir = FreshTestDir(std::string("streamed-cache-") + preset);
    options.decode_chunk_images = 3;  // chunks of 3, 3, 1
    ImageLoadInfo written_info;
    auto written = LoadImageFiles(paths_, labels_, options, &written_info);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_FALSE(written_info.in_memory);
    EXPECT_EQ(written_info.cache_note, "miss (no cache file); written");
    ImageLoadInfo hit_info;
    auto hit = LoadImageFiles(paths_, labels_, options, &hit_info);
    ASSERT_TRUE(hit.ok()) << hit.status();
    EXPECT_TRUE(hit_info.cache_hit);

    for (const LabeledImages* set : {&*memory, &*written, &*hit}) {
      EXPECT_EQ(set->labels, labels_);
      const std::vector<float> all = AllPixels(*set);
      ASSERT_EQ(all.size(), reference.size());
      EXPECT_EQ(std::memcmp(all.data(), reference.data(), all.size() * sizeof(float)), 0);
      // Batches at odd offsets are the matching slices.
      std::vector<float> scratch;
      const int64_t example = set->example_size();
      for (const auto& [first, n] : std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {2, 3}, {6, 1}, {1, 6}, {7, 0}}) {
        auto batch = set->Examples(first, n, &scratch);
        ASSERT_TRUE(batch.ok()) << batch.status();
        ASSERT_EQ(static_cast<int64_t>(batch->size()), n * example);
        EXPECT_TRUE(std::equal(batch->begin(), batch->end(), reference.begin() + first * example))
            << first << "+" << n;
      }
      EXPECT_EQ(set->Examples(6, 2, &scratch).status().code(), absl::StatusCode::kOutOfRange);
      EXPECT_EQ(set->Examples(-1, 1, &scratch).status().code(), absl::StatusCode::kOutOfRange);
    }
  }
}

TEST_F(StreamedSetTest, BadImageInALaterChunkFailsAndLeavesNoCacheFile) {
  std::ofstream(paths_[5], std::ios::binary | std::ios::trunc) << "not a jpeg at all";
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("torch", 15, 19);
  options.cache_dir = FreshTestDir("streamed-bad");
  options.decode_chunk_images = 2;  // images 0-3 are already written when 5 fails
  ImageLoadInfo info;
  auto set = LoadImageFiles(paths_, labels_, options, &info);
  ExpectStatus(set.status(), absl::StatusCode::kDataLoss, {paths_[5]});
  EXPECT_TRUE(fs::is_empty(options.cache_dir));  // neither the file nor a temporary
}

TEST_F(StreamedSetTest, UnwritableCacheFallsBackToMemory) {
  WriteText(dir_ + "/a-file", "x");
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("keras-tf", 15, 19);
  options.cache_dir = dir_ + "/a-file/images";  // its parent is a file: cannot be created
  ImageLoadInfo info;
  auto set = LoadImageFiles(paths_, labels_, options, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(info.in_memory);
  EXPECT_NE(info.cache_note.find("cannot write"), std::string::npos) << info.cache_note;
  const std::vector<float> all = AllPixels(*set);
  const std::vector<float> reference = Reference(options.preprocessing);
  EXPECT_EQ(std::memcmp(all.data(), reference.data(), all.size() * sizeof(float)), 0);
}

// A cache file written before this build (version 1, floats) is recomputed, not misread.
TEST_F(StreamedSetTest, OldFormatCacheIsRecomputed) {
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("torch", 15, 19);
  options.cache_dir = FreshTestDir("streamed-old");
  ImageLoadInfo info;
  ASSERT_TRUE(LoadImageFiles(paths_, labels_, options, &info).ok());
  {
    std::fstream file(info.cache_path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    file.put('\x01');  // version 1
  }
  auto set = LoadImageFiles(paths_, labels_, options, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(info.cache_hit);
  EXPECT_NE(info.cache_note.find("format version 1"), std::string::npos) << info.cache_note;
  EXPECT_NE(info.cache_note.find("recomputed; written"), std::string::npos) << info.cache_note;
  const std::vector<float> all = AllPixels(*set);
  const std::vector<float> reference = Reference(options.preprocessing);
  EXPECT_EQ(std::memcmp(all.data(), reference.data(), all.size() * sizeof(float)), 0);
}

// ---- the staged ImageNet validation subset, if this machine has it

TEST(RealImageNet, First20OfDatasetTxtMatchValTxt) {
  const std::string dir = SharedDataDir() + "/imagenet_val_1300";
  for (const char* file : {"/dataset.txt", "/val.txt", "/images/ILSVRC2012_val_00000347.JPEG"}) {
    if (!fs::exists(dir + file)) GTEST_SKIP() << "missing " << dir << file;
  }
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("torch", 224);
  options.limit = 20;
  auto dataset = LoadLabeledImageFolder(dir + "/images", dir + "/dataset.txt", options);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->count, 20);
  EXPECT_EQ(dataset->example_shape, (std::vector<int64_t>{3, 224, 224}));
  EXPECT_EQ(AllPixels(*dataset).size(), 20u * 3 * 224 * 224);
  EXPECT_EQ(dataset->num_classes, 1000);

  // The same 20 files through the 50,000-line val.txt (most of it absent here).
  options.skip_missing = true;
  ImageLoadInfo info;
  auto val = LoadLabeledImageFolder(dir + "/images", dir + "/val.txt", options, &info);
  ASSERT_TRUE(val.ok()) << val.status();
  EXPECT_EQ(info.listed, 50000);
  EXPECT_EQ(info.missing, 50000 - 1300);
  EXPECT_EQ(val->labels, dataset->labels);
  EXPECT_EQ(AllPixels(*val), AllPixels(*dataset));
  // Sorted, so the first is the lowest-numbered file: ILSVRC2012_val_00000347.JPEG, 472.
  EXPECT_EQ(dataset->labels[0], 472);
  // Normalised values stay in the torch range [(0 - 0.485) / 0.229, (1 - 0.406) / 0.225].
  const std::vector<float> pixels = AllPixels(*dataset);
  for (float v : pixels) {
    ASSERT_GE(v, -2.12f);
    ASSERT_LE(v, 2.65f);
  }
}

TEST(RealImageNet, SampleLabelsMatchSynsetWords) {
  const std::string data = SharedDataDir();
  const std::string labels = data + "/imagenet_sample/labels.txt";
  const std::string words = data + "/imagenet_val_1300/synset_words.txt";
  for (const std::string& file : {labels, words}) {
    if (!fs::exists(file)) GTEST_SKIP() << "missing " << file;
  }
  auto wnids = ReadSynsetWords(words);
  ASSERT_TRUE(wnids.ok()) << wnids.status();
  ASSERT_EQ(wnids->size(), 1000u);
  auto entries = ReadImageLabelFile(labels, kImageNetClasses);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1000u);
  for (const ImageLabelEntry& entry : *entries) {
    ASSERT_EQ(entry.file.substr(0, 9), (*wnids)[entry.label]) << entry.file;
  }
  ImageFolderOptions options;
  options.preprocessing = *ImagePreprocessingPreset("keras-caffe", 224);
  options.limit = 4;
  auto set = LoadLabeledImageFolder(data + "/imagenet_sample/images", labels, options);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->labels, (std::vector<int32_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace quantbench
