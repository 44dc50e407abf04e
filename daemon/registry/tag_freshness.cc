#include "daemon/registry/tag_freshness.h"

namespace pullcache::registry {

TagAge tagAge(std::int64_t age_ms, std::chrono::milliseconds ttl) noexcept {
  return age_ms >= 0 && age_ms < ttl.count() ? TagAge::kFresh : TagAge::kRevalidate;
}

Revalidation judgeRevalidation(const Result<http::Response>& head, std::string_view known_digest) {
  if (!head) return head.error().retryable() ? Revalidation::kServeStale : Revalidation::kFetch;
  const int status = head.value().status;
  if (status == 429 || status >= 500) return Revalidation::kServeStale;
  if (status != 200) return Revalidation::kRefused;
  return head.value().headers.get("docker-content-digest") == known_digest
             ? Revalidation::kStillCurrent
             : Revalidation::kFetch;
}

bool staleOnFetchError(const Error& error) noexcept { return error.retryable(); }

}  // namespace pullcache::registry
