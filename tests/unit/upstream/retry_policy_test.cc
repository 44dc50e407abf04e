#include "daemon/upstream/retry_policy.h"

#include <gtest/gtest.h>

namespace pullcache::upstream {
namespace {

using std::chrono::milliseconds;

AttemptOutcome status(int s, std::string_view retry_after = {}) {
  AttemptOutcome o;
  o.status = s;
  o.retry_after = retry_after;
  return o;
}

AttemptOutcome transport(Errc e) {
  AttemptOutcome o;
  o.transport_error = e;
  return o;
}

TEST(RetryPolicy, TransientAnswersAreRetriedWithGrowingDelays) {
  RetryPolicy p;
  for (int s : {500, 502, 503, 504}) {
    EXPECT_EQ(retryDelay(p, 1, status(s)), milliseconds(100)) << s;
    EXPECT_EQ(retryDelay(p, 2, status(s)), milliseconds(400)) << s;
    EXPECT_EQ(retryDelay(p, 3, status(s)), std::nullopt) << s << ": three sends at most";
  }
}

TEST(RetryPolicy, FailedConnectionsAreRetriedButNotTimeouts) {
  RetryPolicy p;
  EXPECT_EQ(retryDelay(p, 1, transport(Errc::kUpstreamUnavailable)), milliseconds(100));
  EXPECT_EQ(retryDelay(p, 1, transport(Errc::kTimeout)), std::nullopt);
  EXPECT_EQ(retryDelay(p, 1, transport(Errc::kUpstreamBadResponse)), std::nullopt)
      << "a refused redirect target or a redirect loop does not get better";
  EXPECT_EQ(retryDelay(p, 1, transport(Errc::kTooLarge)), std::nullopt);
}

TEST(RetryPolicy, AnswersThatAreFinalAreNotRetried) {
  RetryPolicy p;
  for (int s : {200, 206, 307, 400, 401, 403, 404, 416, 429, 501})
    EXPECT_EQ(retryDelay(p, 1, status(s)), std::nullopt) << s;
}

TEST(RetryPolicy, NothingIsSentAgainOnceBodyBytesWentOut) {
  AttemptOutcome o = transport(Errc::kUpstreamUnavailable);
  o.body_started = true;
  EXPECT_EQ(retryDelay(RetryPolicy{}, 1, o), std::nullopt);
}

TEST(RetryPolicy, RetryAfterIsHonouredUpToTheCap) {
  RetryPolicy p;  // max_delay 2 s
  EXPECT_EQ(retryDelay(p, 1, status(503, "1")), milliseconds(1000));
  EXPECT_EQ(retryDelay(p, 1, status(503, "2")), milliseconds(2000));
  EXPECT_EQ(retryDelay(p, 1, status(503, "30")), std::nullopt)
      << "a long Retry-After goes to the client instead of holding its request";
  EXPECT_EQ(retryDelay(p, 1, status(503, "0")), milliseconds(100));
  EXPECT_EQ(retryDelay(p, 1, status(503, "Wed, 21 Oct 2015 07:28:00 GMT")), milliseconds(100));
  EXPECT_EQ(retryDelay(p, 1, status(503, "-1")), milliseconds(100));
}

TEST(RetryPolicy, RetryAfterIsDeltaSecondsOnly) {
  EXPECT_EQ(parseRetryAfterSeconds("120"), 120u);
  EXPECT_EQ(parseRetryAfterSeconds("0"), 0u);
  EXPECT_EQ(parseRetryAfterSeconds(""), std::nullopt);
  EXPECT_EQ(parseRetryAfterSeconds("12s"), std::nullopt);
  EXPECT_EQ(parseRetryAfterSeconds("-3"), std::nullopt);
  EXPECT_EQ(parseRetryAfterSeconds("99999999999"), std::nullopt);  // overflow
  EXPECT_EQ(parseRetryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

}  // namespace
}  // namespace pullcache::upstream
