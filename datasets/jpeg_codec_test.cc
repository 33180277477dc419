#include "datasets/jpeg_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace quantbench {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> Solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < width * height; ++i) pixels.insert(pixels.end(), {r, g, b});
  return pixels;
}

std::vector<uint8_t> Encode(const std::vector<uint8_t>& pixels, int width, int height,
                            int components = 3, int quality = 100, bool subsample = false) {
  auto jpeg = EncodeJpeg(pixels.data(), width, height, components, quality, subsample);
  EXPECT_TRUE(jpeg.ok()) << jpeg.status();
  return jpeg.ok() ? *jpeg : std::vector<uint8_t>();
}

int MaxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::abs(int{a[i]} - int{b[i]}));
  }
  return worst;
}

TEST(JpegCodec, SolidColoursDecodeToTheirValue) {
  const uint8_t colours[][3] = {{0, 0, 0}, {255, 255, 255}, {200, 30, 90}, {12, 250, 128}};
  for (const auto& c : colours) {
    std::vector<uint8_t> pixels = Solid(16, 16, c[0], c[1], c[2]);
    std::vector<uint8_t> jpeg = Encode(pixels, 16, 16);
    auto image = DecodeJpeg(jpeg.data(), jpeg.size(), "solid");
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->width, 16);
    EXPECT_EQ(image->height, 16);
    ASSERT_EQ(image->pixels.size(), 16u * 16u * 3u);
    // Quality 100 4:4:4: only the YCbCr round trip's rounding remains.
    EXPECT_LE(MaxAbsDiff(image->pixels, pixels), 2) << int{c[0]} << "," << int{c[1]} << "," << int{c[2]};
    EXPECT_EQ(image->tolerated_warnings, 0);
  }
}

TEST(JpegCodec, GradientAtOddSizeKeepsLayout) {
  const int w = 37, h = 53;  // not multiples of the 8x8 / 16x16 MCU
  std::vector<uint8_t> pixels;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      pixels.insert(pixels.end(), {static_cast<uint8_t>(x * 6), static_cast<uint8_t>(y * 4),
                                   static_cast<uint8_t>(128)});
    }
  }
  std::vector<uint8_t> jpeg = Encode(pixels, w, h);
  auto image = DecodeJpeg(jpeg.data(), jpeg.size(), "gradient");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, w);
  EXPECT_EQ(image->height, h);
  EXPECT_LE(MaxAbsDiff(image->pixels, pixels), 4);
  // Rows are top to bottom and pixels R, G, B: spot-check the corners.
  auto at = [&](int x, int y, int c) { return int{image->pixels[(y * w + x) * 3 + c]}; };
  EXPECT_NEAR(at(w - 1, 0, 0), 216, 4);
  EXPECT_NEAR(at(0, h - 1, 1), 208, 4);
  EXPECT_NEAR(at(0, 0, 2), 128, 4);

  // 4:2:0 (libjpeg's default, most real photos): fancy upsampling, still close on smooth data.
  std::vector<uint8_t> subsampled = Encode(pixels, w, h, 3, 95, /*subsample=*/true);
  auto image420 = DecodeJpeg(subsampled.data(), subsampled.size(), "gradient420");
  ASSERT_TRUE(image420.ok()) << image420.status();
  EXPECT_EQ(image420->width, w);
  EXPECT_EQ(image420->height, h);
  EXPECT_LE(MaxAbsDiff(image420->pixels, pixels), 12);
}

TEST(JpegCodec, GreyscaleIsReplicatedToRgb) {
  const int w = 37, h = 53;
  std::vector<uint8_t> grey;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) grey.push_back(static_cast<uint8_t>(x * 3 + y * 2));
  }
  std::vector<uint8_t> jpeg = Encode(grey, w, h, /*components=*/1);
  auto image = DecodeJpeg(jpeg.data(), jpeg.size(), "grey");
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->pixels.size(), static_cast<size_t>(w * h * 3));
  int worst = 0;
  for (int i = 0; i < w * h; ++i) {
    const uint8_t* p = &image->pixels[3 * i];
    ASSERT_EQ(p[0], p[1]) << "pixel " << i;
    ASSERT_EQ(p[1], p[2]) << "pixel " << i;
    worst = std::max(worst, std::abs(int{p[0]} - int{grey[i]}));
  }
  EXPECT_LE(worst, 2);
}

TEST(JpegCodec, OnePixelImage) {
  std::vector<uint8_t> pixels = {10, 200, 100};
  std::vector<uint8_t> jpeg = Encode(pixels, 1, 1);
  auto image = DecodeJpeg(jpeg.data(), jpeg.size(), "tiny");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 1);
  EXPECT_EQ(image->height, 1);
  EXPECT_LE(MaxAbsDiff(image->pixels, pixels), 2);
}

TEST(JpegCodec, TruncatedDataIsDataLossNamingTheFileAndPrintsNothing) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 64 * 64; ++i) {
    pixels.insert(pixels.end(), {static_cast<uint8_t>(i), static_cast<uint8_t>(i * 7),
                                 static_cast<uint8_t>(i / 16)});
  }
  const std::vector<uint8_t> jpeg = Encode(pixels, 64, 64, 3, 90);
  ASSERT_GT(jpeg.size(), 200u);
  const size_t cuts[] = {1, 2, 10, 100, jpeg.size() / 4, jpeg.size() / 2, jpeg.size() * 3 / 4,
                         jpeg.size() - 40, jpeg.size() - 1};
  for (size_t cut : cuts) {
    testing::internal::CaptureStderr();
    auto image = DecodeJpeg(jpeg.data(), cut, "cut.jpg");
    const std::string printed = testing::internal::GetCapturedStderr();
    ASSERT_FALSE(image.ok()) << "cut at " << cut << " of " << jpeg.size();
    EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss) << image.status();
    EXPECT_EQ(image.status().message().rfind("cut.jpg: ", 0), 0u) << image.status();
    EXPECT_EQ(printed, "") << "libjpeg printed for cut " << cut;
  }
  // Only the final EOI marker missing: still truncated, as PIL says too.
  auto no_eoi = DecodeJpeg(jpeg.data(), jpeg.size() - 2, "no-eoi.jpg");
  EXPECT_EQ(no_eoi.status().code(), absl::StatusCode::kDataLoss) << no_eoi.status();
  auto whole = DecodeJpeg(jpeg.data(), jpeg.size(), "whole.jpg");
  ASSERT_TRUE(whole.ok()) << whole.status();
}

TEST(JpegCodec, TruncatedFileOnDiskNamesThePath) {
  std::vector<uint8_t> jpeg = Encode(Solid(40, 30, 1, 2, 3), 40, 30);
  jpeg.resize(jpeg.size() / 2);
  const std::string path = TempPath("truncated.JPEG");
  WriteBytes(path, jpeg);
  auto image = DecodeJpegFile(path);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(image.status().message().find(path), std::string::npos) << image.status();
  EXPECT_NE(image.status().message().find("Premature end of JPEG file"), std::string::npos)
      << image.status();
}

TEST(JpegCodec, NotAJpegAndEmptyAreDataLoss) {
  const std::string text = "this is not a JPEG";
  auto image = DecodeJpeg(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "x.jpg");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(image.status().message().find("Not a JPEG file"), std::string::npos) << image.status();
  auto empty = DecodeJpeg(nullptr, 0, "empty.jpg");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kDataLoss);
}

TEST(JpegCodec, CmykIsAClearError) {
  std::vector<uint8_t> cmyk(8 * 8 * 4, 100);
  std::vector<uint8_t> jpeg = Encode(cmyk, 8, 8, /*components=*/4);
  auto image = DecodeJpeg(jpeg.data(), jpeg.size(), "cmyk.jpg");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(image.status().message().find("cmyk.jpg: "), std::string::npos);
  EXPECT_NE(image.status().message().find("CMYK"), std::string::npos) << image.status();
}

TEST(JpegCodec, MissingFileIsNotFound) {
  auto image = DecodeJpegFile(TempPath("does-not-exist.jpg"));
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(image.status().message().find("does-not-exist.jpg"), std::string::npos);
}

TEST(JpegCodec, EncoderRejectsBadArguments) {
  std::vector<uint8_t> pixels(12);
  EXPECT_FALSE(EncodeJpeg(pixels.data(), 2, 2, 2, 90).ok());
  EXPECT_FALSE(EncodeJpeg(pixels.data(), 0, 2, 3, 90).ok());
  EXPECT_FALSE(EncodeJpeg(pixels.data(), 2, 2, 3, 0).ok());
}

TEST(JpegCodec, LibraryVersionNamesTheDecoder) {
  EXPECT_NE(JpegLibraryVersion().find("libjpeg"), std::string::npos) << JpegLibraryVersion();
}

}  // namespace
}  // namespace quantbench
