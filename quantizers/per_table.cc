#include "quantizers/per_table.h"

namespace quantbench {

QuantizedTensor EncodePerTable(
    const WeightView& weights, bool per_channel,
    absl::FunctionRef<void(const TableSlice&, QuantizedTensor&)> encode) {
  const int64_t n = static_cast<int64_t>(weights.values.size());
  const int64_t tables = per_channel ? weights.rows() : 1;
  const int64_t table_size = tables == 0 ? 0 : n / tables;
  QuantizedTensor out;
  out.values.resize(n);
  out.codes.resize(n);
  out.num_tables = tables;
  for (int64_t t = 0; t < tables; ++t) {
    const int64_t offset = t * table_size;
    const TableSlice slice{t, absl::Span<const float>(weights.values.data() + offset, table_size),
                           absl::MakeSpan(out.codes.data() + offset, table_size),
                           absl::MakeSpan(out.values.data() + offset, table_size)};
    encode(slice, out);
  }
  return out;
}

}  // namespace quantbench
