// The JPEG decoder (datasets/jpeg_codec.h) on arbitrary bytes, then what a decoded image goes
// through on its way to a tensor: resize + centre crop and channel-major bytes
// (datasets/image_preprocess.h). The crop size comes from the first byte so small, odd and
// upscaling crops are all reached.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datasets/image_preprocess.h"
#include "datasets/jpeg_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int crop = 1 + data[0] % 48;
  auto image = quantbench::DecodeJpeg(data + 1, size - 1, "fuzz.jpg");
  if (!image.ok()) return 0;
  auto preprocessing = quantbench::ImagePreprocessingPreset(data[0] & 0x80 ? "keras-caffe" : "torch", crop);
  if (!preprocessing.ok()) return 0;
  preprocessing->interpolation =
      data[0] & 0x40 ? quantbench::Interpolation::kBilinear : quantbench::Interpolation::kPilBilinear;
  std::vector<uint8_t> bytes(3 * static_cast<size_t>(crop) * crop);
  (void)quantbench::PreprocessImageBytes(*image, *preprocessing, bytes.data());
  std::vector<float> floats(bytes.size());
  (void)quantbench::PreprocessImage(*image, *preprocessing, floats.data());
  return 0;
}
