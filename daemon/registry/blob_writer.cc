#include "daemon/registry/blob_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <charconv>
#include <limits>

namespace pullcache::registry {
namespace {

constexpr std::uint64_t kPublishStep = 256u << 10;  // readers are woken at most every 256 KiB
constexpr std::uint64_t kHashStep = 1u << 20;       // the hasher is fed in 1 MiB steps
constexpr std::uint64_t kNoEnd = std::numeric_limits<std::uint64_t>::max();

std::optional<std::uint64_t> parseU64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "bytes <first>-<last>/<size>": first, last and size, or nullopt.
struct ContentRange {
  std::uint64_t first, last, size;
};
std::optional<ContentRange> parseContentRange(std::string_view v) {
  constexpr std::string_view kUnit = "bytes ";
  if (!v.starts_with(kUnit)) return std::nullopt;
  v.remove_prefix(kUnit.size());
  auto dash = v.find('-');
  auto slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash)
    return std::nullopt;
  auto first = parseU64(v.substr(0, dash));
  auto last = parseU64(v.substr(dash + 1, slash - dash - 1));
  auto size = parseU64(v.substr(slash + 1));
  if (!first || !last || !size || *last < *first || *last >= *size) return std::nullopt;
  return ContentRange{*first, *last, *size};
}

}  // namespace

BlobWriter::BlobWriter(std::shared_ptr<InflightBlob> entry,
                       std::shared_ptr<cache::Reservation> reservation,
                       std::shared_ptr<BlobHasher> hasher, std::uint64_t memory_limit)
    : entry_(std::move(entry)),
      reservation_(std::move(reservation)),
      fd_(reservation_->fd()),
      hasher_(std::move(hasher)),
      in_memory_(reservation_->inMemory()),
      memory_limit_(memory_limit),
      writer_id_(entry_->addWriter(0, kNoEnd)) {}

BlobWriter::~BlobWriter() { entry_->removeWriter(writer_id_); }

void BlobWriter::beginAttempt(std::uint64_t offset) {
  attempt_offset_ = offset;
  if (offset < written_) published_ = offset;  // a one-byte look at a blob spans wrote whole
  written_ = offset;
  attempt_started_ = false;
  skipped_ = false;
}

bool BlobWriter::reject(Errc code, std::string detail) {
  error_ = Error{code, std::move(detail)};
  return false;
}

bool BlobWriter::rejectTooLargeForMemory() {
  return reject(Errc::kStoreFull, "the cache directory cannot take this blob (" +
                                      (disk_error_ ? disk_error_->message() : "") +
                                      ") and it is larger than cache.passthrough_max_bytes");
}

bool BlobWriter::learnSize(std::optional<std::uint64_t> size) {
  size_known_ = size.has_value();
  size_ = size.value_or(0);
  // A span stream learned the size first: the two answers must agree.
  if (auto s = entry_->snapshot(); s.size_known && size_known_ && s.size != size_)
    return reject(Errc::kUpstreamBadResponse, "upstream sizes of the blob differ");
  // Decide before the first body byte: room is made for the blob while it downloads; a blob
  // the disk cannot take goes to memory (or, too large for that, fails now, so the client falls
  // back to the registry cleanly). (Once: a fetch resumed from offset 0 comes through here
  // again.)
  if (!in_memory_ && size_known_ && reservation_->claimed() == 0 && !reservation_->claim(size_) &&
      !moveToMemory(Error{Errc::kStoreFull, "not enough free space for the blob"})) {
    return false;
  }
  if (in_memory_ && size_known_ && size_ > memory_limit_) return rejectTooLargeForMemory();
  // Readers may send headers from here on. A span's answer may have set the size meanwhile.
  if (!entry_->setStreaming(size_, size_known_))
    return reject(Errc::kUpstreamBadResponse, "upstream sizes of the blob differ");
  return true;
}

void BlobWriter::feedHasher(std::uint64_t prefix) {
  if (prefix - hashed_step_ < kHashStep) return;
  hasher_->advance(prefix);
  hashed_step_ = prefix;
}

bool BlobWriter::onHeaders(int status, const Headers& headers) {
  if (attempt_offset_ == 0) {
    if (status != 200)
      return reject(Errc::kUpstreamBadResponse,
                    "expected HTTP 200 for a blob, got " + std::to_string(status));
    if (auto dcd = headers.get("docker-content-digest");
        !dcd.empty() && dcd != entry_->digest().str()) {
      return reject(Errc::kDigestMismatch,
                    "upstream Docker-Content-Digest differs from the requested digest");
    }
    if (!learnSize(parseU64(headers.get("content-length")))) return false;
  } else {
    // Resumption: the upstream must continue exactly where we stopped.
    std::string_view cr = headers.get("content-range");
    std::string expect = "bytes " + std::to_string(attempt_offset_) + "-";
    if (status != 206 || !cr.starts_with(expect)) {
      return reject(Errc::kUpstreamBadResponse,
                    "upstream did not honour the Range request of a resumed fetch");
    }
    if (!started_) {
      // The fill's first answer is ranged (span streams had the front): its size, as above.
      auto range = parseContentRange(cr);
      if (!range) return reject(Errc::kUpstreamBadResponse, "upstream Content-Range unreadable");
      if (!learnSize(range->size)) return false;
    }
  }
  started_ = true;
  attempt_started_ = true;
  return true;
}

bool BlobWriter::onData(const char* data, std::size_t size) {
  if (size_known_ && written_ + size > size_)
    return reject(Errc::kUpstreamBadResponse, "upstream sent more bytes than Content-Length");
  if (in_memory_ && written_ + size > memory_limit_) return rejectTooLargeForMemory();
  // Stop where another writer already put bytes (published ones: at most a publish step of
  // someone else's is written twice).
  auto wrote = entry_->writeUnfilled(fd_, data, size, written_, kNoEnd, /*span=*/false);
  if (!wrote) {
    // The disk refused (ENOSPC, EIO, ...): go on in memory, serve, do not cache.
    if (in_memory_ || !moveToMemory(wrote.error())) return false;
    wrote = entry_->writeUnfilled(fd_, data, size, written_, kNoEnd, /*span=*/false);
    if (!wrote) {
      error_ = wrote.error();
      return false;
    }
  }
  const std::size_t take = wrote.value();
  if (take > 0) {
    written_ += take;
    received_ += take;
    // Progress is published in steps, not per network read: every step wakes other threads.
    if (written_ - published_ >= kPublishStep) publish();
  }
  if (take < size) {
    publish();
    skipped_ = true;
    return false;
  }
  return true;
}

void BlobWriter::publish() {
  if (written_ > published_) {
    feedHasher(entry_->addFilled(published_, written_, writer_id_));
    published_ = written_;
  } else {
    entry_->moveWriter(writer_id_, written_);
  }
}

std::uint64_t BlobWriter::skipFilled() {
  publish();
  auto s = entry_->snapshot();
  // Everything before the fill's position is there; the prefix says how far that now goes.
  if (s.written > written_) {
    written_ = s.written;
    published_ = written_;
    feedHasher(written_);
    entry_->moveWriter(writer_id_, written_);
  }
  return written_;
}

// Copies what was written so far into a memory file and switches the writer, the readers and
// the hasher to it (same bytes, so a read in flight on the old file stays right). Under the
// blob's lock: span streams, which run in parallel, stop before they could write the old file.
bool BlobWriter::moveToMemory(const Error& cause) {
  disk_error_ = cause;
  if (size_known_ && size_ > memory_limit_) return rejectTooLargeForMemory();
  UniqueFd mem;
  bool too_large = false;
  std::function<Result<void>()> move = [this, &mem, &too_large]() -> Result<void> {
    struct stat st {};
    std::uint64_t extent = written_;
    if (::fstat(entry_->fd(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > extent)
      extent = static_cast<std::uint64_t>(st.st_size);  // spans written past the fill
    if (extent > memory_limit_) {
      too_large = true;
      return Error{Errc::kStoreFull, "larger than the memory limit"};
    }
    mem = UniqueFd(::memfd_create("pullcache-blob", MFD_CLOEXEC));
    if (!mem.valid()) return systemError(errno, "memfd_create");
    off_t from = 0;
    while (static_cast<std::uint64_t>(from) < extent) {
      ssize_t n = ::sendfile(mem.get(), entry_->fd(), &from,
                             static_cast<std::size_t>(extent - static_cast<std::uint64_t>(from)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return n < 0 ? systemError(errno, "copy staging file to memory")
                     : Error{Errc::kStoreIo, "staging file is short"};
    }
    UniqueFd reader(::dup(mem.get()));  // readers use explicit offsets: a shared offset is fine
    if (!reader.valid()) return systemError(errno, "dup memory file");
    entry_->readFd()->replace(std::move(reader));
    return ok();
  };
  if (auto moved = entry_->moveToMemory(move); !moved) {
    if (too_large) return rejectTooLargeForMemory();
    error_ = moved.error();
    return false;
  }
  fd_ = mem.get();
  memory_fd_ = std::move(mem);
  in_memory_ = true;
  return true;
}

SpanWriter::SpanWriter(std::shared_ptr<InflightBlob> entry,
                       std::shared_ptr<cache::Reservation> reservation, std::uint64_t begin,
                       std::uint64_t end, int writer_id)
    : entry_(std::move(entry)),
      reservation_(std::move(reservation)),
      begin_(begin),
      end_(end),
      writer_id_(writer_id),
      pos_(begin),
      published_(begin) {}

bool SpanWriter::reject(Errc code, std::string detail) {
  error_ = Error{code, std::move(detail)};
  return false;
}

bool SpanWriter::onHeaders(int status, const Headers& headers) {
  if (status < 200 || status > 299) return false;  // the caller reads the status
  if (auto dcd = headers.get("docker-content-digest");
      !dcd.empty() && dcd != entry_->digest().str()) {
    return reject(Errc::kDigestMismatch,
                  "upstream Docker-Content-Digest differs from the requested digest");
  }
  std::uint64_t size = 0;
  if (status == 206) {
    auto range = parseContentRange(headers.get("content-range"));
    if (!range || range->first != begin_)
      return reject(Errc::kUpstreamBadResponse, "upstream Content-Range does not match the Range");
    size = range->size;
  } else if (status == 200 && begin_ == 0) {
    auto length = parseU64(headers.get("content-length"));
    if (!length) return reject(Errc::kUpstreamBadResponse, "upstream blob without Content-Length");
    size = *length;
  } else {
    range_ignored_ = status == 200;
    return reject(Errc::kUpstreamBadResponse, "upstream ignored the Range request");
  }
  auto s = entry_->snapshot();
  if (s.size_known && s.size != size)
    return reject(Errc::kUpstreamBadResponse, "upstream sizes of the blob differ");
  if (end_ > size) end_ = size;
  if (!entry_->setStreaming(size, true))  // the fill's answer set another size meanwhile
    return reject(Errc::kUpstreamBadResponse, "upstream sizes of the blob differ");
  started_ = true;
  return true;
}

bool SpanWriter::onData(const char* data, std::size_t size) {
  // Stops (0 bytes) at bytes already there, at the blob's end, or when the fill moved to memory
  // (it alone writes from here on).
  auto wrote = entry_->writeUnfilled(reservation_->fd(), data, size, pos_, end_);
  if (!wrote) {
    error_ = wrote.error();
    publish();
    return false;
  }
  const std::size_t take = wrote.value();
  if (take > 0) {
    pos_ += take;
    if (pos_ - published_ >= kPublishStep) publish();
  }
  if (take < size) {
    publish();
    done_ = true;
    return false;
  }
  return true;
}

void SpanWriter::publish() {
  if (pos_ > published_) {
    entry_->addFilled(published_, pos_, writer_id_);
    published_ = pos_;
  }
}

}  // namespace pullcache::registry
