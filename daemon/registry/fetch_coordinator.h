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
//
// Range reads (openRange) of a blob that is neither cached nor fetched far enough are served at
// once: a range that no writer is about to reach gets a span stream of its own (a ranged
// upstream request), written into the same staging file, and the fill, when it runs, skips
// what the spans wrote. The fill (the whole blob, verified and then cached) starts at a whole
// GET, at an open-ended range (containerd's parallel chunks), for blobs up to
// `range_fill_below`, or once clients asked for `range_fill_after` ranged bytes of the blob; a
// blob read by ranges only below that is fetched span by span and never cached (its bytes are
// unverified, as they would be from the registry itself). See README "Range reads".

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
#include "common/http_range.h"
#include "common/request_info.h"
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
  // ranges.*: when a blob read by ranges is fetched whole in the background.
  std::uint64_t range_fill_below = 16ull << 20;  // blobs up to this size: at the first range
  std::uint64_t range_fill_after = 64ull << 20;  // once clients asked for this many ranged bytes
  // A writer this close before a range's first byte serves it (no stream of its own).
  std::uint64_t range_lookahead = 2ull << 20;
  std::size_t max_ranges = 64;  // ranges.max_ranges: more in one request: the whole blob
};

// A range read: the blob and the ranges to send, in the order asked (none: the whole blob,
// 200; one: 206; more: 206 multipart/byteranges).
struct RangeOpenResult {
  BlobOpenResult blob;
  std::vector<ByteRange> ranges;
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
  // GET with a Range header: the cached blob, or the bytes the range needs as soon as they can
  // come (see above), one range or several. Error kRangeInvalid: answer 416 (with the size in
  // the error's detail). A header that is ignored (malformed, too many or overlapping ranges)
  // gives the whole blob.
  Task<Result<RangeOpenResult>> openRange(std::shared_ptr<const upstream::Upstream> upstream,
                                          std::string repository, Digest digest,
                                          std::string range_header,
                                          std::vector<std::string> trail = {});
  // A committed blob, or nullopt. Bumps its last-access time (coarsely, in the background).
  Result<std::optional<BlobOpenResult>> openCached(const Digest& digest);
  // Size of a blob being fetched right now, if its headers have arrived.
  std::optional<std::uint64_t> inflightSize(const Digest& digest);

  [[nodiscard]] std::size_t inflightCount() const;
  [[nodiscard]] std::uint64_t fetchesStarted() const noexcept { return fetches_started_.load(); }

 private:
  class RangeReader;
  // One blob on its way in: the in-flight blob its readers see, its staging file, and who is
  // writing it. Fields other than the constants are guarded by the coordinator's mu_.
  struct Flight {
    std::shared_ptr<InflightBlob> entry;
    std::shared_ptr<cache::Reservation> reservation;  // given back when the flight retires
    std::shared_ptr<const upstream::Upstream> upstream;
    std::string repository;
    bool filling = false;      // the fill runs or ran
    bool whole_asked = false;  // a client asked for the whole blob (not background)
    int spans = 0;             // span streams running
    int readers = 0;           // range readers attached (and requests being opened)
    bool no_spans = false;     // the upstream ignores Range: the fill alone writes
  };
  // The listed flight of `digest` (not a failed one), or a new one listed now, counted as having
  // one more reader (so that it cannot retire before the caller starts its fill or attaches its
  // reader; give it back with released()). An error when the staging file cannot be made.
  Result<std::shared_ptr<Flight>> flightFor(const std::shared_ptr<const upstream::Upstream>& up,
                                            const std::string& repository, const Digest& digest);
  // Starts the fill of `flight` unless it runs; `trail`: as for open(). Takes mu_.
  void startFill(const std::shared_ptr<Flight>& flight, std::vector<std::string> trail);
  // A span stream for [begin, end) unless a writer is heading there (checked under mu_). False
  // when no span can be had (then only the fill brings the bytes).
  bool startSpan(const std::shared_ptr<Flight>& flight, std::uint64_t begin, std::uint64_t end);
  Task<void> runFetch(std::shared_ptr<Flight> flight, std::vector<std::string> trail);
  Task<void> runSpan(std::shared_ptr<Flight> flight,
                     std::shared_ptr<cache::Reservation> reservation, std::uint64_t begin,
                     std::uint64_t end, int writer_id);
  // Unlists `flight` (not a newer one of the same digest that replaced it).
  void unlist(const Flight& flight);
  // A span stream or a range reader is done: a flight without a fill, spans or readers goes.
  void released(const std::shared_ptr<Flight>& flight, bool span);

  asio::io_context::executor_type executor_;
  asio::thread_pool& pool_;
  cache::BlobCache& cache_;
  upstream::RegistryClient& client_;
  FetchOptions options_;
  metrics::Metrics* metrics_;
  PeerSource* peers_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> inflight_;  // by digest; guarded by mu_
  // Ranged bytes clients asked for, by digest, until its fill starts (bounded: cleared when
  // it grows past a few thousand digests); guarded by mu_.
  std::unordered_map<std::string, std::uint64_t> ranged_asked_;
  std::atomic<std::uint64_t> fetches_started_{0};
};

}  // namespace pullcache::registry
