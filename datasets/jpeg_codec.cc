#include "datasets/jpeg_codec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

// jpeglib.h needs FILE and size_t declared first (<cstdio> above).
#include <jpeglib.h>
// jerror.h after jpeglib.h: the JERR_/JWRN_ message codes.
#include <jerror.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

// libjpeg's error manager extended with a jump target and the first error's text. libjpeg
// reaches it through cinfo->err, so everything here lives in memory, never only in registers.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool fatal_warning;  // the jump came from a warning treated as an error
  int tolerated_warnings;
};

// Warnings after which the pixels are wrong or incomplete (libjpeg substitutes grey).
bool IsFatalWarning(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:           // "Premature end of JPEG file"
    case JWRN_HIT_MARKER:         // "premature end of data segment"
    case JWRN_HUFF_BAD_CODE:      // "bad Huffman code"
    case JWRN_MUST_RESYNC:        // "found marker 0x.. instead of RST.."
    case JWRN_BOGUS_PROGRESSION:  // inconsistent progressive scans
    case JWRN_NOT_SEQUENTIAL:     // "Invalid SOS parameters for sequential JPEG"
#if defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE:  // "bad arithmetic code"
#endif
      return true;
    default:
      return false;
  }
}

[[noreturn]] void ErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// msg_level < 0: a warning; >= 0: trace messages, ignored.
void EmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  cinfo->err->num_warnings++;
  if (IsFatalWarning(cinfo->err->msg_code)) {
    (*cinfo->err->format_message)(cinfo, err->message);
    err->fatal_warning = true;
    std::longjmp(err->jump, 1);
  }
  err->tolerated_warnings++;
}

void OutputMessage(j_common_ptr) {}  // never print

void InitErrorManager(ErrorManager* err) {
  jpeg_std_error(&err->pub);
  err->pub.error_exit = ErrorExit;
  err->pub.emit_message = EmitMessage;
  err->pub.output_message = OutputMessage;
  err->message[0] = '\0';
  err->fatal_warning = false;
  err->tolerated_warnings = 0;
}

absl::Status JpegError(const ErrorManager& err, const std::string& name, const char* doing) {
  const int code = err.pub.msg_code;
  std::string text = absl::StrCat(name, ": ", doing, ": ", err.message);
  if (code == JERR_OUT_OF_MEMORY) return absl::ResourceExhaustedError(text);
  return absl::DataLossError(text);
}

// Every libjpeg call of one decode. After setjmp() this function changes no automatic
// variable it reads after a longjmp(), and owns no C++ object with a destructor: the output
// goes through `out`, the error state through `err`.
absl::Status DecodeWithLibjpeg(const uint8_t* data, size_t size, const std::string& name,
                               RgbImage* out) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof(cinfo));
  ErrorManager err;
  InitErrorManager(&err);
  cinfo.err = &err.pub;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return JpegError(err, name, "corrupt or truncated JPEG");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);

  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    const bool ycck = cinfo.jpeg_color_space == JCS_YCCK;
    jpeg_destroy_decompress(&cinfo);
    return absl::UnimplementedError(absl::StrCat(
        name, ": ", ycck ? "YCCK" : "CMYK",
        " JPEG (Adobe, 4 components) is not supported; convert it to RGB first"));
  }
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_calc_output_dimensions(&cinfo);
  const int64_t pixels = int64_t{cinfo.output_width} * cinfo.output_height;
  if (pixels > kMaxJpegPixels) {
    jpeg_destroy_decompress(&cinfo);
    return absl::ResourceExhaustedError(
        absl::StrCat(name, ": ", cinfo.output_width, "x", cinfo.output_height,
                     " pixels is more than the decoder's limit of ", kMaxJpegPixels));
  }
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != (grey ? 1 : 3)) {
    const int components = cinfo.output_components;
    jpeg_destroy_decompress(&cinfo);
    return absl::DataLossError(
        absl::StrCat(name, ": libjpeg produced ", components, " components per pixel"));
  }
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  out->pixels.resize(static_cast<size_t>(pixels) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* row = out->pixels.data() + static_cast<size_t>(cinfo.output_scanline) * out->width * 3;
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
      jpeg_destroy_decompress(&cinfo);
      return absl::DataLossError(absl::StrCat(name, ": libjpeg returned no scanline"));
    }
    if (grey) {  // expand in place, from the right so no sample is overwritten before use
      for (int x = out->width - 1; x >= 0; --x) {
        const uint8_t v = row[x];
        row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
      }
    }
  }
  // Reads up to the EOI marker: a file cut anywhere, even just before EOI, is DataLoss (so is
  // it for PIL: "image file is truncated").
  jpeg_finish_decompress(&cinfo);
  out->tolerated_warnings = err.tolerated_warnings;
  jpeg_destroy_decompress(&cinfo);
  return absl::OkStatus();
}

// The output buffer of jpeg_mem_dest(); on the heap so a longjmp cannot make it indeterminate.
struct MemoryDestination {
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  ~MemoryDestination() { std::free(buffer); }
};

absl::Status EncodeWithLibjpeg(const uint8_t* pixels, int width, int height, int components,
                               int quality, bool subsample_chroma, MemoryDestination* dest) {
  jpeg_compress_struct cinfo;
  std::memset(&cinfo, 0, sizeof(cinfo));
  ErrorManager err;
  InitErrorManager(&err);
  cinfo.err = &err.pub;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    return absl::InternalError(absl::StrCat("libjpeg encoder: ", err.message));
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &dest->buffer, &dest->size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = components;
  cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (!subsample_chroma) {
    for (int c = 0; c < cinfo.num_components; ++c) {
      cinfo.comp_info[c].h_samp_factor = 1;
      cinfo.comp_info[c].v_samp_factor = 1;
    }
  }
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW rows[1] = {const_cast<uint8_t*>(pixels) +
                        static_cast<size_t>(cinfo.next_scanline) * width * components};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RgbImage> DecodeJpeg(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) return absl::DataLossError(absl::StrCat(name, ": empty file, not a JPEG"));
  RgbImage image;
  absl::Status status = DecodeWithLibjpeg(data, size, name, &image);
  if (!status.ok()) return status;
  return image;
}

absl::StatusOr<RgbImage> DecodeJpegFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  // Sized by fstat (+1, so the read that sees end-of-file needs no growth); a file that grows
  // while being read is still read whole.
  std::vector<uint8_t> bytes;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.resize(static_cast<size_t>(st.st_size) + 1);
  size_t used = 0;
  while (true) {
    if (used == bytes.size()) bytes.resize(std::max<size_t>(bytes.size() * 2, 1 << 16));
    const ssize_t n = ::read(fd, bytes.data() + used, bytes.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat(path, ": cannot read"));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  bytes.resize(used);
  ::close(fd);
  return DecodeJpeg(bytes.data(), bytes.size(), path);
}

absl::StatusOr<std::vector<uint8_t>> EncodeJpeg(const uint8_t* pixels, int width, int height,
                                                int components, int quality,
                                                bool subsample_chroma) {
  if (components != 1 && components != 3 && components != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeJpeg: components must be 1, 3 or 4, not ", components));
  }
  if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeJpeg: ", width, "x", height, " is not a valid JPEG size"));
  }
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(absl::StrCat("EncodeJpeg: quality ", quality,
                                                   " is outside 1..100"));
  }
  auto dest = std::make_unique<MemoryDestination>();
  absl::Status status = EncodeWithLibjpeg(pixels, width, height, components, quality,
                                          subsample_chroma, dest.get());
  if (!status.ok()) return status;
  return std::vector<uint8_t>(dest->buffer, dest->buffer + dest->size);
}

std::string JpegLibraryVersion() {
#if defined(LIBJPEG_TURBO_VERSION)
#define QB_STRINGIFY_INNER_(x) #x
#define QB_STRINGIFY_(x) QB_STRINGIFY_INNER_(x)
  return absl::StrCat("libjpeg-turbo ", QB_STRINGIFY_(LIBJPEG_TURBO_VERSION), " (libjpeg API ",
                      JPEG_LIB_VERSION, ")");
#else
  return absl::StrCat("libjpeg (API ", JPEG_LIB_VERSION, ")");
#endif
}

}  // namespace quantbench
