#include "daemon/registry/fetch_coordinator.h"

#include <algorithm>

#include "common/blocking.h"
#include "common/log.h"
#include "common/scope_exit.h"
#include "common/spawn.h"
#include "daemon/registry/blob_hasher.h"
#include "daemon/registry/blob_writer.h"
#include "daemon/registry/inflight_blob.h"

namespace pullcache::registry {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("fetch");
  return log;
}

constexpr int kMaxPeerFailures = 3;  // members given up in one fetch before the upstream

// A failure of this node (its disk, its memory), not of the source it was reading.
bool isLocalFailure(Errc code) {
  return code == Errc::kStoreFull || code == Errc::kStoreIo || code == Errc::kInternal;
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
    entry = it->second->entry;
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

Result<std::shared_ptr<FetchCoordinator::Flight>> FetchCoordinator::flightFor(
    const std::shared_ptr<const upstream::Upstream>& up, const std::string& repository,
    const Digest& digest) {
  {
    std::lock_guard lock(mu_);
    // A failed fetch stays listed until its coroutine retires it, a moment after its readers
    // heard: a request in that moment starts a new flight instead of joining the dead one.
    if (auto it = inflight_.find(digest.str());
        it != inflight_.end() &&
        it->second->entry->snapshot().state != InflightBlob::State::kFailed) {
      ++it->second->readers;
      return it->second;
    }
  }
  auto reserved = cache_.reserve(digest);
  if (!reserved) return reserved.error();
  auto read_fd = reserved.value()->openForReading();
  if (!read_fd) return read_fd.error();
  auto fresh = std::make_shared<Flight>();
  fresh->entry =
      std::make_shared<InflightBlob>(digest, std::move(read_fd).value(), options_.stall_timeout);
  fresh->reservation = std::move(reserved).value();
  fresh->upstream = up;
  fresh->repository = repository;
  std::lock_guard lock(mu_);
  auto [it, inserted] = inflight_.try_emplace(digest.str(), fresh);
  if (!inserted && it->second->entry->snapshot().state == InflightBlob::State::kFailed)
    it->second = fresh;
  // Lost the race: join the other flight (ours, with its staging file, goes on return).
  ++it->second->readers;
  return it->second;
}

void FetchCoordinator::startFill(const std::shared_ptr<Flight>& flight,
                                 std::vector<std::string> trail) {
  {
    std::lock_guard lock(mu_);
    if (flight->filling) return;
    flight->filling = true;
    ranged_asked_.erase(flight->entry->digest().str());
  }
  fetches_started_.fetch_add(1);
  if (metrics_ != nullptr) metrics_->inflight_fetches.add(1);
  // Each fetch runs on a strand of its own: fetches of different blobs never wait on each other.
  asio::co_spawn(asio::make_strand(executor_), runFetch(flight, std::move(trail)),
                 LogEscaped("blob fetch"));
}

Task<Result<BlobOpenResult>> FetchCoordinator::open(
    std::shared_ptr<const upstream::Upstream> upstream, std::string repository, Digest digest,
    std::vector<std::string> trail) {
  auto cached = openCached(digest);
  if (!cached) co_return cached.error();
  if (cached.value()) co_return std::move(*cached.value());

  auto found = flightFor(upstream, repository, digest);
  if (!found) co_return found.error();
  std::shared_ptr<Flight> flight = std::move(found).value();
  bool starter = false;
  {
    std::lock_guard lock(mu_);
    starter = !flight->filling;
    flight->whole_asked = true;
  }
  if (starter) startFill(flight, std::move(trail));
  released(flight, /*span=*/false);  // flightFor's claim: the fill holds the flight now
  const std::shared_ptr<InflightBlob>& entry = flight->entry;

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

Task<void> FetchCoordinator::runFetch(std::shared_ptr<Flight> flight,
                                      std::vector<std::string> trail) {
  const std::shared_ptr<InflightBlob> entry = flight->entry;
  const std::shared_ptr<const upstream::Upstream>& upstream = flight->upstream;
  const std::string& repository = flight->repository;
  std::shared_ptr<cache::Reservation> reservation = flight->reservation;
  const Digest digest = entry->digest();
  // However this ends, an exception included: the flight is unlisted (else every later
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
    if (metrics_ != nullptr) metrics_->inflight_fetches.add(-1);
    unlist(*flight);
  });
  auto hasher = std::make_shared<BlobHasher>(pool_, entry->readFd(), digest.algorithm());
  auto writer =
      std::make_shared<BlobWriter>(entry, reservation, hasher, options_.passthrough_max_bytes);
  std::optional<Error> failure;
  // Range readers may have put the front of the blob there already.
  std::uint64_t offset = writer->skipFilled();
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
    if (auto s = entry->snapshot();
        !writer->started() && s.size_known && s.size > 0 && offset >= s.size) {
      offset = s.size - 1;  // spans wrote it all: one byte's request tells this writer the size
    }
    writer->beginAttempt(offset);
    const std::uint64_t before = writer->received();
    Result<http::Response> resp = Error{};
    if (hop != nullptr) {
      std::string ns = upstream->host;  // named: see common/blocking.h
      resp = co_await peers_->streamBlob(*hop, std::move(ns), repository, digest, offset, onward,
                                         writer);
    } else {
      resp = co_await client_.streamBlob(upstream, repository, digest.str(), offset, writer);
    }
    writer->publish();  // whatever the outcome, readers may have the bytes written so far
    const std::uint64_t got = writer->received() - before;
    if (metrics_ != nullptr && got > 0) {
      metrics_->peers.sourceFetch(
          hop != nullptr ? metrics::Source::kPeer : metrics::Source::kUpstream, got);
      bool asked = false;
      {
        std::lock_guard lock(mu_);
        asked = flight->whole_asked;
      }
      if (!asked) metrics_->background_fill_bytes.inc(got);
    }
    if (writer->skipped()) {
      // It reached bytes a span stream had put there: go on after them, from the same source.
      offset = writer->skipFilled();
      if (writer->sizeKnown() && offset >= writer->size()) break;
      continue;
    }
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
      offset = writer->skipFilled();
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
      offset = writer->skipFilled();
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
    {
      std::lock_guard lock(mu_);
      flight->reservation.reset();  // span streams still running hold theirs until they stop
    }
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

void FetchCoordinator::unlist(const Flight& flight) {
  std::lock_guard lock(mu_);
  if (auto it = inflight_.find(flight.entry->digest().str());
      it != inflight_.end() && it->second.get() == &flight)
    inflight_.erase(it);
}

}  // namespace pullcache::registry
