// Range reads of blobs that are not cached yet (FetchCoordinator::openRange), against the
// scripted upstream: spans fetched on their own, the fill skipping them, the fill policy, and
// what is cached (only verified whole blobs).
#include <gtest/gtest.h>

#include <thread>

#include "daemon/registry/fetch_coordinator.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/registry_testbed.h"

namespace pullcache::registry {
namespace {

constexpr const char* kHost = "reg.test";
constexpr std::uint64_t kMiB = 1 << 20;

std::string content(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i * 31 + (i >> 9));
  return s;
}

struct Read {
  Result<std::string> bytes = Error{};  // the ranges' bytes one after the other
  std::optional<ByteRange> range;       // the first range
  std::size_t ranges = 0;
  std::uint64_t size = 0;
  bool done = false;
};

class RangeReadsTest : public ::testing::Test {
 protected:
  static FetchOptions options() {
    FetchOptions o;
    o.stall_timeout = std::chrono::seconds(5);
    o.range_fill_below = 1 * kMiB;
    o.range_fill_after = 16 * kMiB;
    o.range_lookahead = 256 << 10;
    return o;
  }

  std::string url(const Digest& d) { return "http://upstream.test/v2/lib/app/blobs/" + d.str(); }

  // One client: GET with `header`, then read at most `max` bytes of what it is answered (the
  // rest it leaves, as a client that closes early). A coroutine function: see common/blocking.h.
  static Task<void> client(RangeReadsTest* self, Digest digest, std::string header,
                           std::uint64_t max, Read* out) {
    auto up = self->bed_.router->resolve(kHost).value();
    auto opened = co_await self->bed_.fetches->openRange(up, "lib/app", digest, header);
    if (!opened) {
      out->bytes = opened.error();
      out->done = true;
      co_return;
    }
    const auto& ranges = opened.value().ranges;
    out->ranges = ranges.size();
    if (!ranges.empty()) out->range = ranges.front();
    out->size = opened.value().blob.size;
    std::shared_ptr<BlobSource> src = std::move(opened.value().blob.source);
    std::vector<ByteRange> spans = ranges;
    if (spans.empty()) spans.push_back(ByteRange{0, out->size - 1});
    std::string got;
    for (const auto& span : spans) {
      std::uint64_t pos = span.first;
      std::uint64_t end = span.last + 1;
      if (end - pos > max) end = pos + max;
      while (pos < end) {
        auto readable = co_await src->readable(pos);
        if (!readable) {
          out->bytes = readable.error();
          out->done = true;
          co_return;
        }
        std::string chunk(std::min(readable.value(), end) - pos, '\0');
        ssize_t n = ::pread(src->fd(), chunk.data(), chunk.size(), static_cast<off_t>(pos));
        if (n != static_cast<ssize_t>(chunk.size())) {
          out->bytes = fail(Errc::kStoreIo, "short read");
          out->done = true;
          co_return;
        }
        got += chunk;
        pos += chunk.size();
      }
    }
    out->bytes = std::move(got);
    out->done = true;
  }

  void start(const Digest& d, const std::string& header, Read* out,
             std::uint64_t max = ~0ull) {
    asio::co_spawn(asio::make_strand(bed_.ioc), client(this, d, header, max, out),
                   asio::detached);
  }

  // Runs the loop until `until` holds (a deadline, so that a regression fails, not hangs).
  template <typename F>
  bool runUntil(F until) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!until()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      bed_.ioc.restart();
      bed_.ioc.run_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  bool settled() {
    return runUntil([&] { return bed_.fetches->inflightCount() == 0; });
  }
  bool cachedWhole(const Digest& d, const std::string& body) {
    if (!runUntil([&] {
          auto c = bed_.fetches->openCached(d);
          return c && c.value().has_value();
        }))
      return false;
    auto c = bed_.fetches->openCached(d);
    std::string bytes(body.size(), '\0');
    return ::pread(c.value()->source->fd(), bytes.data(), bytes.size(), 0) ==
               static_cast<ssize_t>(body.size()) &&
           bytes == body;
  }

  testing::RegistryTestbed bed_{options()};
};

TEST_F(RangeReadsTest, AProbeOfABigBlobFetchesItsBytesOnlyAndKeepsNothing) {
  std::string body = content(4 * kMiB, 'a');
  Digest d = sha256Of(body);
  bed_.http.script(url(d), {.body = body});
  Read probe;
  start(d, "bytes=0-1", &probe);
  ASSERT_TRUE(runUntil([&] { return probe.done; }));
  ASSERT_TRUE(probe.bytes) << probe.bytes.error().message();
  EXPECT_TRUE(probe.bytes.value() == body.substr(0, 2));
  ASSERT_TRUE(probe.range);
  EXPECT_EQ(probe.size, body.size()) << "the size comes from the upstream's Content-Range";
  EXPECT_TRUE(settled());
  EXPECT_EQ(bed_.http.bodyBytes(url(d)), 2u) << "a probe must not pull the blob";
  auto cached = bed_.fetches->openCached(d);
  ASSERT_TRUE(cached);
  EXPECT_FALSE(cached.value().has_value()) << "unverified bytes are never cached";
  // A second span later: fetched again (nothing was kept), still only its bytes.
  Read tail;
  start(d, "bytes=-100", &tail);
  ASSERT_TRUE(runUntil([&] { return tail.done; }));
  ASSERT_TRUE(tail.bytes);
  EXPECT_TRUE(tail.bytes.value() == body.substr(body.size() - 100));
}

TEST_F(RangeReadsTest, ASmallBlobIsFetchedWholeAtItsFirstRangeAndCached) {
  std::string body = content(512 << 10, 'b');
  Digest d = sha256Of(body);
  bed_.http.script(url(d), {.body = body});
  Read r;
  start(d, "bytes=1000-1999", &r);
  ASSERT_TRUE(runUntil([&] { return r.done; }));
  ASSERT_TRUE(r.bytes) << r.bytes.error().message();
  EXPECT_TRUE(r.bytes.value() == body.substr(1000, 1000));
  EXPECT_TRUE(cachedWhole(d, body));
  EXPECT_TRUE(settled());
  // The span, the whole blob, and what was in flight when the fill reached the span (here one
  // scripted chunk of 64 KiB; on a network, what the socket held).
  EXPECT_LE(bed_.http.bodyBytes(url(d)), body.size() + 1000 + (64 << 10));
}

TEST_F(RangeReadsTest, ASpanFarAheadOfTheFillComesAtOnceAndTheFillSkipsIt) {
  std::string body = content(8 * kMiB, 'c');
  Digest d = sha256Of(body);
  // A slow upstream: 64 KiB every 4 ms, about half a second for the whole blob.
  bed_.http.script(url(d), {.body = body, .chunk = 64 << 10,
                            .chunk_delay = std::chrono::milliseconds(4)});
  Read whole;
  start(d, "bytes=0-", &whole);  // the whole blob, as a ranged GET: sent only once verified
  Read span;
  start(d, "bytes=7340032-7344127", &span);  // 4 KiB at 7 MiB
  ASSERT_TRUE(runUntil([&] { return span.done; }));
  EXPECT_FALSE(whole.done) << "the span waited for the fill";
  ASSERT_TRUE(span.bytes) << span.bytes.error().message();
  EXPECT_TRUE(span.bytes.value() == body.substr(7340032, 4096));
  ASSERT_TRUE(runUntil([&] { return whole.done; }));
  ASSERT_TRUE(whole.bytes) << whole.bytes.error().message();
  EXPECT_TRUE(whole.bytes.value() == body);
  EXPECT_TRUE(cachedWhole(d, body));
  EXPECT_TRUE(settled());
  // The fill stopped at the span and went on after it: each byte crossed about once.
  EXPECT_LE(bed_.http.bodyBytes(url(d)), body.size() + (512 << 10));
}

TEST_F(RangeReadsTest, ParallelOpenEndedChunksFetchEachByteAboutOnceAndTheBlobIsCached) {
  std::string body = content(8 * kMiB, 'd');
  Digest d = sha256Of(body);
  bed_.http.script(url(d), {.body = body, .chunk = 64 << 10,
                            .chunk_delay = std::chrono::milliseconds(2)});
  // containerd 2.1's chunked fetch: one request per chunk, "bytes=<offset>-", read one chunk,
  // close.
  std::vector<Read> chunks(8);
  for (int i = 0; i < 8; ++i)
    start(d, "bytes=" + std::to_string(i * kMiB) + "-", &chunks[i], kMiB);
  ASSERT_TRUE(runUntil([&] {
    return std::all_of(chunks.begin(), chunks.end(), [](const Read& r) { return r.done; });
  }));
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(chunks[i].bytes) << i << ": " << chunks[i].bytes.error().message();
    EXPECT_TRUE(chunks[i].bytes.value() == body.substr(i * kMiB, kMiB)) << i;
  }
  EXPECT_TRUE(cachedWhole(d, body)) << "an open-ended range starts the fill";
  EXPECT_TRUE(settled());
  EXPECT_LE(bed_.http.bodyBytes(url(d)), body.size() * 5 / 4);
}

TEST_F(RangeReadsTest, AWrongBlobReadByRangesIsNeverCached) {
  std::string body = content(2 * kMiB, 'e');
  Digest claimed = sha256Of(content(2 * kMiB, 'f'));  // the upstream sends other bytes
  bed_.http.script(url(claimed), {.body = body});
  Read r;
  start(claimed, "bytes=4096-", &r, 4096);  // open-ended: the fill starts and fails to verify
  // The range itself may complete (its bytes are unverified by nature) or be cut when the
  // mismatch is found first: both are right. What must hold: nothing is kept.
  ASSERT_TRUE(runUntil([&] { return r.done; }));
  EXPECT_TRUE(settled());
  auto cached = bed_.fetches->openCached(claimed);
  ASSERT_TRUE(cached);
  EXPECT_FALSE(cached.value().has_value());
  // The whole blob is never delivered complete.
  Read whole;
  start(claimed, "bytes=0-", &whole);
  ASSERT_TRUE(runUntil([&] { return whole.done; }));
  EXPECT_FALSE(whole.bytes) << "a whole answer completes only verified";
}

TEST_F(RangeReadsTest, SeveralRangesOfABlobNotCachedComeEachFromItsOwnSpan) {
  std::string body = content(8 * kMiB, 'h');
  Digest d = sha256Of(body);
  bed_.http.script(url(d), {.body = body, .chunk = 64 << 10,
                            .chunk_delay = std::chrono::milliseconds(4)});
  // SOCI's pattern: a probe, then several 1 MiB spans in one request.
  Read probe;
  start(d, "bytes=0-1", &probe);
  ASSERT_TRUE(runUntil([&] { return probe.done; }));
  Read spans;
  // Five ranges: more than the span retries one reader has at one offset, so each range must
  // get its own span.
  start(d,
        "bytes=6291456-7340031,1048576-2097151,4194304-5242879,3145728-3146751,7864320-7865343",
        &spans);
  ASSERT_TRUE(runUntil([&] { return spans.done; }));
  ASSERT_TRUE(spans.bytes) << spans.bytes.error().message();
  EXPECT_EQ(spans.ranges, 5u);
  EXPECT_TRUE(spans.bytes.value() == body.substr(6 * kMiB, kMiB) + body.substr(kMiB, kMiB) +
                                         body.substr(4 * kMiB, kMiB) +
                                         body.substr(3 * kMiB, 1024) +
                                         body.substr(7864320, 1024));
  EXPECT_TRUE(settled());
  // 3 MiB and 2 KiB asked (below ranges.fill_after): those bytes crossed, and nothing else.
  EXPECT_LE(bed_.http.bodyBytes(url(d)), 3 * kMiB + 2048 + 2 + (64 << 10));
  auto cached = bed_.fetches->openCached(d);
  ASSERT_TRUE(cached);
  EXPECT_FALSE(cached.value().has_value());
}

TEST_F(RangeReadsTest, ARangePastTheEndIsNotSatisfiableWithTheSize) {
  std::string body = content(2 * kMiB, 'g');
  Digest d = sha256Of(body);
  bed_.http.script(url(d), {.body = body});
  Read r;
  start(d, "bytes=3000000-3000010", &r);
  ASSERT_TRUE(runUntil([&] { return r.done; }));
  ASSERT_FALSE(r.bytes);
  EXPECT_EQ(r.bytes.error().code, Errc::kRangeInvalid) << r.bytes.error().message();
  EXPECT_EQ(r.bytes.error().detail, std::to_string(body.size()));
  EXPECT_TRUE(settled());
}

TEST_F(RangeReadsTest, AnUpstreamErrorBeforeTheSizeIsKnownReachesTheClient) {
  Digest d = sha256Of("missing");
  bed_.http.script(url(d), {.status = 404, .body = R"({"errors":[{"code":"BLOB_UNKNOWN"}]})"});
  Read r;
  start(d, "bytes=100-200", &r);
  ASSERT_TRUE(runUntil([&] { return r.done; }));
  ASSERT_FALSE(r.bytes);
  EXPECT_EQ(r.bytes.error().code, Errc::kBlobUnknown) << r.bytes.error().message();
  EXPECT_TRUE(settled());
}

}  // namespace
}  // namespace pullcache::registry
