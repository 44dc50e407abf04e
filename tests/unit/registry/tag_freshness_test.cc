// The decisions about a tag's cached digest (daemon/registry/tag_freshness.h).
#include "daemon/registry/tag_freshness.h"

#include <gtest/gtest.h>

namespace pullcache::registry {
namespace {

using std::chrono::milliseconds;

constexpr const char* kKnown =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

TEST(TagFreshness, AMappingYoungerThanTheTtlIsFreshAndAClockSteppedBackIsNot) {
  EXPECT_EQ(tagAge(0, milliseconds(60'000)), TagAge::kFresh);
  EXPECT_EQ(tagAge(59'999, milliseconds(60'000)), TagAge::kFresh);
  EXPECT_EQ(tagAge(60'000, milliseconds(60'000)), TagAge::kRevalidate);
  EXPECT_EQ(tagAge(-1, milliseconds(60'000)), TagAge::kRevalidate);
  EXPECT_EQ(tagAge(0, milliseconds(0)), TagAge::kRevalidate) << "tag_ttl 0: always revalidate";
}

Result<http::Response> head(int status, const std::string& digest = "") {
  http::Response r;
  r.status = status;
  if (!digest.empty()) r.headers.add("Docker-Content-Digest", digest);
  return r;
}

TEST(TagFreshness, WhatTheRevalidatingHeadSays) {
  struct Case {
    Result<http::Response> answer;
    Revalidation want;
  };
  const std::string other = "sha256:" + std::string(64, '2');
  const std::vector<Case> cases = {
      {head(200, kKnown), Revalidation::kStillCurrent},
      {head(200, other), Revalidation::kFetch},  // the tag moved
      {head(200), Revalidation::kFetch},         // no digest on HEAD: the GET tells
      {head(429), Revalidation::kServeStale},
      {head(500), Revalidation::kServeStale},
      {head(503), Revalidation::kServeStale},
      {head(404), Revalidation::kRefused},
      {head(401), Revalidation::kRefused},
      {Result<http::Response>(Error{Errc::kUpstreamUnavailable, "refused"}),
       Revalidation::kServeStale},
      {Result<http::Response>(Error{Errc::kTimeout, "stalled"}), Revalidation::kServeStale},
      {Result<http::Response>(Error{Errc::kDenied, "AccessDenied"}), Revalidation::kFetch},
  };
  for (const auto& c : cases) {
    const std::string what =
        c.answer ? std::to_string(c.answer.value().status) : c.answer.error().detail;
    EXPECT_EQ(judgeRevalidation(c.answer, kKnown), c.want) << what;
  }
}

TEST(TagFreshness, AFailedFetchIsAnsweredStaleOnlyWhenRetryingCouldHelp) {
  EXPECT_TRUE(staleOnFetchError(Error{Errc::kUpstreamUnavailable, "down"}));
  EXPECT_TRUE(staleOnFetchError(Error{Errc::kTooManyRequests, "429"}));
  EXPECT_FALSE(staleOnFetchError(Error{Errc::kManifestUnknown, "gone"}));
  EXPECT_TRUE(staleOnFetchError(Error{Errc::kDigestMismatch, "a flaky transfer"}));
  EXPECT_FALSE(staleOnFetchError(Error{Errc::kManifestInvalid, "no media type"}));
}

}  // namespace
}  // namespace pullcache::registry
