#pragma once
// The sinks that write a blob being fetched into its staging file. Each runs on its transfer's
// sink strand (the disk pool, off the network thread), in parallel with the blob's other
// writers, and publishes progress to the in-flight blob in steps.
//
// BlobWriter: the fill, the whole blob from the front, one attempt (one upstream or peer
// answer) at a time. Where another writer already put bytes (a range a client read first), it
// stops the attempt (skipped()), and the fetch resumes after them with a Range request. It
// feeds the hasher the prefix, claims room for the blob, and moves the fetch to a memory file
// when the disk fails.
//
// SpanWriter: one range of a blob that no writer was about to reach, for a client reading
// that range; it stops at its end or at the first byte another writer put there.

#include <cstdint>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "daemon/cache/blob_cache.h"
#include "daemon/http/client.h"
#include "daemon/registry/blob_hasher.h"
#include "daemon/registry/inflight_blob.h"

namespace pullcache::registry {

// An error of the answer itself, not of this node's disk or memory.
inline bool answeredWrong(const std::optional<Error>& error) {
  return error &&
         (error->code == Errc::kDigestMismatch || error->code == Errc::kUpstreamBadResponse);
}

class BlobWriter final : public http::BodySink {
 public:
  // Writes into `reservation`'s staging file (already a memory file when the disk refused even
  // to create one); `memory_limit`: the largest blob that may be held in memory.
  BlobWriter(std::shared_ptr<InflightBlob> entry, std::shared_ptr<cache::Reservation> reservation,
             std::shared_ptr<BlobHasher> hasher, std::uint64_t memory_limit);
  ~BlobWriter() override;

  void beginAttempt(std::uint64_t offset);
  bool onHeaders(int status, const Headers& headers) override;
  bool onData(const char* data, std::size_t size) override;
  [[nodiscard]] bool answerAtFault() const override { return answeredWrong(error_); }
  void onEnd() override { publish(); }  // on the sink's strand: the fetch's strand never waits
  // Readers may send everything written so far (called at each step and when an attempt ends).
  void publish();
  // The attempt stopped at bytes another writer had put there: go on after them.
  [[nodiscard]] bool skipped() const { return skipped_; }
  // Moves the fill past what is already there from written(); returns the new position.
  std::uint64_t skipFilled();

  // Read after the transfer completed (the completion is posted after the last callback).
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }
  // The source that caused error() is given up; the next one starts clean.
  void clearError() { error_.reset(); }
  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] bool attemptStarted() const { return attempt_started_; }
  // The fill's position: every byte before it is in the staging file.
  [[nodiscard]] std::uint64_t written() const { return written_; }
  // Bytes this writer received from its sources (what crossed the network for the fill).
  [[nodiscard]] std::uint64_t received() const { return received_; }
  [[nodiscard]] bool sizeKnown() const { return size_known_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  // The bytes are in memory, not on disk: serve them, never commit them.
  [[nodiscard]] bool inMemory() const { return in_memory_; }
  [[nodiscard]] const std::optional<Error>& diskError() const { return disk_error_; }

 private:
  // The blob's size from the first answer (nullopt: no Content-Length): checked against what a
  // span learned, room claimed for it (or the fetch moved to memory), readers told.
  bool learnSize(std::optional<std::uint64_t> size);
  // The hasher may read up to `prefix` (fed in steps).
  void feedHasher(std::uint64_t prefix);
  bool reject(Errc code, std::string detail);
  bool rejectTooLargeForMemory();
  bool moveToMemory(const Error& cause);

  std::shared_ptr<InflightBlob> entry_;
  std::shared_ptr<cache::Reservation> reservation_;
  int fd_;
  std::shared_ptr<BlobHasher> hasher_;
  bool in_memory_;
  std::uint64_t memory_limit_;
  UniqueFd memory_fd_;  // when the disk failed
  std::optional<Error> disk_error_;
  int writer_id_;
  std::uint64_t attempt_offset_ = 0;
  bool started_ = false;
  bool attempt_started_ = false;
  bool skipped_ = false;
  bool size_known_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t published_ = 0;    // the unpublished bytes are [published_, written_)
  std::uint64_t hashed_step_ = 0;  // last prefix given to the hasher
  std::optional<Error> error_;
};

class SpanWriter final : public http::BodySink {
 public:
  // Bytes [begin, end) of the blob (end: UINT64_MAX for "to the blob's end").
  SpanWriter(std::shared_ptr<InflightBlob> entry, std::shared_ptr<cache::Reservation> reservation,
             std::uint64_t begin, std::uint64_t end, int writer_id);
  bool onHeaders(int status, const Headers& headers) override;
  bool onData(const char* data, std::size_t size) override;
  [[nodiscard]] bool answerAtFault() const override { return answeredWrong(error_); }
  void onEnd() override { publish(); }
  void publish();

  [[nodiscard]] bool started() const { return started_; }
  // It stopped on purpose: at its end, or at bytes already there, or the blob is done.
  [[nodiscard]] bool done() const { return done_; }
  // The upstream answered 200 to the Range request of a span past byte 0 (it ignores Range).
  [[nodiscard]] bool rangeIgnored() const { return range_ignored_; }
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }
  [[nodiscard]] std::uint64_t received() const { return pos_ - begin_; }

 private:
  bool reject(Errc code, std::string detail);

  std::shared_ptr<InflightBlob> entry_;
  std::shared_ptr<cache::Reservation> reservation_;
  const std::uint64_t begin_;
  std::uint64_t end_;
  const int writer_id_;
  std::uint64_t pos_;
  std::uint64_t published_;
  bool started_ = false;
  bool done_ = false;
  bool range_ignored_ = false;
  std::optional<Error> error_;
};

}  // namespace pullcache::registry
