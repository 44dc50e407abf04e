#include "daemon/registry/blob_hasher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::registry {
namespace {

class BlobHasherTest : public ::testing::Test {
 protected:
  ~BlobHasherTest() override { pool_.join(); }
  testing::TempDir dir_;
  asio::io_context ioc_;
  asio::thread_pool pool_{2};
};

TEST_F(BlobHasherTest, FollowsAWriterAndMatchesAOneShotHash) {
  std::string content(9u << 20, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 7 + (i >> 12));
  std::string path = dir_.sub("blob");
  UniqueFd w(::open(path.c_str(), O_WRONLY | O_CREAT, 0644));
  UniqueFd r(::open(path.c_str(), O_RDONLY));
  auto hasher = std::make_shared<BlobHasher>(
      pool_, std::make_shared<SwitchableFd>(UniqueFd(::dup(r.get()))), DigestAlgorithm::kSha256);
  std::uint64_t written = 0;
  for (std::size_t chunk : {1u, 100000u, 3u << 20, 5u << 20}) {  // odd sizes, slices overlap writes
    ASSERT_TRUE(writeAll(w.get(), content.data() + written, chunk));
    written += chunk;
    hasher->advance(written);
  }
  std::size_t rest = content.size() - written;
  ASSERT_TRUE(writeAll(w.get(), content.data() + written, rest));
  hasher->advance(content.size());
  auto digest = testing::runCoro(ioc_, hasher->finish(content.size()));
  ASSERT_TRUE(digest) << digest.error().message();
  EXPECT_EQ(digest.value(), sha256Of(content));
}

TEST_F(BlobHasherTest, EmptyBlob) {
  std::string path = dir_.sub("empty");
  UniqueFd w(::open(path.c_str(), O_WRONLY | O_CREAT, 0644));
  UniqueFd r(::open(path.c_str(), O_RDONLY));
  auto hasher = std::make_shared<BlobHasher>(
      pool_, std::make_shared<SwitchableFd>(UniqueFd(::dup(r.get()))), DigestAlgorithm::kSha256);
  auto digest = testing::runCoro(ioc_, hasher->finish(0));
  ASSERT_TRUE(digest);
  EXPECT_EQ(digest.value(), sha256Of(""));
}

TEST_F(BlobHasherTest, AFileShorterThanAnnouncedIsAnError) {
  std::string path = dir_.sub("short");
  UniqueFd w(::open(path.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(writeAll(w.get(), "abc", 3));
  UniqueFd r(::open(path.c_str(), O_RDONLY));
  auto hasher = std::make_shared<BlobHasher>(
      pool_, std::make_shared<SwitchableFd>(UniqueFd(::dup(r.get()))), DigestAlgorithm::kSha256);
  hasher->advance(10);  // claims more than the file holds
  auto digest = testing::runCoro(ioc_, hasher->finish(10));
  ASSERT_FALSE(digest);
  EXPECT_EQ(digest.error().code, Errc::kStoreIo);
}

}  // namespace
}  // namespace pullcache::registry
