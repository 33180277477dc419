#include "experiments/cell_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "experiments/config.h"
#include "experiments/result_files.h"
#include "experiments/training_setup.h"
#include "kernels/atomic_file.h"
#include "kernels/file_lock.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr char kManifestSchema[] = "quantbench.sweep_workdir/1";

// NotFound when the file is absent; the parse error names the file otherwise.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json value = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": not a JSON object (delete it to recompute)"));
  }
  return value;
}

absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& value, const std::string& what) {
  QB_ASSIGN_OR_RETURN(std::string text, DumpJson(value, 1, what));
  return WriteFileAtomically(path, {text, "\n"});
}

}  // namespace

std::vector<SweepCell> SweepCells(const Experiment& config) {
  std::vector<SweepCell> cells;
  for (int q = 0; q < config.quantizers_size(); ++q) {
    for (int bits : BitsFor(config, config.quantizers(q))) {
      SweepCell cell;
      cell.index = static_cast<int>(cells.size());
      cell.quantizer_index = q;
      cell.bits = bits;
      cell.key = absl::StrFormat("%04d-q%d-b%d", cell.index, q, bits);
      cells.push_back(cell);
    }
  }
  return cells;
}

absl::StatusOr<ShardSpec> ParseShard(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  ShardSpec shard;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shard.index) || !absl::SimpleAtoi(parts[1], &shard.count) ||
      shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard=", text, ": expected i/N with 0 <= i < N (e.g. --shard=$SLURM_ARRAY_TASK_ID/8)"));
  }
  return shard;
}

std::string ConfigHash(const Experiment& config) {
  Experiment keyed = config;
  keyed.clear_output();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    keyed.SerializePartialToCodedStream(&coded);  // computes the sizes, then writes
  }
  return absl::StrFormat("%016x", Fnv1a64(bytes));
}

std::string CodeVersion() {
  std::ifstream in("/proc/self/exe", std::ios::binary);
  if (!in) return "unknown";
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  uint64_t size = 0;
  while (in) {
    in.read(buffer.data(), buffer.size());
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    crc = ContentCrc32Bytes(crc, buffer.data(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  return absl::StrFormat("exe-%d-%08x", size, crc);
}

std::string WorkDirectoryFor(const Experiment& config, const std::string& work_root) {
  return absl::StrCat(work_root, "/", config.name(), "-", ConfigHash(config));
}

CellStore::CellStore(std::string dir, nlohmann::json manifest)
    : dir_(std::move(dir)), manifest_(std::move(manifest)), config_hash_(manifest_.value("config_hash", "")) {}

absl::StatusOr<CellStore> CellStore::Open(const std::string& dir, const Experiment& config) {
  const std::string hash = ConfigHash(config);
  const std::string path = dir + "/manifest.json";
  absl::StatusOr<nlohmann::json> existing = ReadJsonFile(path);
  if (existing.ok()) {
    if (existing->value("config_hash", "") != hash) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": holds config hash ", existing->value("config_hash", "?"),
                                                        ", this config is ", hash, "; use another work directory"));
    }
    return CellStore(dir, *std::move(existing));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  nlohmann::json keys = nlohmann::json::array();
  for (const SweepCell& cell : SweepCells(config)) keys.push_back(cell.key);
  nlohmann::json manifest = {{"schema", kManifestSchema},
                             {"experiment", config.name()},
                             {"config_hash", hash},
                             {"cells", keys},
                             {"output", config.output()}};
  // Concurrent shards write identical manifests; the rename makes one of them win whole.
  QB_RETURN_IF_ERROR(WriteJsonFile(path, manifest, "manifest"));
  return CellStore(dir, manifest);
}

absl::StatusOr<CellStore> CellStore::OpenExisting(const std::string& dir) {
  absl::StatusOr<nlohmann::json> manifest = ReadJsonFile(dir + "/manifest.json");
  if (absl::IsNotFound(manifest.status())) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a sweep work directory (no manifest.json)"));
  }
  QB_RETURN_IF_ERROR(manifest.status());
  if (manifest->value("schema", "") != kManifestSchema || !manifest->contains("cells") ||
      !(*manifest)["cells"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, "/manifest.json: not a ", kManifestSchema, " manifest"));
  }
  return CellStore(dir, *std::move(manifest));
}

std::vector<std::string> CellStore::CellKeys() const {
  std::vector<std::string> keys;
  for (const nlohmann::json& key : manifest_["cells"]) keys.push_back(key.get<std::string>());
  return keys;
}

absl::StatusOr<std::optional<nlohmann::json>> CellStore::ReadCell(const std::string& key) const {
  absl::StatusOr<nlohmann::json> cell = ReadJsonFile(absl::StrCat(dir_, "/cells/", key, ".json"));
  if (absl::IsNotFound(cell.status())) return std::optional<nlohmann::json>();
  QB_RETURN_IF_ERROR(cell.status());
  return std::optional<nlohmann::json>(*std::move(cell));
}

absl::Status CellStore::WriteCell(const SweepCell& cell, const std::string& code_version, const nlohmann::json& result) {
  nlohmann::json file = {{"config_hash", config_hash_},
                         {"code_version", code_version},
                         {"index", cell.index},
                         {"key", cell.key},
                         {"cell", result}};
  QB_RETURN_IF_ERROR(WriteJsonFile(absl::StrCat(dir_, "/cells/", cell.key, ".json"), file,
                                   absl::StrCat("cell ", cell.key)));
  std::error_code ignored;
  std::filesystem::remove(absl::StrCat(dir_, "/failed/", cell.key, ".txt"), ignored);
  return absl::OkStatus();
}

absl::Status CellStore::WriteFailure(const std::string& key, const std::string& message) {
  return WriteFileAtomically(absl::StrCat(dir_, "/failed/", key, ".txt"), {message, "\n"});
}

std::string CellStore::RunningLockPath(const std::string& key) const {
  return absl::StrCat(dir_, "/running/", key, ".lock");
}

absl::StatusOr<std::optional<nlohmann::json>> CellStore::ReadHeader() const {
  absl::StatusOr<nlohmann::json> header = ReadJsonFile(dir_ + "/header.json");
  if (absl::IsNotFound(header.status())) return std::optional<nlohmann::json>();
  QB_RETURN_IF_ERROR(header.status());
  return std::optional<nlohmann::json>(*std::move(header));
}

absl::Status CellStore::WriteHeader(const nlohmann::json& header, const std::string& code_version) {
  const std::string path = dir_ + "/header.json";
  absl::StatusOr<std::optional<nlohmann::json>> existing = ReadHeader();
  if (existing.ok() && existing->has_value() && (**existing).value("code_version", "") == code_version) {
    return absl::OkStatus();
  }
  nlohmann::json stored = header;
  stored["config_hash"] = config_hash_;
  stored["code_version"] = code_version;
  return WriteJsonFile(path, stored, "result header");
}

absl::StatusOr<nlohmann::json> MergeCells(const CellStore& store, const std::string& code_version,
                                          bool allow_mixed_versions) {
  QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> header, store.ReadHeader());
  std::vector<std::string> missing, wrong_config, wrong_version, wrong_key;
  nlohmann::json cells = nlohmann::json::array();
  double cell_seconds = 0.0;
  for (const std::string& key : store.CellKeys()) {
    QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> file, store.ReadCell(key));
    if (!file.has_value()) {
      missing.push_back(key);
      continue;
    }
    if (file->value("config_hash", "") != store.config_hash()) wrong_config.push_back(key);
    if (file->value("key", "") != key || !file->contains("cell")) wrong_key.push_back(key);
    if (file->value("code_version", "") != code_version) {
      wrong_version.push_back(absl::StrCat(key, " (", file->value("code_version", "?"), ")"));
    }
    if (file->contains("cell")) {
      cells.push_back((*file)["cell"]);
      cell_seconds += (*file)["cell"].value("seconds", 0.0);
    }
  }
  std::vector<std::string> problems;
  if (!header.has_value()) problems.push_back("header.json (the fp32 baseline) is missing");
  if (header.has_value() && header->value("config_hash", "") != store.config_hash()) {
    problems.push_back("header.json is of another config hash");
  }
  if (header.has_value() && header->value("code_version", "") != code_version) {
    wrong_version.push_back(absl::StrCat("header.json (", header->value("code_version", "?"), ")"));
  }
  if (!missing.empty()) problems.push_back(absl::StrCat(missing.size(), " cells missing: ", absl::StrJoin(missing, ", ")));
  if (!wrong_config.empty()) {
    problems.push_back(absl::StrCat("cells of another config hash: ", absl::StrJoin(wrong_config, ", ")));
  }
  if (!wrong_key.empty()) problems.push_back(absl::StrCat("cell files not matching their name: ", absl::StrJoin(wrong_key, ", ")));
  if (!wrong_version.empty() && !allow_mixed_versions) {
    problems.push_back(absl::StrCat("cells computed by another build (this one is ", code_version,
                                    "; --allow_mixed_versions merges them anyway): ", absl::StrJoin(wrong_version, ", ")));
  }
  if (!problems.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot merge ", store.dir(), ": ", absl::StrJoin(problems, "; ")));
  }
  nlohmann::json result = *std::move(header);
  result.erase("config_hash");
  result.erase("code_version");
  const double setup_seconds = result.value("setup_seconds", 0.0);
  result.erase("setup_seconds");
  result["cells"] = std::move(cells);
  // Compute time, not elapsed time: a resumed or sharded sweep counts each cell once.
  result["wall_seconds"] = setup_seconds + cell_seconds;
  if (!wrong_version.empty()) result["mixed_code_versions"] = wrong_version;
  return result;
}

std::string SweepStatus::Summary() const {
  return absl::StrFormat("%d cells: %d done, %d running, %d failed, %d pending", total, done, running, failed, pending);
}

absl::StatusOr<SweepStatus> ReadSweepStatus(const CellStore& store) {
  SweepStatus status;
  for (const std::string& key : store.CellKeys()) {
    ++status.total;
    QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> file, store.ReadCell(key));
    if (file.has_value()) {
      ++status.done;
      continue;
    }
    const std::string lock = store.RunningLockPath(key);
    if (std::filesystem::exists(lock) && absl::IsFailedPrecondition(FileLock::TryAcquire(lock).status())) {
      ++status.running;
      status.lines.push_back(absl::StrCat("running: ", key));
      continue;
    }
    std::ifstream failed(absl::StrCat(store.dir(), "/failed/", key, ".txt"));
    std::string line;
    if (failed && std::getline(failed, line)) {
      ++status.failed;
      status.lines.push_back(absl::StrCat("failed: ", key, ": ", line));
      continue;
    }
    ++status.pending;
  }
  return status;
}

}  // namespace quantbench
