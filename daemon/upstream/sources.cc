#include "daemon/upstream/sources.h"

namespace pullcache::upstream {

using metrics::FallbackReason;

SourceVerdict judgeSourceAnswer(const Result<http::Response>& answer, bool repository_refused) {
  if (repository_refused) return {FallbackReason::kDenied, false, false};
  if (!answer) {
    if (answer.error().code == Errc::kTooLarge) return {};
    if (answer.error().code == Errc::kDenied) return {FallbackReason::kDenied, true, false};
    if (answer.error().code == Errc::kUpstreamBadResponse)
      return {FallbackReason::kError, true, true};
    return {FallbackReason::kUnreachable, true, true};
  }
  const int status = answer.value().status;
  if (status == 404) return {FallbackReason::kNotFound, false, false};
  if (status == 401 || status == 403) return {FallbackReason::kDenied, true, false};
  if (status == 429) return {FallbackReason::kThrottled, true, true};
  if (status >= 500) return {FallbackReason::kError, true, true};
  return {};
}

}  // namespace pullcache::upstream
