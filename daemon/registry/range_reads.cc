// FetchCoordinator's range reads (see fetch_coordinator.h): the range reader, span streams,
// and openRange's fill policy.
#include <algorithm>
#include <charconv>
#include <limits>

#include "common/log.h"
#include "common/scope_exit.h"
#include "common/spawn.h"
#include "daemon/registry/blob_writer.h"
#include "daemon/registry/fetch_coordinator.h"
#include "daemon/registry/inflight_blob.h"

namespace pullcache::registry {
namespace {

constexpr int kMaxSpanStarts = 3;  // span streams one range reader may ask for
constexpr std::size_t kMaxRangedDigests = 4096;
constexpr std::uint64_t kNoEnd = std::numeric_limits<std::uint64_t>::max();

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("fetch");
  return log;
}

}  // namespace

// A client's range of a blob on its way in. It sends what is there; when the next byte it needs
// is not there and no writer is heading for it, it asks for a span stream (a few times at most:
// a span that fails is asked for again, then the read fails).
class FetchCoordinator::RangeReader final : public BlobSource {
 public:
  RangeReader(FetchCoordinator& coordinator, std::shared_ptr<Flight> flight)
      : coordinator_(coordinator), flight_(std::move(flight)) {}
  ~RangeReader() override { coordinator_.released(flight_, /*span=*/false); }
  RangeReader(const RangeReader&) = delete;
  RangeReader& operator=(const RangeReader&) = delete;

  // The ranges it will be asked for (none: all of it); `hold_last`: its answer is the whole
  // blob.
  void setRanges(std::vector<ByteRange> ranges, bool hold_last) {
    ranges_ = std::move(ranges);
    hold_last_ = hold_last;
  }
  [[nodiscard]] int fd() const noexcept override { return flight_->entry->fd(); }

  Task<Result<std::uint64_t>> readable(std::uint64_t offset) override {
    const auto& entry = flight_->entry;
    for (;;) {
      auto look = entry->look(offset, hold_last_, coordinator_.options_.range_lookahead);
      if (look.snapshot.state == InflightBlob::State::kFailed) co_return look.error;
      if (look.until) co_return *look.until;
      // A whole-blob reader has the fill, which reaches every byte; a range asks for a span.
      if (!look.heading && look.snapshot.size_known && !hold_last_) {
        // Spans asked for at this offset (a failed one is asked for again, a few times).
        if (offset != start_offset_) {
          start_offset_ = offset;
          starts_ = 0;
        }
        if (starts_++ >= kMaxSpanStarts)
          co_return fail(Errc::kUpstreamBadResponse, "could not fetch the range of the blob");
        if (coordinator_.startSpan(flight_, offset, endOf(offset))) continue;
        // No span possible (the staging file is in memory, or the upstream ignores Range):
        // the fill brings every byte; wait for it.
        std::vector<std::string> no_trail;
        coordinator_.startFill(flight_, std::move(no_trail));
        --starts_;
      }
      const bool changed = co_await entry->waitForChange(look.snapshot.version);
      if (!changed && look.snapshot.state != InflightBlob::State::kHashing)
        co_return fail(Errc::kTimeout, "upstream transfer stalled");
    }
  }

 private:
  // Where the range that holds `offset` ends: a span stream for it stops there.
  [[nodiscard]] std::uint64_t endOf(std::uint64_t offset) const {
    for (const auto& r : ranges_)
      if (r.first <= offset && offset <= r.last) return r.last + 1;
    return kNoEnd;
  }

  FetchCoordinator& coordinator_;
  const std::shared_ptr<Flight> flight_;
  std::vector<ByteRange> ranges_;
  bool hold_last_ = false;
  std::uint64_t start_offset_ = kNoEnd;
  int starts_ = 0;
};

bool FetchCoordinator::startSpan(const std::shared_ptr<Flight>& flight, std::uint64_t begin,
                                 std::uint64_t end) {
  int id = -1;
  std::shared_ptr<cache::Reservation> reservation;
  {
    std::lock_guard lock(mu_);
    reservation = flight->reservation;
    if (!reservation) return false;  // the fill failed and gave it back
    if (flight->no_spans) return false;
    // Another reader may have asked for the same bytes a moment ago.
    auto look = flight->entry->look(begin, false, options_.range_lookahead);
    if (look.until || look.heading || look.snapshot.state == InflightBlob::State::kFailed ||
        look.snapshot.state == InflightBlob::State::kVerified)
      return true;
    if (flight->entry->inMemory()) return false;  // the fill alone writes a memory file
    // Up to the first byte that is there already: no stream fetches what another has.
    end = std::min(end, flight->entry->nextFilled(begin));
    if (look.snapshot.size_known) end = std::min(end, look.snapshot.size);
    if (end <= begin) return true;
    id = flight->entry->addWriter(begin, end);
    ++flight->spans;
  }
  asio::co_spawn(asio::make_strand(executor_),
                 runSpan(flight, std::move(reservation), begin, end, id), LogEscaped("blob span"));
  return true;
}

Task<void> FetchCoordinator::runSpan(std::shared_ptr<Flight> flight,
                                     std::shared_ptr<cache::Reservation> reservation,
                                     std::uint64_t begin, std::uint64_t end, int writer_id) {
  const auto& entry = flight->entry;
  ScopeExit done([&] {
    entry->removeWriter(writer_id);
    released(flight, /*span=*/true);
  });
  auto sink = std::make_shared<SpanWriter>(entry, std::move(reservation), begin, end, writer_id);
  std::optional<std::uint64_t> last;
  if (end != kNoEnd) last = end - 1;
  std::string digest = entry->digest().str();  // named: see common/blocking.h
  auto resp = co_await client_.streamBlob(flight->upstream, flight->repository, std::move(digest),
                                          begin, sink, last);
  sink->publish();
  if (metrics_ != nullptr && sink->received() > 0)
    metrics_->peers.sourceFetch(metrics::Source::kUpstream, sink->received());
  if (sink->done() || (resp && sink->started() && !sink->error())) co_return;
  if (resp && !sink->started() && resp.value().status == 416) {
    // The range starts past the end; the answer says where the end is ("bytes */<size>"), and
    // the reader answers 416 itself.
    std::string_view cr = resp.value().headers.get("content-range");
    std::uint64_t size = 0;
    if (cr.starts_with("bytes */") &&
        std::from_chars(cr.data() + 8, cr.data() + cr.size(), size).ptr == cr.data() + cr.size()) {
      if (entry->setStreaming(size, true)) co_return;
      // Another answer gave another size: this one is wrong, and fails like any other.
    }
  }
  // It failed. Before the size is known no one else can answer the readers: they hear it.
  // After, they ask again (or wait for the fill).
  Error why = !resp                ? resp.error()
              : sink->error()      ? *sink->error()
              : !sink->started()   ? upstream::upstreamStatusError(resp.value(), Errc::kBlobUnknown,
                                                                   "blob " + entry->digest().str())
                                   : Error{Errc::kUpstreamBadResponse, "upstream span cut short"};
  logger()->info("range {}-{} of {} from {} failed: {}", begin, end == kNoEnd ? 0 : end - 1,
                 entry->digest().str(), flight->upstream->host, why.message());
  bool filling = false;
  {
    std::lock_guard lock(mu_);
    filling = flight->filling;
  }
  if (sink->rangeIgnored()) {
    // The upstream serves whole blobs only: the fill serves the ranges, and no more spans.
    {
      std::lock_guard lock(mu_);
      flight->no_spans = true;
    }
    startFill(flight, {});
  } else if (!filling && !entry->snapshot().size_known) {
    entry->setFailed(why);
  }
}

void FetchCoordinator::released(const std::shared_ptr<Flight>& flight, bool span) {
  std::lock_guard lock(mu_);
  if (span) {
    --flight->spans;
  } else {
    --flight->readers;
  }
  if (flight->filling || flight->spans > 0 || flight->readers > 0) return;
  // Read by ranges only, and nobody reads any more: the bytes are unverified and go.
  if (auto it = inflight_.find(flight->entry->digest().str());
      it != inflight_.end() && it->second == flight)
    inflight_.erase(it);
}

Task<Result<RangeOpenResult>> FetchCoordinator::openRange(
    std::shared_ptr<const upstream::Upstream> upstream, std::string repository, Digest digest,
    std::string range_header, std::vector<std::string> trail) {
  auto asks = parseRangeAsks(range_header);
  auto cached = openCached(digest);
  if (!cached) co_return cached.error();
  if (!asks || cached.value()) {
    // Cached, or a header to ignore: the whole blob, or ranges of a file that is all there.
    BlobOpenResult blob;
    if (cached.value()) {
      blob = std::move(*cached.value());
    } else {
      auto opened = co_await open(std::move(upstream), std::move(repository), digest,
                                  std::move(trail));
      if (!opened) co_return opened.error();
      blob = std::move(opened).value();
    }
    if (!asks) co_return RangeOpenResult{std::move(blob), {}};
    auto ranges = resolveRangeAsks(*asks, blob.size, options_.max_ranges);
    if (!ranges) co_return fail(Errc::kRangeInvalid, std::to_string(blob.size));
    co_return RangeOpenResult{std::move(blob), std::move(ranges).value()};
  }

  auto found = flightFor(upstream, repository, digest);  // counts us as a reader
  if (!found) co_return found.error();
  std::shared_ptr<Flight> flight = std::move(found).value();
  auto reader = std::make_shared<RangeReader>(*this, flight);  // gives the claim back
  const auto& entry = flight->entry;
  // What the policy needs: the bytes asked for so far (an open-ended range asks for the rest).
  std::uint64_t asked = 0;
  bool fill = false;
  for (const auto& a : *asks) {
    if (auto n = a.length()) {
      asked += *n;
    } else {
      fill = true;
    }
  }
  bool joined = false;
  {
    std::lock_guard lock(mu_);
    joined = flight->filling || flight->spans > 0 || flight->readers > 1;
    if (!flight->filling && !fill) {
      if (ranged_asked_.size() >= kMaxRangedDigests) ranged_asked_.clear();
      auto& total = ranged_asked_[digest.str()];
      total += asked;
      fill = total >= options_.range_fill_after;
    }
  }
  auto snap = entry->snapshot();
  fill = fill || (snap.size_known && snap.size <= options_.range_fill_below);
  if (fill) startFill(flight, trail);
  if (!snap.size_known) {
    // Nobody knows the size yet: a span stream from the first range's first byte (or the fill,
    // when that is near the front) brings it with its headers.
    const RangeAsk& first = asks->front();
    if (!first.first) {
      startFill(flight, trail);  // a suffix range of a blob of unknown size: from the front
    } else if (!fill || *first.first >= options_.range_lookahead) {
      startSpan(flight, *first.first, first.last ? *first.last + 1 : kNoEnd);
    }
    auto started = co_await entry->waitStarted();
    if (!started) co_return started.error();
    snap = entry->snapshot();
    if (!snap.size_known) {
      auto verified = co_await entry->waitVerified();
      if (!verified) co_return verified.error();
      snap = entry->snapshot();
    }
    if (snap.size <= options_.range_fill_below) startFill(flight, trail);
  }
  auto resolved = resolveRangeAsks(*asks, snap.size, options_.max_ranges);
  if (!resolved) co_return fail(Errc::kRangeInvalid, std::to_string(snap.size));
  std::vector<ByteRange> ranges = std::move(resolved).value();
  // The whole blob (asked for, or the header ignored) is sent only verified.
  const bool whole =
      ranges.empty() || (ranges.size() == 1 && ranges[0].first == 0 && ranges[0].last + 1 == snap.size);
  if (whole) startFill(flight, trail);
  reader->setRanges(ranges, whole);
  co_return RangeOpenResult{
      BlobOpenResult{std::move(reader), snap.size,
                     joined ? CacheResult::kCoalesced : CacheResult::kMiss},
      std::move(ranges)};
}

}  // namespace pullcache::registry
