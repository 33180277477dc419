// UTF-8 validity of text that ends up in result files. nlohmann::json refuses to serialise an
// invalid byte (type_error 316, thrown when the result is written, after the whole sweep), so
// every string from a config or a file name is checked when it enters, with its byte offset.
#ifndef QUANTBENCH_KERNELS_UTF8_H_
#define QUANTBENCH_KERNELS_UTF8_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace quantbench {

// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or nullopt if `text`
// is valid.
std::optional<size_t> FirstInvalidUtf8Byte(absl::string_view text);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_UTF8_H_
