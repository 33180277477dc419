// Small Status helpers. Debian's Abseil (20220623) predates absl/status/status_macros.h,
// so the project carries its own two macros.
#ifndef QUANTBENCH_KERNELS_STATUS_MACROS_H_
#define QUANTBENCH_KERNELS_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QB_CONCAT_INNER_(a, b) a##b
#define QB_CONCAT_(a, b) QB_CONCAT_INNER_(a, b)

// Returns from the calling function if `expr` (an absl::Status) is not OK.
#define QB_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    const ::absl::Status qb_status_ = (expr);     \
    if (!qb_status_.ok()) return qb_status_;      \
  } while (0)

// `QB_ASSIGN_OR_RETURN(auto x, MakeX());` : assigns the value or returns the error.
#define QB_ASSIGN_OR_RETURN(lhs, expr) \
  QB_ASSIGN_OR_RETURN_IMPL_(QB_CONCAT_(qb_statusor_, __LINE__), lhs, expr)

#define QB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

namespace quantbench {

// Prefixes an error's message with context ("while loading weights: ..."), keeping its code.
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), std::string(context) + ": " + std::string(status.message()));
}

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_STATUS_MACROS_H_
