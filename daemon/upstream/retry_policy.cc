#include "daemon/upstream/retry_policy.h"

#include <charconv>

namespace pullcache::upstream {

std::optional<std::uint32_t> parseRetryAfterSeconds(std::string_view value) {
  std::uint32_t secs = 0;
  const char* end = value.data() + value.size();
  auto [p, ec] = std::from_chars(value.data(), end, secs);
  if (value.empty() || ec != std::errc() || p != end) return std::nullopt;
  return secs;
}

std::optional<std::chrono::milliseconds> retryDelay(const RetryPolicy& policy, int attempt,
                                                    const AttemptOutcome& outcome) {
  if (attempt >= policy.max_attempts || outcome.body_started) return std::nullopt;
  if (outcome.status == 0) {
    if (outcome.transport_error != Errc::kUpstreamUnavailable) return std::nullopt;
  } else if (outcome.status != 500 && outcome.status != 502 && outcome.status != 503 &&
             outcome.status != 504) {
    return std::nullopt;
  }
  auto delay = policy.first_delay;
  for (int i = 1; i < attempt; ++i) delay *= 4;
  // Delta-seconds only; an HTTP-date is not worth a clock dependency here: wait the default.
  if (auto secs = parseRetryAfterSeconds(outcome.retry_after)) {
    if (*secs > policy.max_delay.count() / 1000) return std::nullopt;
    delay = std::max(delay, std::chrono::milliseconds(std::uint64_t{*secs} * 1000));
  }
  return std::min(delay, policy.max_delay);
}

}  // namespace pullcache::upstream
