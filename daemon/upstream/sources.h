#pragma once
// What one source's answer means for a request to an upstream with several sources: a pure
// decision, unit-tested; RegistryClient carries it out.
//
// Final (the client gets it): any 2xx, a redirect not followed, 416, and the 4xx answers that
// every source would give alike (400, 405, ...), and a body over its limit (the same at every
// source). Handed to the next source: no answer at all, 429, 5xx, 401/403 (this source's
// credentials or permissions), and 404 (an ECR pull-through cache rule answers 404 for an image
// it has not imported and for a prefix without a rule). The breaker counts the failures of a
// source, not its 404s nor a refusal of one repository: those come from a working registry. A
// transfer its receiver stopped (RegistryClient sees that itself) is final and no failure.

#include <optional>

#include "common/error.h"
#include "daemon/http/client.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::upstream {

struct SourceVerdict {
  std::optional<metrics::FallbackReason> fallback;  // nullopt: final
  bool source_failed = false;                       // counts toward the source's breaker
  // When every source hands the request on, the answer to give is the first one that says
  // "try later" (so stale-if-error and containerd's own fallback apply), else the first one.
  bool try_later = false;
};

// `repository_refused`: the answer is a 401/403 to a token the source issued for this very
// repository (Docker Hub's answer for a repository that is missing or private): handed on, not a
// failure of the source.
SourceVerdict judgeSourceAnswer(const Result<http::Response>& answer,
                                bool repository_refused = false);

}  // namespace pullcache::upstream
