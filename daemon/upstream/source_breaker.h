#pragma once
// A small circuit breaker for one source of an upstream with several (upstreams[].sources):
// `failures` consecutive failures open it; while open the source is passed over, and once its
// backoff has passed one request tries it again (the others still skip it); that try closing
// it or, failing, doubling the backoff up to `max_backoff`. Times are passed in, so the logic
// is tested without a clock. Thread-safe: requests of any strand report to it.

#include <chrono>
#include <mutex>

#include "daemon/config/config.h"

namespace pullcache::upstream {

class SourceBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit SourceBreaker(config::SourceBreakerConfig config) : config_(config) {}

  // Whether a request should try this source now. Closed: yes. Open: no, except for the first
  // request after the backoff has passed (the try; the next one is due a backoff later).
  [[nodiscard]] bool admit(TimePoint now);
  // The source answered as a working registry does (2xx, 404, ...). Returns true when that
  // closed an open breaker.
  bool succeeded();
  // Unreachable, throttled, failing or refusing. Returns true when this failure opened it.
  bool failed(TimePoint now);
  [[nodiscard]] bool open() const;
  // The current wait between tries while open.
  [[nodiscard]] std::chrono::milliseconds backoff() const;

 private:
  const config::SourceBreakerConfig config_;
  mutable std::mutex mu_;
  int consecutive_ = 0;                  // guarded by mu_
  bool open_ = false;                    // guarded by mu_
  std::chrono::milliseconds backoff_{};  // guarded by mu_; the current one while open
  TimePoint retry_at_{};                 // guarded by mu_; when the next try is due
};

}  // namespace pullcache::upstream
