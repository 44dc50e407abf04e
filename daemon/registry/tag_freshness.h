#pragma once
// What a tag's cached digest is worth, as pure functions beside retry_policy and eviction_plan
// (unit-tested without a registry; ManifestHandler carries them out):
//   - a mapping younger than tag_ttl is served as it is; an older one is revalidated with a
//     HEAD (cheap, and not counted against Docker Hub's pull limit);
//   - the HEAD's answer: the same digest renews the mapping; no answer, 429 or 5xx serves the
//     known digest stale (stale-if-error); another refusal (404, 401, ...) is the client's
//     answer; a 200 with another digest (the tag moved), with none, or an error that retrying
//     would not help (the fetch then gives the real answer): fetch it;
//   - a fetch that fails in a way that retrying could help is answered stale when a digest is
//     known.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "daemon/http/client.h"

namespace pullcache::registry {

enum class TagAge { kFresh, kRevalidate };
// `age_ms` < 0 (the clock stepped back) is not trusted: revalidate.
TagAge tagAge(std::int64_t age_ms, std::chrono::milliseconds ttl) noexcept;

enum class Revalidation { kStillCurrent, kServeStale, kRefused, kFetch };
Revalidation judgeRevalidation(const Result<http::Response>& head, std::string_view known_digest);

// A fetch of the tag failed with `error`: may the known digest be served instead?
bool staleOnFetchError(const Error& error) noexcept;

}  // namespace pullcache::registry
