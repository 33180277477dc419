// Unroll<N>(f): calls f(std::integral_constant<int, i>) for i = 0..N-1, fully unrolled, so the
// SIMD kernels get compile-time column-group and column indices (shift counts, byte offsets)
// without relying on the compiler's loop unroller.
#ifndef QUANTBENCH_KERNELS_UNROLL_H_
#define QUANTBENCH_KERNELS_UNROLL_H_

#include <type_traits>
#include <utility>

namespace quantbench {

template <class F, int... I>
inline __attribute__((always_inline)) void UnrollImpl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}

template <int N, class F>
inline __attribute__((always_inline)) void Unroll(F&& f) {
  UnrollImpl(std::forward<F>(f), std::make_integer_sequence<int, N>{});
}

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_UNROLL_H_
