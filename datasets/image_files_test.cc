#include "datasets/image_files.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/test_util.h"

namespace quantbench {
namespace {

TEST(ImageFiles, JpegNames) {
  EXPECT_TRUE(IsJpegName("a.jpg"));
  EXPECT_TRUE(IsJpegName("b.JPEG"));
  EXPECT_TRUE(IsJpegName("c.d.Jpg"));
  EXPECT_FALSE(IsJpegName("jpg"));
  EXPECT_FALSE(IsJpegName("a.png"));
  EXPECT_FALSE(IsJpegName("a.jpg.txt"));
}

TEST(ImageFiles, ListDirectoryIsSortedAndSeparatesFilesFromFolders) {
  const std::string dir = FreshTestDir("list_directory");
  for (const char* name : {"b", "a", "C"}) WriteFileBytes(dir + "/" + name, {1});
  std::filesystem::create_directories(dir + "/z_dir");
  std::filesystem::create_directories(dir + "/m_dir");
  auto files = ListDirectory(dir, false);
  auto dirs = ListDirectory(dir, true);
  ASSERT_TRUE(files.ok() && dirs.ok());
  EXPECT_EQ(*files, (std::vector<std::string>{"C", "a", "b"}));
  EXPECT_EQ(*dirs, (std::vector<std::string>{"m_dir", "z_dir"}));
  ExpectStatus(ListDirectory(dir + "/a", false).status(), absl::StatusCode::kNotFound,
               {dir + "/a", "not a directory"});
}

TEST(ImageFiles, FileIdentitiesChangeWithContentAndNameTheMissingFile) {
  const std::string dir = FreshTestDir("file_identities");
  WriteFileBytes(dir + "/x", {1, 2});
  std::string before, after, missing;
  ASSERT_TRUE(AppendFileIdentities({dir + "/x"}, &before).ok());
  WriteFileBytes(dir + "/x", {1, 2, 3});
  ASSERT_TRUE(AppendFileIdentities({dir + "/x"}, &after).ok());
  EXPECT_NE(before, after);
  EXPECT_NE(before.find(dir + "/x\t2\t"), std::string::npos) << before;
  ExpectStatus(AppendFileIdentities({dir + "/x", dir + "/nope"}, &missing),
               absl::StatusCode::kNotFound, {dir + "/nope", "cannot stat"});
}

TEST(ImageFiles, ParallelForRunsEveryIndexOnceAndReportsTheLowestFailure) {
  for (int threads : {1, 2, 5}) {
    std::vector<std::atomic<int>> runs(101);
    ASSERT_TRUE(ParallelForEachIndex(101, threads, [&](int64_t i) {
                  ++runs[i];
                  return absl::OkStatus();
                }).ok());
    for (int64_t i = 0; i < 101; ++i) EXPECT_EQ(runs[i].load(), 1) << i;

    const absl::Status status = ParallelForEachIndex(200, threads, [](int64_t i) {
      if (i == 77 || i == 150) return absl::DataLossError(absl::StrCat("bad ", i));
      return absl::OkStatus();
    });
    EXPECT_EQ(status, absl::DataLossError("bad 77")) << threads << " threads";
  }
  EXPECT_TRUE(ParallelForEachIndex(0, 2, [](int64_t) { return absl::InternalError("never"); }).ok());
}

}  // namespace
}  // namespace quantbench
