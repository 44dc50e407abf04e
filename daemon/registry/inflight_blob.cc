#include "daemon/registry/inflight_blob.h"

#include <boost/asio/as_tuple.hpp>

namespace pullcache::registry {

InflightBlob::Snapshot InflightBlob::snapshot() const {
  std::lock_guard lock(mu_);
  return Snapshot{state_, size_, size_known_, written_};
}

void InflightBlob::wakeAll(std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<Timer>> waiters;
  waiters.swap(waiters_);
  lock.unlock();
  for (auto& t : waiters) {
    // Timers are not thread-safe: cancel on the reader's own executor (its strand). The reader
    // registered under mu_ before suspending, and its strand runs this only after it suspended.
    asio::post(t->get_executor(), [t] { t->cancel(); });
  }
}

void InflightBlob::setStreaming(std::uint64_t size, bool size_known) {
  std::unique_lock lock(mu_);
  if (state_ != State::kConnecting) return;
  state_ = State::kStreaming;
  size_ = size;
  size_known_ = size_known;
  wakeAll(lock);
}

void InflightBlob::setWritten(std::uint64_t written) {
  std::unique_lock lock(mu_);
  if (state_ == State::kVerified || state_ == State::kFailed) return;
  written_ = written;
  if (!waiters_.empty()) wakeAll(lock);
}

void InflightBlob::setReceived(std::uint64_t size) {
  std::unique_lock lock(mu_);
  if (state_ != State::kStreaming && state_ != State::kConnecting) return;
  state_ = State::kHashing;
  size_ = size;
  size_known_ = true;
  written_ = size;
  wakeAll(lock);
}

void InflightBlob::setVerified(std::uint64_t size) {
  std::unique_lock lock(mu_);
  state_ = State::kVerified;
  size_ = size;
  size_known_ = true;
  written_ = size;
  wakeAll(lock);
}

void InflightBlob::setFailed(Error error) {
  std::unique_lock lock(mu_);
  state_ = State::kFailed;
  error_ = std::move(error);
  wakeAll(lock);
}

Task<bool> InflightBlob::waitForChange(Snapshot seen) {
  auto timer = std::make_shared<Timer>(co_await asio::this_coro::executor);
  timer->expires_after(stall_timeout_);
  {
    // Register only if nothing changed since the caller looked, so no wake-up is lost.
    std::lock_guard lock(mu_);
    if (state_ != seen.state || written_ != seen.written) co_return true;
    waiters_.push_back(timer);
  }
  auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  if (!ec) {  // timed out: drop our registration
    std::lock_guard lock(mu_);
    std::erase(waiters_, timer);
    co_return false;
  }
  co_return true;
}

std::optional<std::uint64_t> InflightBlob::ready(Goal goal, const Snapshot& s,
                                                 std::uint64_t offset) {
  switch (goal) {
    case Goal::kStarted:
      if (s.state != State::kConnecting) return s.size;
      break;
    case Goal::kVerified:
      if (s.state == State::kVerified) return s.size;
      break;
    case Goal::kReadable:
      if (s.state == State::kVerified) return s.size;
      if ((s.state == State::kStreaming || s.state == State::kHashing) && s.size_known &&
          s.size > 0) {
        // Hold back the last byte until the digest is verified.
        std::uint64_t avail = s.written < s.size ? s.written : s.size - 1;
        if (avail > offset) return avail;
      }
      break;
  }
  return std::nullopt;
}

Task<Result<std::uint64_t>> InflightBlob::waitUntil(Goal goal, std::uint64_t offset) {
  for (;;) {
    Snapshot s;
    Error err;
    {
      std::lock_guard lock(mu_);
      s = Snapshot{state_, size_, size_known_, written_};
      err = error_;
    }
    if (s.state == State::kFailed) co_return err;
    if (auto value = ready(goal, s, offset)) co_return *value;
    bool changed = co_await waitForChange(s);
    if (!changed) {
      Snapshot now = snapshot();
      // While hashing, silence is not a stall: wait on (the hasher fails the fetch if the disk
      // stops answering, and that wakes us).
      if (now.state == State::kHashing) continue;
      if (now.state == s.state && now.written == s.written) {
        co_return fail(Errc::kTimeout, s.state == State::kConnecting
                                           ? "upstream sent no response headers in time"
                                           : "upstream transfer stalled");
      }
    }
  }
}

Task<Result<void>> InflightBlob::waitStarted() {
  auto r = co_await waitUntil(Goal::kStarted, 0);
  if (!r) co_return r.error();
  co_return ok();
}

Task<Result<std::uint64_t>> InflightBlob::waitVerified() { return waitUntil(Goal::kVerified, 0); }

Task<Result<std::uint64_t>> InflightBlob::readable(std::uint64_t offset) {
  return waitUntil(Goal::kReadable, offset);
}

}  // namespace pullcache::registry
