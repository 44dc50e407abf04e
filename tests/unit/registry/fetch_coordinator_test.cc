#include "daemon/registry/fetch_coordinator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "daemon/config/config.h"
#include "daemon/index/rocksdb_index.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/process.h"
#include "tests/support/registry_testbed.h"
#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::registry {
namespace {

constexpr const char* kHost = "reg.test";

std::string content(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i * 31 + (i >> 9));
  return s;
}

// Reads a BlobSource the way a session does: wait, copy what is readable, repeat.
Task<Result<std::string>> readAll(std::shared_ptr<BlobSource> src, std::uint64_t size) {
  std::string out;
  while (out.size() < size) {
    auto readable = co_await src->readable(out.size());
    if (!readable) co_return readable.error();
    std::string chunk(readable.value() - out.size(), '\0');
    ssize_t n = ::pread(src->fd(), chunk.data(), chunk.size(), static_cast<off_t>(out.size()));
    if (n != static_cast<ssize_t>(chunk.size())) co_return fail(Errc::kStoreIo, "short read");
    out += chunk;
  }
  co_return out;
}

// One reader against a testbed: open, then read everything (a coroutine function, see below).
Task<void> readOnce(testing::RegistryTestbed* bed, Digest digest, Result<std::string>* result,
                    int* done) {
  auto up = bed->router->resolve(kHost).value();
  auto opened = co_await bed->fetches->open(up, "lib/app", digest);
  if (!opened) {
    *result = opened.error();
  } else {
    *result = co_await readAll(opened.value().source, opened.value().size);
  }
  ++*done;
}

class FetchCoordinatorTest : public ::testing::Test {
 protected:
  std::string url(const std::string& digest) {
    return "http://upstream.test/v2/lib/app/blobs/" + digest;
  }

  // One client: open, then read everything. A coroutine function, not a lambda: a lambda's
  // captures would die with the closure while the coroutine still runs.
  static Task<void> client(FetchCoordinatorTest* self, Digest digest, Result<std::string>* result,
                           CacheResult* kind, int* done) {
    auto up = self->router_->resolve(kHost).value();
    auto opened = co_await self->coordinator_->open(up, "lib/app", digest);
    if (!opened) {
      *result = opened.error();
    } else {
      *kind = opened.value().cache;
      *result = co_await readAll(opened.value().source, opened.value().size);
    }
    ++*done;
  }

  // n concurrent clients open and read the blob; returns each one's result.
  std::vector<Result<std::string>> readConcurrently(const Digest& digest, int n,
                                                    std::vector<CacheResult>* kinds = nullptr) {
    std::vector<Result<std::string>> results(n, Error{});
    std::vector<CacheResult> got(n, CacheResult::kNone);
    int done = 0;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(asio::make_strand(ioc_), client(this, digest, &results[i], &got[i], &done),
                     asio::detached);
    }
    ioc_.restart();
    // A deadline, so that a regression fails the test instead of hanging it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done < n) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << done << " of " << n << " clients finished within 60 s";
        break;
      }
      ioc_.run_for(std::chrono::milliseconds(50));
    }
    // Let the commit (on the pool) finish and the fetch retire.
    for (int i = 0; i < 200 && coordinator_->inflightCount() > 0; ++i) {
      ioc_.restart();
      ioc_.run_for(std::chrono::milliseconds(10));
    }
    if (kinds != nullptr) kinds->insert(kinds->end(), got.begin(), got.end());
    return results;
  }

  testing::RegistryTestbed bed_{FetchOptions{std::chrono::seconds(5), 3}};
  asio::io_context& ioc_ = bed_.ioc;
  cache::BlobCache& store_ = bed_.cache;
  index::RocksDbIndex& index_ = bed_.index;
  testing::FakeUpstreamClient& http_ = bed_.http;
  std::unique_ptr<upstream::UpstreamRouter>& router_ = bed_.router;
  std::unique_ptr<FetchCoordinator>& coordinator_ = bed_.fetches;
  const std::string tmp_dir_ = bed_.dir.sub("cache/tmp");
};

TEST_F(FetchCoordinatorTest, SixteenConcurrentMissesShareOneFetchAndStreamWhileItIsWritten) {
  std::string body = content(4 << 20, 'x');
  Digest digest = sha256Of(body);
  http_.script(url(digest.str()),
               {.body = body, .chunk = 64 * 1024, .chunk_delay = std::chrono::milliseconds(2)});
  std::vector<CacheResult> kinds;
  auto results = readConcurrently(digest, 16, &kinds);
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value(), body);
  }
  EXPECT_EQ(http_.calls(url(digest.str())), 1);
  EXPECT_EQ(coordinator_->fetchesStarted(), 1u);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), CacheResult::kMiss), 1);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), CacheResult::kCoalesced), 15);
  // Kept and indexed: the next open is a hit with no upstream call.
  auto again = readConcurrently(digest, 1, &kinds);
  EXPECT_EQ(kinds.back(), CacheResult::kHit);
  EXPECT_EQ(http_.calls(url(digest.str())), 1);
  EXPECT_TRUE(index_.getBlob(digest).value());
}

// A bug below the coordinator (here: the upstream client throws) fails the readers of that
// fetch at once and leaves nothing behind: no in-flight entry, no staging file, so the next
// request for the digest starts a fresh fetch instead of waiting on a dead one.
TEST_F(FetchCoordinatorTest, AFetchThatThrowsFailsItsReadersAndLeavesNothingBehind) {
  std::string body = content(256 << 10, 't');
  Digest digest = sha256Of(body);
  http_.script(url(digest.str()), {.body = body, .throw_exception = true});
  auto failed = readConcurrently(digest, 3);
  for (const auto& r : failed) {
    ASSERT_FALSE(r);
    // Told by the fetch (kInternal), not timed out by the stall timer (kTimeout).
    EXPECT_EQ(r.error().code, Errc::kInternal) << r.error().message();
  }
  EXPECT_EQ(coordinator_->inflightCount(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(tmp_dir_));
  // Each failed reader may have started a fetch of its own (the one before it was already
  // retired): what matters is that the next fetch starts at once and is shared.
  const int failed_calls = http_.calls(url(digest.str()));
  EXPECT_GE(failed_calls, 1);
  http_.script(url(digest.str()), {.body = body, .chunk_delay = std::chrono::milliseconds(5)});
  auto ok = readConcurrently(digest, 2);
  for (const auto& r : ok) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value(), body);
  }
  EXPECT_EQ(http_.calls(url(digest.str())), failed_calls + 1);
  EXPECT_TRUE(index_.getBlob(digest).value());
}

TEST_F(FetchCoordinatorTest, DigestMismatchFailsEveryReaderAndKeepsNothing) {
  std::string body = content(1 << 20, 'y');
  Digest claimed = sha256Of("something else");
  http_.script(url(claimed.str()),
               {.body = body, .chunk = 32 * 1024, .chunk_delay = std::chrono::milliseconds(1)});
  auto results = readConcurrently(claimed, 4);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kDigestMismatch);
  }
  EXPECT_FALSE(index_.getBlob(claimed).value());
  EXPECT_FALSE(std::filesystem::exists(store_.blobPath(claimed)));
  EXPECT_TRUE(std::filesystem::is_empty(tmp_dir_));
}

TEST_F(FetchCoordinatorTest, ReadersNeverGetTheLastByteBeforeVerification) {
  std::string body = content(256 * 1024, 'z');
  Digest claimed = sha256Of("not it");
  http_.script(url(claimed.str()),
               {.body = body, .chunk = 16 * 1024, .chunk_delay = std::chrono::milliseconds(1)});
  std::uint64_t max_readable = 0;
  bool failed = false;
  auto client = [&]() -> Task<void> {
    auto opened = co_await coordinator_->open(router_->resolve(kHost).value(), "lib/app", claimed);
    if (!opened) co_return;
    std::uint64_t offset = 0;
    for (;;) {
      auto r = co_await opened.value().source->readable(offset);
      if (!r) {
        failed = true;
        co_return;
      }
      max_readable = std::max(max_readable, r.value());
      offset = r.value();
      if (offset >= opened.value().size) co_return;
    }
  };
  asio::co_spawn(ioc_, client(), asio::detached);
  ioc_.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(failed);
  EXPECT_LT(max_readable, body.size());
}

TEST_F(FetchCoordinatorTest, ADroppedConnectionIsResumedWithRange) {
  std::string body = content(3 << 20, 'r');
  Digest digest = sha256Of(body);
  http_.script(url(digest.str()), {.body = body, .chunk = 64 * 1024, .drop_after = 1 << 20});
  auto results = readConcurrently(digest, 2);
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value(), body);
  }
  auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(std::string(requests[1].headers.get("range")), "bytes=1048576-");
  EXPECT_TRUE(index_.getBlob(digest).value());
}

TEST_F(FetchCoordinatorTest, UpstreamNotFoundIsAnErrorBeforeAnyByte) {
  Digest digest = sha256Of("absent");
  http_.script(url(digest.str()),
               {.status = 404, .body = R"({"errors":[{"code":"BLOB_UNKNOWN"}]})"});
  auto results = readConcurrently(digest, 3);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kBlobUnknown);
  }
  EXPECT_EQ(http_.calls(url(digest.str())), 1);
  EXPECT_EQ(coordinator_->inflightCount(), 0u);
}

// The cache directory fills up in the middle of a blob (the free-space check at its start
// passed): the fetch moves to memory, every reader still gets the whole blob, nothing is kept.
TEST(FetchCoordinatorDiskFull, AWriteErrorMidBlobMovesTheFetchToMemory) {
  testing::TempDir mount_dir;
  auto mounted =
      testing::runCommand({"mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount_dir.path()});
  if (mounted.code != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs (needs root): " << mounted.output;
  struct Unmount {
    std::string path;
    ~Unmount() { testing::runCommand({"umount", path}); }
  } unmount{mount_dir.path()};
  {
    testing::RegistryTestbed bed(FetchOptions{std::chrono::seconds(5), 3, 8u << 20},
                                 std::chrono::seconds(60), mount_dir.path());
    // The testbed's disk probe reports plenty of room, so the fetch starts on disk.
    std::string body = content(3 << 20, 'd');  // three times the filesystem
    Digest digest = sha256Of(body);
    bed.http.script(
        "http://upstream.test/v2/lib/app/blobs/" + digest.str(),
        {.body = body, .chunk = 64 * 1024, .chunk_delay = std::chrono::milliseconds(1)});
    std::vector<Result<std::string>> results(4, Error{});
    int done = 0;
    for (auto& r : results) {
      asio::co_spawn(asio::make_strand(bed.ioc), readOnce(&bed, digest, &r, &done), asio::detached);
    }
    bed.ioc.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done < 4 && std::chrono::steady_clock::now() < deadline)
      bed.ioc.run_for(std::chrono::milliseconds(50));
    ASSERT_EQ(done, 4) << "clients did not finish within 60 s";
    for (int i = 0; i < 200 && bed.fetches->inflightCount() > 0; ++i) {
      bed.ioc.restart();
      bed.ioc.run_for(std::chrono::milliseconds(10));
    }
    for (const auto& r : results) {
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_TRUE(r.value() == body);
    }
    EXPECT_FALSE(bed.index.getBlob(digest).value());
    EXPECT_FALSE(std::filesystem::exists(bed.cache.blobPath(digest)));
    EXPECT_TRUE(std::filesystem::is_empty(mount_dir.sub("tmp")));
    EXPECT_GE(bed.metrics.cache_write_errors.value(), 1u);
  }
}

}  // namespace
}  // namespace pullcache::registry
