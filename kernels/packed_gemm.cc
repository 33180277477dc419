// PackedGemm dispatch: the best kernel the CPU runs, chosen once, optionally lowered by
// QUANTBENCH_KERNEL_ISA=ref|avx2|avx512 (tests and benches force a path with it).
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/gemm_validation.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_gemm_avx2.h"
#include "kernels/packed_gemm_avx512.h"

namespace quantbench {
namespace {

// The best kernel this build has for this CPU: AVX-512 (F/BW/VL/VNNI/VBMI), else AVX2 + FMA,
// else the scalar reference.
KernelIsa BestSupportedIsa() {
  if (Avx512KernelsSupported()) return KernelIsa::kAvx512;
  return Avx2KernelsSupported() ? KernelIsa::kAvx2 : KernelIsa::kRef;
}

bool Supported(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kRef:
      return true;
    case KernelIsa::kAvx2:
      return Avx2KernelsSupported();
    case KernelIsa::kAvx512:
      return Avx512KernelsSupported();
  }
  return false;
}

KernelIsa ChooseIsa() {
  const KernelIsa best = BestSupportedIsa();
  const char* forced = std::getenv("QUANTBENCH_KERNEL_ISA");
  if (forced == nullptr || *forced == '\0') return best;
  KernelIsa wanted = best;
  if (std::strcmp(forced, "ref") == 0) {
    wanted = KernelIsa::kRef;
  } else if (std::strcmp(forced, "avx2") == 0) {
    wanted = KernelIsa::kAvx2;
  } else if (std::strcmp(forced, "avx512") != 0) {
    return best;  // unknown values are ignored rather than failing every GEMM
  }
  // The variable may only lower the choice, never select an ISA the CPU lacks (a CPU with
  // AVX-512 but no AVX2 does not exist, but the check costs nothing).
  if (static_cast<int>(wanted) >= static_cast<int>(best)) return best;
  return Supported(wanted) ? wanted : KernelIsa::kRef;
}

}  // namespace

KernelIsa ActiveKernelIsa() {
  static const KernelIsa isa = ChooseIsa();
  return isa;
}

const char* KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kRef:
      return "ref";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

absl::Status PackedGemmWithIsa(KernelIsa isa, const PackedMatrix& w, const GemmArgs& args) {
  switch (isa) {
    case KernelIsa::kRef:
      return PackedGemmRef(w, args);
    case KernelIsa::kAvx2:
      if (!Avx2KernelsSupported()) {
        return absl::UnimplementedError(
            "PackedGemm: this CPU lacks AVX2 + FMA, which the avx2 kernel needs");
      }
      return PackedGemmAvx2(w, args);
    case KernelIsa::kAvx512:
      if (!Avx512KernelsSupported()) {
        return absl::UnimplementedError(
            "PackedGemm: this CPU lacks AVX-512 F/BW/VL/VNNI/VBMI, which the avx512 kernel needs");
      }
      return PackedGemmAvx512(w, args);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("PackedGemm: unknown KernelIsa ", static_cast<int>(isa)));
}

absl::Status PackedGemm(const PackedMatrix& w, const GemmArgs& args) {
  return PackedGemmWithIsa(ActiveKernelIsa(), w, args);
}

}  // namespace quantbench
