#include "datasets/image_preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace quantbench {
namespace {

RgbImage Constant(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height; ++i) image.pixels.insert(image.pixels.end(), {r, g, b});
  return image;
}

// The 37 x 53 pattern the golden hashes below were computed on with Pillow 9.4.0.
RgbImage Pattern() {
  RgbImage image;
  image.width = 37;
  image.height = 53;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      image.pixels.insert(image.pixels.end(), {static_cast<uint8_t>((x * 7 + y * 13) % 256),
                                               static_cast<uint8_t>((x * x + y * 3) % 256),
                                               static_cast<uint8_t>((x * y + 50) % 256)});
    }
  }
  return image;
}

RgbImage Random(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  RgbImage image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height * 3; ++i) image.pixels.push_back(static_cast<uint8_t>(rng()));
  return image;
}

uint64_t Fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (uint8_t c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

RgbImage Crop(const RgbImage& image, int left, int top, int width, int height) {
  RgbImage out;
  out.width = width;
  out.height = height;
  for (int y = top; y < top + height; ++y) {
    const uint8_t* row = &image.pixels[(static_cast<size_t>(y) * image.width + left) * 3];
    out.pixels.insert(out.pixels.end(), row, row + width * 3);
  }
  return out;
}

std::vector<uint8_t> Pixel(const RgbImage& image, int x, int y) {
  const uint8_t* p = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
  return {p[0], p[1], p[2]};
}

// ---- presets

TEST(Presets, TorchValuesAndDefaultResize) {
  auto torch = ImagePreprocessingPreset("torch", 224);
  ASSERT_TRUE(torch.ok()) << torch.status();
  EXPECT_FALSE(torch->bgr);
  EXPECT_EQ(torch->divisor, 255.0f);
  EXPECT_EQ(torch->mean, (std::array<float, 3>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(torch->std, (std::array<float, 3>{0.229f, 0.224f, 0.225f}));
  EXPECT_EQ(torch->interpolation, Interpolation::kPilBilinear);
  EXPECT_EQ(ResolvedResizeShorter(*torch), 256);
  EXPECT_EQ(ResolvedResizeShorter(*ImagePreprocessingPreset("torch", 299)), 342);
  EXPECT_EQ(ResolvedResizeShorter(*ImagePreprocessingPreset("torch", 224, 232)), 232);
  EXPECT_EQ(ResolvedResizeShorter(*ImagePreprocessingPreset("torch", 7)), 8);
}

TEST(Presets, KerasValues) {
  auto caffe = ImagePreprocessingPreset("keras-caffe", 224);
  ASSERT_TRUE(caffe.ok()) << caffe.status();
  EXPECT_TRUE(caffe->bgr);
  EXPECT_EQ(caffe->divisor, 1.0f);
  EXPECT_EQ(caffe->mean, (std::array<float, 3>{103.939f, 116.779f, 123.68f}));
  EXPECT_EQ(caffe->std, (std::array<float, 3>{1.0f, 1.0f, 1.0f}));
  auto tf = ImagePreprocessingPreset("keras-tf", 299);
  ASSERT_TRUE(tf.ok()) << tf.status();
  EXPECT_FALSE(tf->bgr);
  EXPECT_EQ(tf->divisor, 127.5f);
  EXPECT_EQ(tf->mean, (std::array<float, 3>{1.0f, 1.0f, 1.0f}));
  EXPECT_EQ(ResolvedResizeShorter(*tf), 342);
}

TEST(Presets, ErrorsNameTheProblem) {
  auto unknown = ImagePreprocessingPreset("caffe", 224);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("torch, keras-caffe, keras-tf"), std::string::npos)
      << unknown.status();
  auto small_resize = ImagePreprocessingPreset("torch", 224, 200);
  ASSERT_FALSE(small_resize.ok());
  EXPECT_NE(small_resize.status().message().find("200"), std::string::npos);
  EXPECT_FALSE(ImagePreprocessingPreset("torch", 0).ok());
  ImagePreprocessing zero_std = *ImagePreprocessingPreset("torch", 224);
  zero_std.std[1] = 0.0f;
  EXPECT_FALSE(ValidatePreprocessing(zero_std).ok());
  EXPECT_FALSE(ParseInterpolation("bicubic").ok());
  EXPECT_EQ(*ParseInterpolation(InterpolationName(Interpolation::kBilinear)),
            Interpolation::kBilinear);
}

TEST(Presets, KeyDistinguishesEverySetting) {
  const ImagePreprocessing base = *ImagePreprocessingPreset("torch", 224);
  std::vector<ImagePreprocessing> variants(6, base);
  variants[1].crop_size = 299;
  variants[2].resize_shorter = 300;
  variants[3].interpolation = Interpolation::kBilinear;
  variants[4].mean[2] = std::nextafter(variants[4].mean[2], 1.0f);
  variants[5] = *ImagePreprocessingPreset("keras-caffe", 224);
  for (size_t i = 0; i < variants.size(); ++i) {
    for (size_t j = i + 1; j < variants.size(); ++j) {
      EXPECT_NE(PreprocessingKey(variants[i]), PreprocessingKey(variants[j])) << i << " vs " << j;
    }
  }
  // R = 0 and the R it resolves to are the same setting.
  ImagePreprocessing explicit_r = base;
  explicit_r.resize_shorter = 256;
  EXPECT_EQ(PreprocessingKey(base), PreprocessingKey(explicit_r));
}

// ---- geometry

TEST(Geometry, TorchvisionResizeAndCenterCrop) {
  // 500 x 375 landscape, R = 256: long side int(256 * 500 / 375) = int(341.33) = 341.
  auto g = ComputeResizeCrop(500, 375, 256, 224);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->resized_width, 341);
  EXPECT_EQ(g->resized_height, 256);
  EXPECT_EQ(g->crop_left, 58);  // round(58.5) = 58: half to even
  EXPECT_EQ(g->crop_top, 16);
  // Portrait.
  g = ComputeResizeCrop(375, 500, 256, 224);
  EXPECT_EQ(g->resized_width, 256);
  EXPECT_EQ(g->resized_height, 341);
  EXPECT_EQ(g->crop_left, 16);
  EXPECT_EQ(g->crop_top, 58);
  // 227 x 227 (imagenet_val_1300): upscaled to 256 x 256.
  g = ComputeResizeCrop(227, 227, 256, 224);
  EXPECT_EQ(g->resized_width, 256);
  EXPECT_EQ(g->crop_left, 16);
  // Half-to-even both ways: (259 - 224) / 2 = 17.5 -> 18.
  g = ComputeResizeCrop(259, 224, 224, 224);
  EXPECT_EQ(g->resized_width, 259);
  EXPECT_EQ(g->crop_left, 18);
  EXPECT_EQ(g->crop_top, 0);
  EXPECT_FALSE(ComputeResizeCrop(100, 100, 100, 101).ok());
}

TEST(Geometry, MarkerLandsWhereTheGeometrySays) {
  // 400 x 300 grey, a red 20 x 20 block at x 240..259, y 90..109. R = 150 halves the image
  // (200 x 150, block at x 120..129, y 45..54); S = 100 crops from (50, 25): block at
  // x 70..79, y 20..29 of the crop.
  RgbImage image = Constant(400, 300, 100, 100, 100);
  for (int y = 90; y < 110; ++y) {
    for (int x = 240; x < 260; ++x) {
      uint8_t* p = &image.pixels[(y * 400 + x) * 3];
      p[0] = 255;
      p[1] = 0;
      p[2] = 0;
    }
  }
  for (Interpolation interpolation : {Interpolation::kPilBilinear, Interpolation::kBilinear}) {
    auto crop = ResizeAndCenterCrop(image, 150, 100, interpolation);
    ASSERT_TRUE(crop.ok()) << crop.status();
    EXPECT_EQ(crop->width, 100);
    EXPECT_EQ(crop->height, 100);
    const std::vector<uint8_t> red = {255, 0, 0};
    const std::vector<uint8_t> grey = {100, 100, 100};
    // Interior of the block, away from the one-pixel blur at its edges.
    EXPECT_EQ(Pixel(*crop, 71, 21), red);
    EXPECT_EQ(Pixel(*crop, 78, 28), red);
    EXPECT_EQ(Pixel(*crop, 75, 25), red);
    // Two pixels outside the block on each side.
    EXPECT_EQ(Pixel(*crop, 67, 25), grey);
    EXPECT_EQ(Pixel(*crop, 82, 25), grey);
    EXPECT_EQ(Pixel(*crop, 75, 17), grey);
    EXPECT_EQ(Pixel(*crop, 75, 32), grey);
    EXPECT_EQ(Pixel(*crop, 0, 0), grey);
    EXPECT_EQ(Pixel(*crop, 99, 99), grey);
  }
}

TEST(Geometry, SymmetricPatternStaysCentred) {
  // A centred white square on black: the crop's brightness centroid is its exact centre.
  RgbImage image = Constant(333, 250, 0, 0, 0);
  for (int y = 105; y < 145; ++y) {
    for (int x = 146; x < 187; ++x) {
      uint8_t* p = &image.pixels[(y * 333 + x) * 3];
      p[0] = p[1] = p[2] = 255;
    }
  }
  auto crop = ResizeAndCenterCrop(image, 251, 224, Interpolation::kPilBilinear);
  ASSERT_TRUE(crop.ok());
  double sum = 0, sx = 0, sy = 0;
  for (int y = 0; y < 224; ++y) {
    for (int x = 0; x < 224; ++x) {
      const double v = crop->pixels[(y * 224 + x) * 3];
      sum += v;
      sx += v * x;
      sy += v * y;
    }
  }
  ASSERT_GT(sum, 0);
  // 333 wide -> int(251 * 333 / 250) = 334: (334 - 224) / 2 = 55 exactly; 251 high: 13.5 -> 14,
  // so vertically the crop sits half a pixel low of the centre.
  EXPECT_NEAR(sx / sum, 111.5, 0.05);
  EXPECT_NEAR(sy / sum, 111.5 - 0.5, 0.05);
}

// ---- interpolation

TEST(Interpolation, PilBilinearMatchesPillowBitExactly) {
  // Hashes of Pillow 9.4.0 Image.resize((w, h), Image.BILINEAR) on Pattern().
  struct Case {
    int width, height;
    uint64_t hash;
    std::vector<uint8_t> centre;
  };
  const Case cases[] = {
      {20, 29, 0x7cac7d448da5d92full, {215, 182, 47}},  // down
      {61, 90, 0xd53d52403dd1341dull, {212, 147, 11}},  // up
      {50, 20, 0x25f5e69e14c5a93bull, {228, 164, 47}},  // up x, down y
      {37, 53, 0x0aa958199cc4b53dull, {208, 146, 6}},   // same size: identity
      {9, 3, 0x6d4170d4ef2a8d7dull, {130, 135, 126}},   // strong downscale
  };
  const RgbImage pattern = Pattern();
  for (const Case& c : cases) {
    auto resized = ResizeImage(pattern, c.width, c.height, Interpolation::kPilBilinear);
    ASSERT_TRUE(resized.ok()) << resized.status();
    EXPECT_EQ(Pixel(*resized, c.width / 2, c.height / 2), c.centre) << c.width << "x" << c.height;
    EXPECT_EQ(Fnv1a(resized->pixels), c.hash) << c.width << "x" << c.height;
  }
  auto same = ResizeImage(pattern, 37, 53, Interpolation::kPilBilinear);
  EXPECT_EQ(same->pixels, pattern.pixels);
  // torchvision Resize(45) + CenterCrop(40) on PIL: 45 x 64, crop from (2, 12).
  auto crop = ResizeAndCenterCrop(pattern, 45, 40, Interpolation::kPilBilinear);
  ASSERT_TRUE(crop.ok());
  EXPECT_EQ(Fnv1a(crop->pixels), 0x164b3b04b1868356ull);
  crop = ResizeAndCenterCrop(pattern, 30, 24, Interpolation::kPilBilinear);
  EXPECT_EQ(Fnv1a(crop->pixels), 0x67b2a705ea7badd9ull);
  EXPECT_EQ(Pixel(*crop, 0, 0), (std::vector<uint8_t>{175, 48, 93}));
}

TEST(Interpolation, PlainBilinearUpscalesLikePilAndDownscalesWithoutAntialiasing) {
  const RgbImage pattern = Pattern();
  auto pil_up = ResizeImage(pattern, 61, 90, Interpolation::kPilBilinear);
  auto plain_up = ResizeImage(pattern, 61, 90, Interpolation::kBilinear);
  EXPECT_EQ(pil_up->pixels, plain_up->pixels);
  // 4x down of a period-4 stripe (255, 255, 0, 0): plain bilinear samples x_in = 4i + 1.5,
  // half on a white and half on a black column; the antialiased filter averages 8 columns.
  // Both give mid-grey here.
  RgbImage stripes = Constant(64, 8, 0, 0, 0);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 64; ++x) {
      const uint8_t v = (x % 4) < 2 ? 255 : 0;
      uint8_t* p = &stripes.pixels[(y * 64 + x) * 3];
      p[0] = p[1] = p[2] = v;
    }
  }
  auto plain = ResizeImage(stripes, 16, 2, Interpolation::kBilinear);
  auto pil = ResizeImage(stripes, 16, 2, Interpolation::kPilBilinear);
  EXPECT_EQ(Pixel(*plain, 5, 1)[0], 128);
  EXPECT_NEAR(Pixel(*pil, 5, 1)[0], 128, 2);
  // 3x down of a period-2 stripe: plain bilinear samples x_in = 3i + 1 exactly, one column,
  // so it aliases to pure black or white; the antialiased filter (6 taps) gives grey.
  RgbImage fine = Constant(60, 6, 0, 0, 0);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 60; x += 2) {
      uint8_t* p = &fine.pixels[(y * 60 + x) * 3];
      p[0] = p[1] = p[2] = 255;
    }
  }
  auto aliased = ResizeImage(fine, 20, 2, Interpolation::kBilinear);   // samples x = 3i + 1
  auto smoothed = ResizeImage(fine, 20, 2, Interpolation::kPilBilinear);
  EXPECT_EQ(Pixel(*aliased, 4, 0)[0], 0);      // x_in = 13: a black column, exactly
  EXPECT_EQ(Pixel(*aliased, 5, 0)[0], 255);    // x_in = 16: white
  EXPECT_NEAR(Pixel(*smoothed, 4, 0)[0], 128, 30);
  EXPECT_NEAR(Pixel(*smoothed, 5, 0)[0], 128, 30);
}

TEST(Interpolation, CropEqualsResizeThenCrop) {
  const int sizes[][2] = {{500, 375}, {375, 500}, {227, 227}, {64, 300}, {1000, 999}};
  for (const auto& size : sizes) {
    const RgbImage image = Random(size[0], size[1], static_cast<uint32_t>(size[0] * 7 + size[1]));
    for (Interpolation interpolation : {Interpolation::kPilBilinear, Interpolation::kBilinear}) {
      for (int s : {224, 37}) {
        const int r = static_cast<int>(std::lround(s / 0.875));
        auto g = ComputeResizeCrop(image.width, image.height, r, s);
        ASSERT_TRUE(g.ok());
        auto full = ResizeImage(image, g->resized_width, g->resized_height, interpolation);
        auto crop = ResizeAndCenterCrop(image, r, s, interpolation);
        ASSERT_TRUE(full.ok() && crop.ok());
        EXPECT_EQ(crop->pixels, Crop(*full, g->crop_left, g->crop_top, s, s).pixels)
            << size[0] << "x" << size[1] << " S=" << s << " " << InterpolationName(interpolation);
      }
    }
  }
}

TEST(Interpolation, OnePixelImageUpscalesToConstant) {
  RgbImage one = Constant(1, 1, 9, 99, 199);
  auto crop = ResizeAndCenterCrop(one, 256, 224, Interpolation::kPilBilinear);
  ASSERT_TRUE(crop.ok());
  EXPECT_EQ(crop->pixels, Constant(224, 224, 9, 99, 199).pixels);
}

// ---- the per-pixel arithmetic of each preset, on a constant image

TEST(PresetArithmetic, ConstantImageGivesTheExactFormula) {
  const uint8_t rgb[3] = {10, 128, 250};
  const RgbImage image = Constant(300, 260, rgb[0], rgb[1], rgb[2]);
  struct Expected {
    std::string preset;
    float values[3];  // output channels 0, 1, 2
  };
  const Expected expected[] = {
      {"torch",
       {(10.0f / 255.0f - 0.485f) / 0.229f, (128.0f / 255.0f - 0.456f) / 0.224f,
        (250.0f / 255.0f - 0.406f) / 0.225f}},
      {"keras-caffe", {250.0f - 103.939f, 128.0f - 116.779f, 10.0f - 123.68f}},  // B, G, R
      {"keras-tf", {10.0f / 127.5f - 1.0f, 128.0f / 127.5f - 1.0f, 250.0f / 127.5f - 1.0f}},
  };
  // The same numbers worked out by hand, to 1e-4.
  const float by_hand[3][3] = {{-1.946656f, 0.205182f, 2.552854f},
                               {146.061f, 11.221f, -113.68f},
                               {-0.921569f, 0.003922f, 0.960784f}};
  for (int p = 0; p < 3; ++p) {
    for (int s : {224, 299, 5}) {
      auto preprocessing = ImagePreprocessingPreset(expected[p].preset, s);
      ASSERT_TRUE(preprocessing.ok());
      std::vector<float> out(3 * s * s, -12345.0f);
      ASSERT_TRUE(PreprocessImage(image, *preprocessing, out.data()).ok());
      for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(expected[p].values[c], by_hand[p][c], 1e-4) << expected[p].preset << " " << c;
        for (int i = 0; i < s * s; ++i) {
          ASSERT_EQ(out[c * s * s + i], expected[p].values[c])
              << expected[p].preset << " S=" << s << " channel " << c << " index " << i;
        }
      }
    }
  }
}

TEST(PresetArithmetic, OutputIsChannelMajor) {
  // Left half red, right half blue: plane 0 (R) is high on the left, plane 2 (B) on the right.
  RgbImage image = Constant(64, 64, 0, 0, 255);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 32; ++x) {
      uint8_t* p = &image.pixels[(y * 64 + x) * 3];
      p[0] = 255;
      p[2] = 0;
    }
  }
  // R = S = the image size: no resampling, the crop is the whole image.
  ImagePreprocessing tf = *ImagePreprocessingPreset("keras-tf", 64, 64);
  std::vector<float> out(3 * 64 * 64);
  ASSERT_TRUE(PreprocessImage(image, tf, out.data()).ok());
  EXPECT_EQ(out[0 * 4096 + 10 * 64 + 2], 1.0f);    // R plane, left
  EXPECT_EQ(out[0 * 4096 + 10 * 64 + 60], -1.0f);  // R plane, right
  EXPECT_EQ(out[2 * 4096 + 10 * 64 + 2], -1.0f);   // B plane, left
  EXPECT_EQ(out[2 * 4096 + 10 * 64 + 60], 1.0f);   // B plane, right
  EXPECT_EQ(out[1 * 4096 + 10 * 64 + 2], -1.0f);   // G plane
  ImagePreprocessing caffe = *ImagePreprocessingPreset("keras-caffe", 64, 64);
  ASSERT_TRUE(PreprocessImage(image, caffe, out.data()).ok());
  EXPECT_EQ(out[0 * 4096 + 10 * 64 + 60], 255.0f - 103.939f);  // plane 0 is B: right is blue
  EXPECT_EQ(out[2 * 4096 + 10 * 64 + 2], 255.0f - 123.68f);    // plane 2 is R: left is red
}

}  // namespace
}  // namespace quantbench

namespace quantbench {
namespace {

// The stored form (8-bit CHW after resize + crop + channel order) normalised per batch must
// give exactly PreprocessImage's floats: a cached set evaluates bit-identically.
TEST(BytesThenNormalize, EqualsPreprocessImageBitForBit) {
  const int sizes[][2] = {{1, 1}, {37, 53}, {227, 227}, {301, 160}, {18, 19}};
  uint32_t seed = 5;
  for (const std::string& name : ImagePreprocessingPresetNames()) {
    for (Interpolation interpolation : {Interpolation::kPilBilinear, Interpolation::kBilinear}) {
      for (const int crop : {1, 17, 224}) {
        ImagePreprocessing p = *ImagePreprocessingPreset(name, crop, crop == 224 ? 0 : crop + 4);
        p.interpolation = interpolation;
        const ChannelNormalizer normalizer(p);
        const size_t plane = static_cast<size_t>(crop) * crop;
        // Several images in one Apply call, as a batch is normalised.
        std::vector<uint8_t> bytes(3 * plane * std::size(sizes));
        std::vector<float> reference(bytes.size());
        for (size_t i = 0; i < std::size(sizes); ++i) {
          const RgbImage image = Random(sizes[i][0], sizes[i][1], ++seed);
          ASSERT_TRUE(PreprocessImageBytes(image, p, bytes.data() + i * 3 * plane).ok());
          ASSERT_TRUE(PreprocessImage(image, p, reference.data() + i * 3 * plane).ok());
        }
        std::vector<float> normalized(bytes.size());
        normalizer.Apply(bytes.data(), static_cast<int64_t>(std::size(sizes)),
                         static_cast<int64_t>(plane), normalized.data());
        EXPECT_EQ(std::memcmp(normalized.data(), reference.data(), reference.size() * sizeof(float)), 0)
            << name << " " << InterpolationName(interpolation) << " S=" << crop;
      }
    }
  }
}

TEST(BytesThenNormalize, BgrPresetSwapsPlanes) {
  const RgbImage image = Constant(9, 9, 10, 20, 30);
  const ImagePreprocessing caffe = *ImagePreprocessingPreset("keras-caffe", 3, 3);
  std::vector<uint8_t> bytes(27);
  ASSERT_TRUE(PreprocessImageBytes(image, caffe, bytes.data()).ok());
  EXPECT_EQ(bytes[0], 30);   // plane 0 = blue
  EXPECT_EQ(bytes[9], 20);   // green
  EXPECT_EQ(bytes[18], 10);  // red
  ImagePreprocessing bad = caffe;
  bad.std[1] = 0.0f;
  EXPECT_EQ(PreprocessImageBytes(image, bad, bytes.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
