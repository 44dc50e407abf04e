#include <gtest/gtest.h>

#include "common/http_range.h"
#include "common/media_types.h"
#include "common/oci_error.h"
#include "common/units.h"
#include "common/url.h"

namespace pullcache {
namespace {

std::optional<ByteRange> range(std::string_view h, std::uint64_t size) {
  auto r = resolveRange(h, size);
  EXPECT_TRUE(r) << h;
  return r ? r.value() : std::nullopt;
}

TEST(Range, SingleRanges) {
  auto open = range("bytes=100-", 1000);
  ASSERT_TRUE(open);
  EXPECT_EQ(open->first, 100u);
  EXPECT_EQ(open->last, 999u);
  EXPECT_EQ(open->contentRange(1000), "bytes 100-999/1000");
  auto closed = range("bytes=0-9", 1000);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->length(), 10u);
  auto clipped = range("bytes=990-5000", 1000);
  EXPECT_EQ(clipped->last, 999u);
  auto suffix = range("bytes=-10", 1000);
  EXPECT_EQ(suffix->first, 990u);
  auto big_suffix = range("bytes=-5000", 1000);
  EXPECT_EQ(big_suffix->first, 0u);
}

TEST(Range, IgnoredOrUnsatisfiable) {
  EXPECT_FALSE(range("", 10));
  EXPECT_FALSE(range("items=0-1", 10));
  EXPECT_FALSE(range("bytes=0-1,5-6", 10));  // multi-range: served whole
  EXPECT_FALSE(range("bytes=5-1", 10));
  EXPECT_FALSE(range("bytes=x-", 10));
  EXPECT_EQ(resolveRange("bytes=10-", 10).error().code, Errc::kRangeInvalid);
  EXPECT_EQ(resolveRange("bytes=-0", 10).error().code, Errc::kRangeInvalid);
}

TEST(Range, SeveralRangesResolveInTheOrderAskedAndDropWhatIsNotSatisfiable) {
  auto asks = parseRangeAsks("bytes=0-1, 100-199,,-10, 5000-6000");
  ASSERT_TRUE(asks);
  ASSERT_EQ(asks->size(), 4u);
  auto ranges = resolveRangeAsks(*asks, 1000, 16);
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges.value().size(), 3u) << "5000-6000 starts past the end: dropped";
  EXPECT_EQ(ranges.value()[0].contentRange(1000), "bytes 0-1/1000");
  EXPECT_EQ(ranges.value()[1].contentRange(1000), "bytes 100-199/1000");
  EXPECT_EQ(ranges.value()[2].contentRange(1000), "bytes 990-999/1000");
  // Not in ascending order is fine; each stays where it was asked.
  auto back = resolveRangeAsks(*parseRangeAsks("bytes=500-599,0-9"), 1000, 16);
  ASSERT_TRUE(back);
  EXPECT_EQ(back.value()[0].first, 500u);
}

TEST(Range, TooManyOrOverlappingRangesGetTheWholeBodyAndNoneSatisfiableIs416) {
  EXPECT_TRUE(resolveRangeAsks(*parseRangeAsks("bytes=0-1,2-3,4-5"), 100, 2).value().empty());
  EXPECT_TRUE(resolveRangeAsks(*parseRangeAsks("bytes=0-10,5-20"), 100, 16).value().empty());
  EXPECT_TRUE(resolveRangeAsks(*parseRangeAsks("bytes=0-,-10"), 100, 16).value().empty());
  EXPECT_EQ(resolveRangeAsks(*parseRangeAsks("bytes=200-300,400-"), 100, 16).error().code,
            Errc::kRangeInvalid);
  EXPECT_FALSE(parseRangeAsks("bytes=0-1,x-2")) << "one malformed range: the header is ignored";
  EXPECT_FALSE(parseRangeAsks("bytes=,"));
  std::string many = "bytes=0-0";
  for (int i = 1; i <= 1024; ++i) many += "," + std::to_string(2 * i) + "-" + std::to_string(2 * i);
  EXPECT_FALSE(parseRangeAsks(many)) << "past 1024 ranges the header is not even parsed";
}

TEST(Units, Sizes) {
  EXPECT_EQ(parseBytes("50GiB").value(), 50ull << 30);
  EXPECT_EQ(parseBytes("1.5MiB").value(), 1572864u);
  EXPECT_EQ(parseBytes("1000").value(), 1000u);
  EXPECT_EQ(parseBytes("2GB").value(), 2000000000u);
  EXPECT_FALSE(parseBytes("50XB"));
  EXPECT_FALSE(parseBytes("GiB"));
  EXPECT_EQ(std::get<Percent>(parseSizeSpec("20%").value()).value, 20.0);
  EXPECT_FALSE(parseSizeSpec("120%"));
  EXPECT_FALSE(parseSizeSpec("0%"));
}

TEST(Units, Durations) {
  EXPECT_EQ(parseDuration("60s").value().count(), 60000);
  EXPECT_EQ(parseDuration("5m").value().count(), 300000);
  EXPECT_EQ(parseDuration("250ms").value().count(), 250);
  EXPECT_EQ(parseDuration("2d").value().count(), 172800000);
  EXPECT_FALSE(parseDuration("5 fortnights"));
}

TEST(Url, QueryAndEncoding) {
  EXPECT_EQ(queryParam("ns=docker.io&x=1", "ns").value(), "docker.io");
  EXPECT_EQ(queryParam("a=1&ns=ghcr.io", "ns").value(), "ghcr.io");
  EXPECT_EQ(queryParam("ns=a%3A5000", "ns").value(), "a:5000");
  EXPECT_FALSE(queryParam("nsx=1", "ns"));
  EXPECT_FALSE(queryParam("ns=%zz", "ns"));
  EXPECT_EQ(urlEncode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
}

TEST(MediaTypes, AcceptMatching) {
  EXPECT_TRUE(media::accepts("", media::kOciIndex));
  EXPECT_TRUE(media::accepts("*/*", media::kOciIndex));
  EXPECT_TRUE(media::accepts("application/vnd.oci.image.index.v1+json, application/json",
                             media::kOciIndex));
  EXPECT_FALSE(media::accepts(media::kDockerManifest, media::kOciIndex));
  EXPECT_FALSE(media::accepts("application/vnd.oci.image.index.v1+json;q=0", media::kOciIndex));
  EXPECT_EQ(media::declaredMediaType(R"({"mediaType":"application/vnd.oci.image.index.v1+json"})"),
            media::kOciIndex);
  EXPECT_EQ(media::declaredMediaType("not json"), "");
}

TEST(OciError, TableMapsEveryClientVisibleCode) {
  EXPECT_EQ(ociError(Errc::kBlobUnknown).status, 404);
  EXPECT_EQ(ociError(Errc::kBlobUnknown).code, "BLOB_UNKNOWN");
  EXPECT_EQ(ociError(Errc::kManifestUnknown).code, "MANIFEST_UNKNOWN");
  EXPECT_EQ(ociError(Errc::kNameUnknown).code, "NAME_UNKNOWN");
  EXPECT_EQ(ociError(Errc::kNameInvalid).status, 400);
  EXPECT_EQ(ociError(Errc::kDigestInvalid).code, "DIGEST_INVALID");
  EXPECT_EQ(ociError(Errc::kUnsupported).status, 405);
  EXPECT_EQ(ociError(Errc::kTooManyRequests).status, 429);
  EXPECT_EQ(ociError(Errc::kTooManyRequests).code, "TOOMANYREQUESTS");
  // Upstream trouble is 5xx, so containerd tries its next host; pullcache never answers 401.
  EXPECT_EQ(ociError(Errc::kUpstreamUnavailable).status, 503);
  EXPECT_EQ(ociError(Errc::kUpstreamBadResponse).status, 502);
  EXPECT_NE(ociError(Errc::kUnauthorized).status, 401);
  EXPECT_EQ(ociErrorBody(Error{Errc::kBlobUnknown, "x"}),
            R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown: x"}]})");
}

}  // namespace
}  // namespace pullcache
