#pragma once
// When an upstream request is worth sending again: a pure decision (no I/O, no clock), so each
// rule has a unit test. RegistryClient carries it out.
//
// Retried: a connection that failed before any response (refused, reset, DNS) and the answers
// that mean "a moment later may work" (500, 502, 503, 504). Not retried: timeouts (a stalled
// upstream has already cost a full stall period), 429 (the registry said when: the client is
// told, with its Retry-After), anything else, and any transfer that delivered body bytes.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/error.h"

namespace pullcache::upstream {

struct RetryPolicy {
  int max_attempts = 3;                     // the first try included
  std::chrono::milliseconds first_delay{100};  // then x4: 100 ms, 400 ms
  std::chrono::milliseconds max_delay{2'000};  // a longer Retry-After is not waited for
};

struct AttemptOutcome {
  int status = 0;                       // 0: no response (transport failure)
  Errc transport_error = Errc::kOk;     // with status 0
  std::string_view retry_after;         // the response's Retry-After, if any
  bool body_started = false;            // bytes of a 2xx body reached the receiver
};

// A Retry-After value in delta-seconds ("120"); nullopt for an HTTP-date, garbage or nothing.
std::optional<std::uint32_t> parseRetryAfterSeconds(std::string_view value);

// The delay before attempt `attempt + 1`, or nullopt to give up with this outcome.
// `attempt` counts from 1.
std::optional<std::chrono::milliseconds> retryDelay(const RetryPolicy& policy, int attempt,
                                                    const AttemptOutcome& outcome);

}  // namespace pullcache::upstream
