#include "daemon/registry/blob_hasher.h"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <cerrno>

namespace pullcache::registry {
namespace {

constexpr std::uint64_t kSliceBytes = 4u << 20;
constexpr std::size_t kReadBytes = 256u << 10;

}  // namespace

BlobHasher::BlobHasher(asio::thread_pool& pool, std::shared_ptr<SwitchableFd> read_fd,
                       DigestAlgorithm algorithm)
    : pool_(pool), fd_(std::move(read_fd)), hasher_(algorithm) {}

void BlobHasher::advance(std::uint64_t written) {
  std::lock_guard lock(mu_);
  written_ = written;
  if (!scheduled_ && hashed_ < written_ && !error_) {
    scheduled_ = true;
    asio::post(pool_, [self = shared_from_this()] { self->runSlice(); });
  }
}

void BlobHasher::wakeLocked(std::vector<std::shared_ptr<asio::steady_timer>>& out) {
  out.swap(waiters_);
}

void BlobHasher::runSlice() {
  std::uint64_t from;
  std::uint64_t to;
  {
    std::lock_guard lock(mu_);
    from = hashed_;
    to = std::min(written_, hashed_ + kSliceBytes);
  }
  std::unique_ptr<char[]> buf(new char[kReadBytes]);  // not zero-filled: pread overwrites it
  std::optional<Error> failure;
  std::uint64_t pos = from;
  while (pos < to) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kReadBytes, to - pos));
    ssize_t n = ::pread(fd_->get(), buf.get(), want, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure = n < 0 ? systemError(errno, "read staging file")
                      : Error{Errc::kStoreIo, "staging file is short"};
      break;
    }
    hasher_.update(buf.get(), static_cast<std::size_t>(n));
    pos += static_cast<std::uint64_t>(n);
  }
  std::vector<std::shared_ptr<asio::steady_timer>> wake;
  {
    std::lock_guard lock(mu_);
    hashed_ = pos;
    if (failure) error_ = failure;
    if (!error_ && final_size_ && hashed_ == *final_size_ && !digest_) digest_ = hasher_.finish();
    if (!error_ && hashed_ < written_) {
      asio::post(pool_, [self = shared_from_this()] { self->runSlice(); });  // stays scheduled
    } else {
      scheduled_ = false;
    }
    if (error_ || digest_) wakeLocked(wake);
  }
  for (auto& t : wake) asio::post(t->get_executor(), [t] { t->cancel(); });
}

Task<Result<Digest>> BlobHasher::finish(std::uint64_t size, std::chrono::milliseconds stall) {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  std::uint64_t seen = 0;
  {
    std::lock_guard lock(mu_);
    final_size_ = size;
    written_ = size;  // the writer is done: everything up to `size` is in the file
    if (!scheduled_ && hashed_ < written_ && !error_) {
      scheduled_ = true;
      asio::post(pool_, [self = shared_from_this()] { self->runSlice(); });
    }
    if (!error_ && !digest_ && hashed_ == size && !scheduled_) digest_ = hasher_.finish();
    if (error_) co_return *error_;
    if (digest_) co_return *digest_;
    waiters_.push_back(timer);  // runSlice finishes the digest and wakes us
    seen = hashed_;
  }
  for (;;) {
    timer->expires_after(stall);
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(mu_);
    if (error_) co_return *error_;
    if (digest_) co_return *digest_;
    // Woken by the deadline: fail only if hashing made no progress in a whole period (a disk
    // that stopped answering), not because a large blob takes long.
    if (hashed_ == seen) {
      co_return Error{Errc::kTimeout, "hashing the staging file made no progress for " +
                                          std::to_string(stall.count()) + " ms at byte " +
                                          std::to_string(hashed_)};
    }
    seen = hashed_;
  }
}

}  // namespace pullcache::registry
