// ImageNet-style preprocessing of a decoded RGB image into a float CHW tensor.
//
// Every preset runs the same geometry, then a per-channel affine map:
//
//   1. Resize so the shorter side is R, keeping the aspect ratio the way torchvision's
//      Resize(R) does: the longer side becomes int(R * long / short) (truncated).
//      R = resize_shorter, or round(S / 0.875) when resize_shorter = 0 (224 -> 256, 299 -> 342).
//   2. Centre crop S x S the way torchvision's CenterCrop does: top = round((H' - S) / 2),
//      left = round((W' - S) / 2), rounding half to even (Python's round()).
//   3. Per pixel, with v the 8-bit sample of the output channel c:
//        out[c] = (v / divisor - mean[c]) / std[c]          in float32, this order,
//      where the output channel c takes source channel c (RGB) or 2 - c (BGR when `bgr`).
//
// Interpolation (step 1), both two-pass separable, horizontal pass first, on 8-bit samples:
//
//   kPilBilinear ("pil_bilinear", the default for every preset): bit-exact PIL (Pillow 9)
//     Image.resize(size, Image.BILINEAR), which is what torchvision's Resize does on PIL
//     images. A triangle filter whose support is scaled by the downscale factor, so
//     downscaling is antialiased (each output pixel averages all the input pixels it covers);
//     upscaling is plain bilinear. Sample positions use half-pixel centres
//     (x_in = (x_out + 0.5) * in / out - 0.5), taps past the border are dropped and the
//     weights renormalised, weights are 22-bit fixed point, and each pass rounds to 8 bits.
//   kBilinear ("bilinear"): the same arithmetic with the filter support fixed at one input
//     pixel: classic 2x2 bilinear with half-pixel centres and edge clamping, no antialiasing
//     (like OpenCV INTER_LINEAR or torch interpolate(antialias=False), to within one 8-bit
//     step). Upscaling is identical to kPilBilinear.
//
// Presets (ImagePreprocessingPreset):
//   "torch"        RGB; divisor 255; mean (0.485, 0.456, 0.406); std (0.229, 0.224, 0.225).
//                  torchvision Resize(R) + CenterCrop(S) + ToTensor() + Normalize(mean, std).
//   "keras-caffe"  BGR (channel 0 = blue); divisor 1 (0..255 kept); mean (B, G, R) =
//                  (103.939, 116.779, 123.68); std 1. Keras preprocess_input mode "caffe"
//                  (VGG16, ResNet50).
//   "keras-tf"     RGB; divisor 127.5; mean 1; std 1, i.e. v / 127.5 - 1 in [-1, 1]. Keras
//                  preprocess_input mode "tf" (Xception, InceptionV3, MobileNetV2).
// The Keras presets use the same resize + centre-crop geometry as "torch" (Keras'
// load_img(target_size=...) instead squashes the whole image to S x S; that is not offered).
#ifndef QUANTBENCH_DATASETS_IMAGE_PREPROCESS_H_
#define QUANTBENCH_DATASETS_IMAGE_PREPROCESS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/jpeg_codec.h"

namespace quantbench {

enum class Interpolation {
  kPilBilinear,  // "pil_bilinear": antialiased when downscaling (PIL / torchvision)
  kBilinear,     // "bilinear": 2x2 bilinear, half-pixel centres, no antialiasing
};

const char* InterpolationName(Interpolation interpolation);
absl::StatusOr<Interpolation> ParseInterpolation(const std::string& name);

struct ImagePreprocessing {
  std::string preset = "torch";  // the name it came from ("custom" if hand-made)
  int crop_size = 224;           // S: the output is 3 x S x S
  int resize_shorter = 0;        // R >= S; 0 = round(S / 0.875)
  Interpolation interpolation = Interpolation::kPilBilinear;
  bool bgr = false;  // output channel order: false = R, G, B; true = B, G, R
  float divisor = 255.0f;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  // in output channel order
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};   // in output channel order
};

// The preset `name` ("torch", "keras-caffe", "keras-tf") for S = crop_size and
// R = resize_shorter (0 = round(S / 0.875)). InvalidArgument for an unknown name (the error
// lists the known ones) or sizes ValidatePreprocessing rejects.
absl::StatusOr<ImagePreprocessing> ImagePreprocessingPreset(const std::string& name,
                                                            int crop_size,
                                                            int resize_shorter = 0);
std::vector<std::string> ImagePreprocessingPresetNames();

// S >= 1, R = 0 or R >= S, divisor and std non-zero and finite, mean finite.
absl::Status ValidatePreprocessing(const ImagePreprocessing& preprocessing);

// R with 0 resolved: round(S / 0.875), i.e. 224 -> 256, 299 -> 342 (341.71 rounded).
int ResolvedResizeShorter(const ImagePreprocessing& preprocessing);

// Every field, floats as exact hexadecimal ("%a"): two settings with equal keys produce
// identical tensors. Used in cache keys.
std::string PreprocessingKey(const ImagePreprocessing& preprocessing);

// Where step 1 and 2 put the crop for a width x height image.
struct ResizeCropGeometry {
  int resized_width = 0;
  int resized_height = 0;
  int crop_left = 0;  // in the resized image
  int crop_top = 0;
};
absl::StatusOr<ResizeCropGeometry> ComputeResizeCrop(int width, int height, int resize_shorter,
                                                     int crop_size);

// Resizes the whole image to out_width x out_height (8-bit, arithmetic as described above).
absl::StatusOr<RgbImage> ResizeImage(const RgbImage& image, int out_width, int out_height,
                                     Interpolation interpolation);

// Steps 1 and 2: the S x S crop of the resized image, computing only the cropped pixels
// (bit-identical to ResizeImage followed by cropping).
absl::StatusOr<RgbImage> ResizeAndCenterCrop(const RgbImage& image, int resize_shorter,
                                             int crop_size, Interpolation interpolation);

// Steps 1-3: writes 3 * S * S floats, channel-major (CHW), to `out`. The reference for the
// two-stage path below (PreprocessImageBytes + ChannelNormalizer), which gives the same floats.
absl::Status PreprocessImage(const RgbImage& image, const ImagePreprocessing& preprocessing,
                             float* out);

// Steps 1-2 plus step 3's channel order: writes the 3 * S * S 8-bit samples of the crop,
// channel-major (CHW), output channel c taken from source channel c (RGB) or 2 - c (BGR).
// Step 3's affine map is left to ChannelNormalizer, so a stored set costs 1 byte per value
// instead of 4 and is normalised when a batch is read.
absl::Status PreprocessImageBytes(const RgbImage& image, const ImagePreprocessing& preprocessing,
                                  uint8_t* out);

// Step 3 on CHW bytes from PreprocessImageBytes: out = (v / divisor - mean[c]) / std[c] in
// float32, the same expression as PreprocessImage evaluates, tabulated once per 8-bit value,
// so the floats are bit-identical to PreprocessImage's.
class ChannelNormalizer {
 public:
  explicit ChannelNormalizer(const ImagePreprocessing& preprocessing);
  // `images` consecutive CHW images of 3 planes of `plane` samples each.
  void Apply(const uint8_t* chw, int64_t images, int64_t plane, float* out) const;

 private:
  float table_[3][256];
};

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_PREPROCESS_H_
