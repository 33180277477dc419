#include "kernels/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_EQ(FirstInvalidUtf8Byte(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8Byte("plain ascii"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8Byte("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::nullopt);  // été € 😀
  EXPECT_EQ(FirstInvalidUtf8Byte("\xF4\x8F\xBF\xBF"), std::nullopt);                                 // U+10FFFF
}

TEST(Utf8Test, NamesTheOffendingByte) {
  EXPECT_EQ(FirstInvalidUtf8Byte("bad \xFF here"), 4u);
  EXPECT_EQ(FirstInvalidUtf8Byte("ab\x80"), 2u);                 // lone continuation byte
  EXPECT_EQ(FirstInvalidUtf8Byte("\xC0\xAF"), 0u);               // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8Byte("x\xED\xA0\x80"), 2u);          // surrogate U+D800
  EXPECT_EQ(FirstInvalidUtf8Byte("\xF4\x90\x80\x80"), 1u);       // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8Byte("ok \xE2\x82"), 3u);            // cut inside a sequence
  EXPECT_EQ(FirstInvalidUtf8Byte("\xE2\x28\xA1"), 1u);           // bad second byte
  EXPECT_EQ(FirstInvalidUtf8Byte(std::string("a\0b", 3)), std::nullopt);
}

}  // namespace
}  // namespace quantbench
