#include "daemon/registry/fetch_coordinator.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <charconv>

#include "common/blocking.h"
#include "common/log.h"
#include "common/scope_exit.h"
#include "common/spawn.h"
#include "daemon/registry/blob_hasher.h"
#include "daemon/registry/inflight_blob.h"

namespace pullcache::registry {
namespace {

constexpr std::uint64_t kPublishStep = 256u << 10;  // readers are woken at most every 256 KiB
constexpr std::uint64_t kHashStep = 1u << 20;       // the hasher is fed in 1 MiB steps

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("fetch");
  return log;
}

constexpr int kMaxPeerFailures = 3;  // members given up in one fetch before the upstream

// A failure of this node (its disk, its memory), not of the source it was reading.
bool isLocalFailure(Errc code) {
  return code == Errc::kStoreFull || code == Errc::kStoreIo || code == Errc::kInternal;
}

std::optional<std::uint64_t> parseU64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A committed blob file.
class StoredBlob final : public BlobSource {
 public:
  StoredBlob(UniqueFd fd, std::uint64_t size) : fd_(std::move(fd)), size_(size) {}
  [[nodiscard]] int fd() const noexcept override { return fd_.get(); }
  Task<Result<std::uint64_t>> readable(std::uint64_t) override { co_return size_; }

 private:
  UniqueFd fd_;
  std::uint64_t size_;
};

// The writer side of a fetch: runs on the upstream client's thread, appends to the staging
// file and publishes progress to the readers and to the hasher (which runs on the pool).
class BlobWriter final : public upstream::BodySink {
 public:
  // Writes into `reservation`'s staging file (already a memory file when the disk refused even
  // to create one); `memory_limit`: the largest blob that may be held in memory.
  BlobWriter(std::shared_ptr<InflightBlob> entry, std::shared_ptr<cache::Reservation> reservation,
             std::shared_ptr<BlobHasher> hasher, std::uint64_t memory_limit)
      : entry_(std::move(entry)),
        reservation_(std::move(reservation)),
        fd_(reservation_->fd()),
        hasher_(std::move(hasher)),
        in_memory_(reservation_->inMemory()),
        memory_limit_(memory_limit) {}

  void beginAttempt(std::uint64_t offset) {
    attempt_offset_ = offset;
    attempt_started_ = false;
  }

  bool onHeaders(int status, const Headers& headers) override {
    if (attempt_offset_ == 0) {
      if (status != 200)
        return reject(Errc::kUpstreamBadResponse,
                      "expected HTTP 200 for a blob, got " + std::to_string(status));
      if (auto dcd = headers.get("docker-content-digest");
          !dcd.empty() && dcd != entry_->digest().str()) {
        return reject(Errc::kDigestMismatch,
                      "upstream Docker-Content-Digest differs from the requested digest");
      }
      auto length = parseU64(headers.get("content-length"));
      size_known_ = length.has_value();
      size_ = length.value_or(0);
      // Decide before the first body byte: room is made for the blob while it downloads; a
      // blob the disk cannot take goes to memory (or, too large for that, fails now, so the
      // client falls back to the registry cleanly).
      // (Once: a fetch resumed from offset 0 comes through here again.)
      if (!in_memory_ && size_known_ && reservation_->claimed() == 0 &&
          !reservation_->claim(size_) &&
          !moveToMemory(Error{Errc::kStoreFull, "not enough free space for the blob"})) {
        return false;
      }
      if (in_memory_ && size_known_ && size_ > memory_limit_) return rejectTooLargeForMemory();
      entry_->setStreaming(size_, size_known_);  // readers may send headers from here on
    } else {
      // Resumption: the upstream must continue exactly where we stopped.
      std::string_view cr = headers.get("content-range");
      std::string expect = "bytes " + std::to_string(attempt_offset_) + "-";
      if (status != 206 || !cr.starts_with(expect)) {
        return reject(Errc::kUpstreamBadResponse,
                      "upstream did not honour the Range request of a resumed fetch");
      }
    }
    started_ = true;
    attempt_started_ = true;
    return true;
  }

  bool onData(const char* data, std::size_t size) override {
    if (size_known_ && written_ + size > size_)
      return reject(Errc::kUpstreamBadResponse, "upstream sent more bytes than Content-Length");
    if (in_memory_ && written_ + size > memory_limit_) return rejectTooLargeForMemory();
    if (auto w = writeAll(fd_, data, size); !w) {
      // The disk refused (ENOSPC, EIO, ...): go on in memory, serve, do not cache.
      if (in_memory_ || !moveToMemory(w.error())) return false;
      if (auto again = writeAll(fd_, data, size); !again) {
        error_ = again.error();
        return false;
      }
    }
    written_ += size;
    // Progress is published in steps, not per network read: every step wakes other threads.
    if (written_ - hashed_step_ >= kHashStep) {
      hasher_->advance(written_);
      hashed_step_ = written_;
    }
    if (written_ - published_ >= kPublishStep) publish();
    return true;
  }

  // Readers may send everything written so far (called at each step and when an attempt ends).
  void publish() {
    entry_->setWritten(written_);
    published_ = written_;
  }

  // Read after the transfer completed (the completion is posted after the last callback).
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }
  // The source that caused error() is given up; the next one starts clean.
  void clearError() { error_.reset(); }
  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] bool attemptStarted() const { return attempt_started_; }
  [[nodiscard]] std::uint64_t written() const { return written_; }
  [[nodiscard]] bool sizeKnown() const { return size_known_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  // The bytes are in memory, not on disk: serve them, never commit them.
  [[nodiscard]] bool inMemory() const { return in_memory_; }
  [[nodiscard]] const std::optional<Error>& diskError() const { return disk_error_; }

 private:
  bool reject(Errc code, std::string detail) {
    error_ = Error{code, std::move(detail)};
    return false;
  }

  bool rejectTooLargeForMemory() {
    return reject(Errc::kStoreFull, "the cache directory cannot take this blob (" +
                                        (disk_error_ ? disk_error_->message() : "") +
                                        ") and it is larger than cache.passthrough_max_bytes");
  }

  // Copies what was written so far into a memory file and switches the writer, the readers and
  // the hasher to it (same leading bytes, so a read in flight on the old file stays right).
  bool moveToMemory(const Error& cause) {
    disk_error_ = cause;
    if ((size_known_ && size_ > memory_limit_) || written_ > memory_limit_)
      return rejectTooLargeForMemory();
    UniqueFd mem(::memfd_create("pullcache-blob", MFD_CLOEXEC));
    if (!mem.valid()) {
      error_ = systemError(errno, "memfd_create");
      return false;
    }
    off_t from = 0;
    while (static_cast<std::uint64_t>(from) < written_) {
      ssize_t n = ::sendfile(mem.get(), entry_->fd(), &from,
                             static_cast<std::size_t>(written_ - static_cast<std::uint64_t>(from)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = n < 0 ? systemError(errno, "copy staging file to memory")
                       : Error{Errc::kStoreIo, "staging file is short"};
        return false;
      }
    }
    UniqueFd reader(::dup(mem.get()));  // readers use explicit offsets: a shared offset is fine
    if (!reader.valid()) {
      error_ = systemError(errno, "dup memory file");
      return false;
    }
    entry_->readFd()->replace(std::move(reader));
    fd_ = mem.get();
    memory_fd_ = std::move(mem);
    in_memory_ = true;
    return true;
  }

  std::shared_ptr<InflightBlob> entry_;
  std::shared_ptr<cache::Reservation> reservation_;
  int fd_;
  std::shared_ptr<BlobHasher> hasher_;
  bool in_memory_;
  std::uint64_t memory_limit_;
  UniqueFd memory_fd_;  // when the disk failed
  std::optional<Error> disk_error_;
  std::uint64_t attempt_offset_ = 0;
  bool started_ = false;
  bool attempt_started_ = false;
  bool size_known_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t published_ = 0;    // last value given to the readers
  std::uint64_t hashed_step_ = 0;  // last value given to the hasher
  std::optional<Error> error_;
};

}  // namespace

FetchCoordinator::FetchCoordinator(asio::io_context::executor_type executor,
                                   asio::thread_pool& pool, cache::BlobCache& cache,
                                   upstream::RegistryClient& client, FetchOptions options,
                                   metrics::Metrics* metrics, PeerSource* peers)
    : executor_(std::move(executor)),
      pool_(pool),
      cache_(cache),
      client_(client),
      options_(options),
      metrics_(metrics),
      peers_(peers) {}

FetchCoordinator::~FetchCoordinator() = default;

std::size_t FetchCoordinator::inflightCount() const {
  std::lock_guard lock(mu_);
  return inflight_.size();
}

std::optional<std::uint64_t> FetchCoordinator::inflightSize(const Digest& digest) {
  std::shared_ptr<InflightBlob> entry;
  {
    std::lock_guard lock(mu_);
    auto it = inflight_.find(digest.str());
    if (it == inflight_.end()) return std::nullopt;
    entry = it->second;
  }
  auto s = entry->snapshot();
  if ((s.state == InflightBlob::State::kStreaming || s.state == InflightBlob::State::kHashing ||
       s.state == InflightBlob::State::kVerified) &&
      s.size_known) {
    return s.size;
  }
  return std::nullopt;
}

Result<std::optional<BlobOpenResult>> FetchCoordinator::openCached(const Digest& digest) {
  auto file = cache_.lookup(digest);
  if (!file) return file.error();
  if (!file.value()) return std::optional<BlobOpenResult>{};
  const std::uint64_t size = file.value()->size;
  return std::optional<BlobOpenResult>{BlobOpenResult{
      std::make_shared<StoredBlob>(std::move(file.value()->fd), size), size, CacheResult::kHit}};
}

Task<Result<BlobOpenResult>> FetchCoordinator::open(
    std::shared_ptr<const upstream::Upstream> upstream, std::string repository, Digest digest,
    std::vector<std::string> trail) {
  auto cached = openCached(digest);
  if (!cached) co_return cached.error();
  if (cached.value()) co_return std::move(*cached.value());

  std::shared_ptr<InflightBlob> entry;
  bool starter = false;
  {
    std::lock_guard lock(mu_);
    // A failed fetch stays listed until its coroutine retires it, a moment after its readers
    // heard: a request in that moment starts a new fetch instead of joining the dead one.
    if (auto it = inflight_.find(digest.str());
        it != inflight_.end() && it->second->snapshot().state != InflightBlob::State::kFailed)
      entry = it->second;
  }
  std::shared_ptr<cache::Reservation> reservation;
  if (!entry) {
    auto reserved = cache_.reserve(digest);
    if (!reserved) co_return reserved.error();
    reservation = std::move(reserved).value();
    auto read_fd = reservation->openForReading();
    if (!read_fd) co_return read_fd.error();
    auto fresh =
        std::make_shared<InflightBlob>(digest, std::move(read_fd).value(), options_.stall_timeout);
    std::lock_guard lock(mu_);
    auto [it, inserted] = inflight_.try_emplace(digest.str(), fresh);
    if (!inserted && it->second->snapshot().state == InflightBlob::State::kFailed) {
      it->second = fresh;
      inserted = true;
    }
    entry = it->second;
    starter = inserted;
  }
  if (!starter) reservation.reset();  // lost the race: join the other fetch (file removed)
  if (starter) {
    fetches_started_.fetch_add(1);
    if (metrics_ != nullptr) metrics_->inflight_fetches.add(1);
    // Each fetch runs on a strand of its own: fetches of different blobs never wait on each other.
    asio::co_spawn(asio::make_strand(executor_),
                   runFetch(entry, std::move(upstream), std::move(repository),
                            std::move(reservation), std::move(trail)),
                   LogEscaped("blob fetch"));
  }

  auto started = co_await entry->waitStarted();
  if (!started) co_return started.error();
  auto snap = entry->snapshot();
  std::uint64_t size = snap.size;
  if (!snap.size_known) {  // no Content-Length upstream: the size is known only at the end
    auto verified = co_await entry->waitVerified();
    if (!verified) co_return verified.error();
    size = verified.value();
  }
  co_return BlobOpenResult{entry, size, starter ? CacheResult::kMiss : CacheResult::kCoalesced};
}

Task<void> FetchCoordinator::runFetch(std::shared_ptr<InflightBlob> entry,
                                      std::shared_ptr<const upstream::Upstream> upstream,
                                      std::string repository,
                                      std::shared_ptr<cache::Reservation> reservation,
                                      std::vector<std::string> trail) {
  const Digest digest = entry->digest();
  // However this ends, an exception included: the in-flight entry goes (else every later
  // request for this digest would wait on a dead fetch until the stall timeout, and fail,
  // until a restart), its readers are told, and the reservation (staging file, claimed bytes)
  // is given back unless committed.
  ScopeExit retire([&] {
    const auto state = entry->snapshot().state;
    if (state != InflightBlob::State::kVerified && state != InflightBlob::State::kFailed) {
      try {
        entry->setFailed(Error{Errc::kInternal, "internal error while fetching the blob"});
      } catch (...) {  // out of memory for the message: the readers still time out
      }
    }
    finishFetch(digest, entry.get());
  });
  auto hasher = std::make_shared<BlobHasher>(pool_, entry->readFd(), digest.algorithm());
  auto writer =
      std::make_shared<BlobWriter>(entry, reservation, hasher, options_.passthrough_max_bytes);
  std::optional<Error> failure;
  std::uint64_t offset = 0;
  int resumes = 0;
  auto t0 = std::chrono::steady_clock::now();
  // Cluster mode: the members to ask before the upstream (none when this node is the blob's
  // root). Members on the trail wait for this node: asking them would be a loop.
  std::vector<std::string> exclude = trail;
  std::vector<std::string> onward = trail;  // the trail of the requests this fetch sends
  std::vector<PeerHop> hops;
  if (peers_ != nullptr) {
    onward.push_back(peers_->self());
    hops = peers_->plan(digest, exclude);
  }
  std::size_t hop_index = 0;
  int peer_failures = 0;
  std::vector<std::string> contributors;  // members whose bytes are in the staging file
  for (;;) {
    const PeerHop* hop = hop_index < hops.size() ? &hops[hop_index] : nullptr;
    writer->beginAttempt(offset);
    const std::uint64_t before = writer->written();
    Result<upstream::Response> resp = Error{};
    if (hop != nullptr) {
      std::string ns = upstream->host;  // named: see common/blocking.h
      resp = co_await peers_->streamBlob(*hop, std::move(ns), repository, digest, offset, onward,
                                         writer);
    } else {
      resp = co_await client_.streamBlob(upstream, repository, digest.str(), offset, writer);
    }
    writer->publish();  // whatever the outcome, readers may have the bytes written so far
    const std::uint64_t got = writer->written() - before;
    if (metrics_ != nullptr && got > 0)
      metrics_->peers.sourceFetch(
          hop != nullptr ? metrics::Source::kPeer : metrics::Source::kUpstream, got);
    if (hop != nullptr) {
      if (got > 0 &&
          std::find(contributors.begin(), contributors.end(), hop->member) == contributors.end())
        contributors.push_back(hop->member);
      if (writer->error() && isLocalFailure(writer->error()->code)) {
        failure = writer->error();  // the disk or memory, not the peer: nobody else does better
        break;
      }
      const bool complete = resp && writer->attemptStarted() && !writer->error() &&
                            (!writer->sizeKnown() || writer->written() >= writer->size());
      if (complete) break;
      const int status = resp && !writer->attemptStarted() ? resp.value().status : 0;
      const bool bad_answer = writer->error().has_value();  // wrong digest header, Range, length
      writer->clearError();
      offset = writer->written();
      // The root is busy (its own 429, or its listener full: a canned 503): our tree parent,
      // which never refuses a child.
      const bool busy = (status == 429 && resp.value().headers.has(kBusyHeader)) ||
                        (status == 503 && !hop->as_child &&
                         !resp.value().headers.has("docker-distribution-api-version"));
      if (busy) {
        ++hop_index;
        continue;
      }
      const std::string member = hop->member;
      if (status == 429) {
        // The upstream throttles the member that asked it: asking it again ourselves would only
        // add to that. The client gets the 429 (and its Retry-After) and comes back later.
        failure =
            upstream::upstreamStatusError(resp.value(), Errc::kBlobUnknown,
                                          "blob " + digest.str() + " (via peer " + member + ")");
        break;
      }
      if (status != 0 && status != 401) {
        // The member answered, with an error (it could not get the blob either, or does not
        // mirror this registry): the upstream's own answer is what the client should get.
        if (metrics_ != nullptr) metrics_->peers.fetchError(member, metrics::PeerError::kStatus);
        logger()->info("peer {} answered {} for {}; fetching from the upstream", member, status,
                       digest.str());
        hops.clear();
        continue;
      }
      const auto reason = status == 401 || bad_answer ? metrics::PeerError::kStatus
                          : writer->attemptStarted()  ? metrics::PeerError::kStall
                                                      : metrics::PeerError::kConnect;
      peers_->failed(member, reason);
      exclude.push_back(member);
      hops = ++peer_failures < kMaxPeerFailures ? peers_->plan(digest, exclude)
                                                : std::vector<PeerHop>{};
      hop_index = 0;
      logger()->info("{} from peer {} failed at byte {} ({}); next: {}", digest.str(), member,
                     offset, resp ? "status " + std::to_string(status) : resp.error().message(),
                     hops.empty() ? std::string("the upstream") : hops.front().member);
      continue;
    }
    if (writer->error()) {
      failure = writer->error();
      break;
    }
    bool incomplete = !resp || (writer->sizeKnown() && writer->written() < writer->size());
    if (resp && !writer->attemptStarted()) {  // a non-2xx answer
      failure =
          upstream::upstreamStatusError(resp.value(), Errc::kBlobUnknown, "blob " + digest.str());
      break;
    }
    if (!incomplete) break;
    if (writer->started() && resumes < options_.max_resumes) {
      ++resumes;
      offset = writer->written();
      logger()->info(
          "resuming {} from {} at byte {} (attempt {}): {}", digest.str(), upstream->host, offset,
          resumes, resp ? std::string("body shorter than Content-Length") : resp.error().message());
      continue;
    }
    failure = resp ? Error{Errc::kUpstreamBadResponse, "upstream body shorter than Content-Length"}
                   : resp.error();
    break;
  }
  if (!failure) {
    entry->setReceived(writer->written());  // readers stop counting stall time: we are hashing
    auto hashed = co_await hasher->finish(writer->written());
    if (!hashed) {
      failure = hashed.error();
    } else if (hashed.value() != digest) {
      std::string from = "upstream " + upstream->host;
      for (const auto& m : contributors) {
        from += " and peer " + m;
        peers_->failed(m, metrics::PeerError::kDigest);
      }
      if (!contributors.empty()) peers_->poisoned(digest);
      failure = Error{Errc::kDigestMismatch, from + " sent content hashing to " +
                                                 hashed.value().str() + " for " + digest.str()};
    }
  }
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (failure && failure->code == Errc::kDigestMismatch && contributors.empty() &&
      upstream->metrics != nullptr) {
    upstream->metrics->verify_failures.inc();
  }
  if (writer->diskError()) reservation->noteWriteError(*writer->diskError());
  if (failure) {
    logger()->warn("fetch of {} from {}/{} failed after {} ms: {}", digest.str(), upstream->host,
                   repository, ms, failure->message());
    // The staging file goes before the readers hear of the failure (the writer holds the other
    // reference to the reservation): whoever sees the error sees no leftover file.
    writer.reset();
    reservation.reset();
    entry->setFailed(*failure);
    co_return;
  }
  const std::uint64_t size = writer->written();
  entry->setVerified(size);  // readers may send the last bytes now
  if (writer->inMemory()) {
    // Served from memory to every reader; nothing to keep. The memory goes with the last one.
    logger()->info(
        "served {} ({} bytes) from {}/{} without caching it (the cache directory "
        "failed) in {} ms",
        digest.str(), size, upstream->host, repository, ms);
    co_return;
  }
  std::function<Result<void>()> commit = [this, reservation, size]() -> Result<void> {
    return cache_.commit(*reservation, size);
  };
  auto committed = co_await runBlocking(pool_, std::move(commit));
  if (!committed) {
    logger()->error("could not keep {} ({} bytes): {}; it was served but is not cached",
                    digest.str(), size, committed.error().message());
  } else {
    logger()->info("cached {} ({} bytes) from {}/{} in {} ms", digest.str(), size, upstream->host,
                   repository, ms);
  }
}

void FetchCoordinator::finishFetch(const Digest& digest, const InflightBlob* entry) {
  if (metrics_ != nullptr) metrics_->inflight_fetches.add(-1);
  std::lock_guard lock(mu_);
  if (auto it = inflight_.find(digest.str()); it != inflight_.end() && it->second.get() == entry)
    inflight_.erase(it);
}

}  // namespace pullcache::registry
