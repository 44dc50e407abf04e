#include "daemon/upstream/source_breaker.h"

#include <algorithm>

namespace pullcache::upstream {

bool SourceBreaker::admit(TimePoint now) {
  std::lock_guard lock(mu_);
  if (!open_) return true;
  if (now < retry_at_) return false;
  retry_at_ = now + backoff_;  // this request is the try; the others keep skipping
  return true;
}

bool SourceBreaker::succeeded() {
  std::lock_guard lock(mu_);
  consecutive_ = 0;
  const bool was_open = open_;
  open_ = false;
  return was_open;
}

bool SourceBreaker::failed(TimePoint now) {
  std::lock_guard lock(mu_);
  if (open_) {
    // A try failed (or a request admitted before it opened): wait longer.
    backoff_ = std::min(backoff_ * 2, config_.max_backoff);
    retry_at_ = now + backoff_;
    return false;
  }
  if (++consecutive_ < config_.failures) return false;
  open_ = true;
  backoff_ = config_.backoff;
  retry_at_ = now + backoff_;
  return true;
}

std::chrono::milliseconds SourceBreaker::backoff() const {
  std::lock_guard lock(mu_);
  return backoff_;
}

bool SourceBreaker::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace pullcache::upstream
