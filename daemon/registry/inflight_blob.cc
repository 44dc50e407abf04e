#include "daemon/registry/inflight_blob.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>

namespace pullcache::registry {

InflightBlob::Snapshot InflightBlob::snapshotLocked() const {
  return Snapshot{state_, size_, size_known_, filled_.prefix(), version_};
}

InflightBlob::Snapshot InflightBlob::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshotLocked();
}

void InflightBlob::changedLocked(std::unique_lock<std::mutex>& lock) {
  ++version_;
  if (waiters_.empty()) return;
  std::vector<std::shared_ptr<Timer>> waiters;
  waiters.swap(waiters_);
  lock.unlock();
  for (auto& t : waiters) {
    // Timers are not thread-safe: cancel on the reader's own executor (its strand). The reader
    // registered under mu_ before suspending, and its strand runs this only after it suspended.
    asio::post(t->get_executor(), [t] { t->cancel(); });
  }
}

bool InflightBlob::setStreaming(std::uint64_t size, bool size_known) {
  std::unique_lock lock(mu_);
  if (state_ != State::kConnecting) return !(size_known && size_known_ && size != size_);
  state_ = State::kStreaming;
  size_ = size;
  size_known_ = size_known;
  changedLocked(lock);
  return true;
}

void InflightBlob::setWritten(std::uint64_t written) { addFilled(0, written); }

std::uint64_t InflightBlob::addFilled(std::uint64_t begin, std::uint64_t end, int writer) {
  std::lock_guard writes(write_mu_);  // after any write that looked before this publish
  std::unique_lock lock(mu_);
  if (state_ == State::kVerified || state_ == State::kFailed) return filled_.prefix();
  filled_.add(begin, end);
  for (auto& w : writers_)
    if (w.id == writer) w.pos = end;
  const std::uint64_t prefix = filled_.prefix();
  changedLocked(lock);
  return prefix;
}

Result<std::size_t> InflightBlob::writeUnfilled(int fd, const char* data, std::size_t size,
                                                std::uint64_t pos, std::uint64_t end, bool span) {
  std::lock_guard writes(write_mu_);
  std::uint64_t limit = 0;
  {
    std::lock_guard lock(mu_);
    if (span && (in_memory_ || (state_ != State::kConnecting && state_ != State::kStreaming)))
      return std::size_t{0};
    limit = std::min(end, filled_.nextFilled(pos));
  }
  if (limit <= pos) return std::size_t{0};
  const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(size, limit - pos));
  if (auto w = writeAllAt(fd, data, take, pos); !w) return w.error();
  return take;
}

std::uint64_t InflightBlob::nextFilled(std::uint64_t offset) const {
  std::lock_guard lock(mu_);
  return filled_.nextFilled(offset);
}

int InflightBlob::addWriter(std::uint64_t pos, std::uint64_t end) {
  std::unique_lock lock(mu_);
  const int id = next_writer_++;
  writers_.push_back(Writer{id, pos, end});
  changedLocked(lock);
  return id;
}

void InflightBlob::moveWriter(int id, std::uint64_t pos) {
  std::lock_guard lock(mu_);
  for (auto& w : writers_)
    if (w.id == id) w.pos = pos;
}

void InflightBlob::removeWriter(int id) {
  std::unique_lock lock(mu_);
  std::erase_if(writers_, [id](const Writer& w) { return w.id == id; });
  changedLocked(lock);
}

void InflightBlob::setReceived(std::uint64_t size) {
  std::unique_lock lock(mu_);
  if (state_ != State::kStreaming && state_ != State::kConnecting) return;
  state_ = State::kHashing;
  size_ = size;
  size_known_ = true;
  filled_.add(0, size);
  changedLocked(lock);
}

void InflightBlob::setVerified(std::uint64_t size) {
  std::unique_lock lock(mu_);
  state_ = State::kVerified;
  size_ = size;
  size_known_ = true;
  filled_.add(0, size);
  changedLocked(lock);
}

void InflightBlob::setFailed(Error error) {
  std::unique_lock lock(mu_);
  if (state_ == State::kFailed || state_ == State::kVerified) return;
  state_ = State::kFailed;
  error_ = std::move(error);
  changedLocked(lock);
}

Result<void> InflightBlob::moveToMemory(const std::function<Result<void>()>& move) {
  std::lock_guard writes(write_mu_);  // no span writes the old file during the copy
  auto moved = move();
  if (!moved) return moved;
  std::unique_lock lock(mu_);
  in_memory_ = true;
  changedLocked(lock);
  return ok();
}

bool InflightBlob::inMemory() const {
  std::lock_guard lock(mu_);
  return in_memory_;
}

InflightBlob::Look InflightBlob::look(std::uint64_t offset, bool hold_last,
                                      std::uint64_t lookahead) const {
  std::lock_guard lock(mu_);
  Look l{snapshotLocked(), {}, std::nullopt, false};
  switch (state_) {
    case State::kFailed:
      l.error = error_;
      return l;
    case State::kVerified:
      if (offset < size_) l.until = size_;
      return l;
    case State::kConnecting:
      break;
    case State::kStreaming:
    case State::kHashing:
      if (!size_known_ || size_ == 0) break;
      {
        std::uint64_t end = std::min(filled_.filledFrom(offset), size_);
        if (hold_last && end >= size_) {
          end = size_ - 1;   // the last byte waits for the digest
          l.heading = true;  // and the fill is the one that checks it
        }
        if (end > offset) l.until = end;
      }
      break;
  }
  if (state_ == State::kHashing) l.heading = true;
  for (const auto& w : writers_) {
    if (w.pos <= offset && offset < w.end && offset - w.pos < lookahead) l.heading = true;
  }
  return l;
}

Task<bool> InflightBlob::waitForChange(std::uint64_t seen) {
  auto timer = std::make_shared<Timer>(co_await asio::this_coro::executor);
  timer->expires_after(stall_timeout_);
  {
    // Register only if nothing changed since the caller looked, so no wake-up is lost.
    std::lock_guard lock(mu_);
    if (version_ != seen) co_return true;
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

namespace {

Error stalled(InflightBlob::State state) {
  return Error{Errc::kTimeout, state == InflightBlob::State::kConnecting
                                   ? "upstream sent no response headers in time"
                                   : "upstream transfer stalled"};
}

}  // namespace

Task<Result<std::uint64_t>> InflightBlob::waitStartedOrVerified(bool verified) {
  for (;;) {
    Snapshot s;
    Error err;
    {
      std::lock_guard lock(mu_);
      s = snapshotLocked();
      err = error_;
    }
    if (s.state == State::kFailed) co_return err;
    if (s.state == State::kVerified || (!verified && s.state != State::kConnecting))
      co_return s.size;
    const bool changed = co_await waitForChange(s.version);
    if (!changed && s.state != State::kHashing) co_return stalled(s.state);
  }
}

Task<Result<void>> InflightBlob::waitStarted() {
  auto r = co_await waitStartedOrVerified(false);
  if (!r) co_return r.error();
  co_return ok();
}

Task<Result<std::uint64_t>> InflightBlob::waitVerified() { return waitStartedOrVerified(true); }

Task<Result<std::uint64_t>> InflightBlob::readable(std::uint64_t offset) {
  for (;;) {
    Look l = look(offset, /*hold_last=*/true, 0);
    if (l.snapshot.state == State::kFailed) co_return l.error;
    if (l.until) co_return *l.until;
    // While hashing, silence is not a stall: wait on (the hasher fails the fetch if the disk
    // stops answering, and that wakes us).
    const bool changed = co_await waitForChange(l.snapshot.version);
    if (!changed && l.snapshot.state != State::kHashing) co_return stalled(l.snapshot.state);
  }
}

}  // namespace pullcache::registry
