// InflightBlob's stall timeout counts only time the upstream is silent: once every byte is in
// (the digest is being checked), readers wait for the verdict however long hashing takes.
#include "daemon/registry/inflight_blob.h"

#include <gtest/gtest.h>

#include <optional>

namespace pullcache::registry {
namespace {

using namespace std::chrono_literals;

Task<void> waitVerified(InflightBlob* blob, std::optional<Result<std::uint64_t>>* out) {
  auto r = co_await blob->waitVerified();
  out->emplace(std::move(r));
}

UniqueFd anyFd() { return UniqueFd(::dup(0)); }

TEST(InflightBlob, AStalledUpstreamTimesReadersOut) {
  asio::io_context ioc;
  InflightBlob blob(sha256Of("x"), anyFd(), 50ms);
  ASSERT_TRUE(blob.setStreaming(10, true));
  blob.setWritten(4);
  std::optional<Result<std::uint64_t>> got;
  asio::co_spawn(ioc, waitVerified(&blob, &got), asio::detached);
  ioc.run_for(2s);
  ASSERT_TRUE(got.has_value()) << "the reader was not timed out";
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, Errc::kTimeout);
}

TEST(InflightBlob, HashingTimeIsNotAStall) {
  asio::io_context ioc;
  InflightBlob blob(sha256Of("x"), anyFd(), 50ms);
  ASSERT_TRUE(blob.setStreaming(10, true));
  blob.setWritten(10);
  blob.setReceived(10);
  std::optional<Result<std::uint64_t>> got;
  asio::co_spawn(ioc, waitVerified(&blob, &got), asio::detached);
  ioc.run_for(500ms);  // ten stall periods without a word from the fetch
  EXPECT_FALSE(got.has_value()) << "timed out while the digest was being checked";
  EXPECT_EQ(blob.snapshot().state, InflightBlob::State::kHashing);
  blob.setVerified(10);
  ioc.restart();
  ioc.run_for(2s);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_EQ(got->value(), 10u);
}

TEST(InflightBlob, AFailureWhileHashingWakesReaders) {
  asio::io_context ioc;
  InflightBlob blob(sha256Of("x"), anyFd(), 50ms);
  ASSERT_TRUE(blob.setStreaming(10, true));
  blob.setReceived(10);
  std::optional<Result<std::uint64_t>> got;
  asio::co_spawn(ioc, waitVerified(&blob, &got), asio::detached);
  ioc.poll();
  blob.setFailed(Error{Errc::kDigestMismatch, "bad"});
  ioc.run_for(2s);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, Errc::kDigestMismatch);
}

// The fill and a span stream learn the size on different threads: the second answer is checked
// against the first in the same step that would publish it.
TEST(InflightBlob, ASecondAnswerWithAnotherSizeIsRefused) {
  InflightBlob blob(sha256Of("x"), anyFd(), 50ms);
  ASSERT_TRUE(blob.setStreaming(10, true));
  EXPECT_FALSE(blob.setStreaming(11, true));
  EXPECT_TRUE(blob.setStreaming(10, true));
  EXPECT_TRUE(blob.setStreaming(0, false));  // an answer without a size says nothing against it
  EXPECT_EQ(blob.snapshot().size, 10u);
}

}  // namespace
}  // namespace pullcache::registry
