#pragma once
// Single-flight blob fetching with read-while-write.
//
// open() serves a blob from the store, or joins the one upstream fetch of that digest that is
// in flight, or starts it. The fetch writes into a staging file while hashing; every client
// of that digest streams from the growing file at its own pace (so a slow client never makes
// pullcache buffer anything in memory, and a fast one never waits for the whole blob). The last
// byte is released only after the digest is verified; on a mismatch every reader fails (the
// session closes the connection short) and nothing is kept. A dropped upstream connection is
// resumed with a Range request from the current offset. When the cache directory fails (disk
// full, I/O error), the fetch goes on in a memory file: every reader is still served, and the
// blob is not cached. In cluster mode (`peers`), the bytes come from the members the peer source
// names before the upstream (see peer_source.h); a member that fails is left for the next one, a
// member cut mid-blob is resumed from the next one with Range, and the upstream comes last, so a
// client never sees an error that the upstream alone would not have given.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/asio.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/http_message.h"
#include "daemon/cache/blob_cache.h"
#include "daemon/metrics/metrics.h"
#include "daemon/registry/peer_source.h"
#include "daemon/upstream/registry_client.h"

namespace pullcache::registry {

class InflightBlob;

struct BlobOpenResult {
  std::shared_ptr<BlobSource> source;
  std::uint64_t size = 0;
  CacheResult cache = CacheResult::kHit;
};

struct FetchOptions {
  std::chrono::milliseconds stall_timeout{
      30'000};          // readers give up when a fetch makes no progress
  int max_resumes = 3;  // Range resumptions after a dropped connection
  // When the cache directory fails (ENOSPC, EIO), blobs up to this size are fetched into memory
  // and served without being cached; larger ones fail (before any body byte, if they can).
  std::uint64_t passthrough_max_bytes = 512ull << 20;
};

class FetchCoordinator {
 public:
  // `executor`: the io_context's own executor type, not a strand (an object that outlives the
  // io_context must not hold one) and not any_io_executor (a strand of that is heap-allocated
  // and reference-counted across threads; TSan flagged its release, see README).
  FetchCoordinator(asio::io_context::executor_type executor, asio::thread_pool& pool,
                   cache::BlobCache& cache, upstream::RegistryClient& client, FetchOptions options,
                   metrics::Metrics* metrics = nullptr, PeerSource* peers = nullptr);
  ~FetchCoordinator();

  // Completes when response headers can be sent (the blob's size is known), or with the error
  // to answer before any body byte. `trail`: for a request from a peer, the members it passed
  // through (they wait for this node: a fetch it starts never asks them).
  Task<Result<BlobOpenResult>> open(std::shared_ptr<const upstream::Upstream> upstream,
                                    std::string repository, Digest digest,
                                    std::vector<std::string> trail = {});
  // A committed blob, or nullopt. Bumps its last-access time (coarsely, in the background).
  Result<std::optional<BlobOpenResult>> openCached(const Digest& digest);
  // Size of a blob being fetched right now, if its headers have arrived.
  std::optional<std::uint64_t> inflightSize(const Digest& digest);

  [[nodiscard]] std::size_t inflightCount() const;
  [[nodiscard]] std::uint64_t fetchesStarted() const noexcept { return fetches_started_.load(); }

 private:
  Task<void> runFetch(std::shared_ptr<InflightBlob> entry,
                      std::shared_ptr<const upstream::Upstream> upstream, std::string repository,
                      std::shared_ptr<cache::Reservation> reservation,
                      std::vector<std::string> trail);
  // Unlists `entry` (not a newer fetch of the same digest that replaced it).
  void finishFetch(const Digest& digest, const InflightBlob* entry);

  asio::io_context::executor_type executor_;
  asio::thread_pool& pool_;
  cache::BlobCache& cache_;
  upstream::RegistryClient& client_;
  FetchOptions options_;
  metrics::Metrics* metrics_;
  PeerSource* peers_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<InflightBlob>>
      inflight_;  // by digest; guarded by mu_
  std::atomic<std::uint64_t> fetches_started_{0};
};

}  // namespace pullcache::registry
