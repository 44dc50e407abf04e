#pragma once
// Socket-free HTTP messages. Handlers are functions from HttpRequest to HttpResponse, so they
// can be tested without a socket; daemon/server/http_session.cc turns them into Beast I/O.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "common/error.h"

namespace pullcache {

bool iequals(std::string_view a, std::string_view b) noexcept;

class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;
  // First value of a header (case-insensitive name), or empty.
  [[nodiscard]] std::string_view get(std::string_view name) const noexcept;
  [[nodiscard]] bool has(std::string_view name) const noexcept;
  void add(std::string name, std::string value) {
    entries_.emplace_back(std::move(name), std::move(value));
  }
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // origin-form: path and query
  Headers headers;
  bool peer_loopback = false;  // the client connected from 127.0.0.0/8 or ::1
};

// A blob body that lives in a file which may still be growing (an in-flight upstream fetch).
// Lifetime: the session keeps the shared_ptr until the last byte is sent; fd() stays open and
// valid as long as the object lives, even if the file is renamed or unlinked meanwhile.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  [[nodiscard]] virtual int fd() const noexcept = 0;
  // Completes when more than `offset` bytes may be sent; returns how many bytes from the start
  // of the blob may be sent in all. Never returns the full size before the digest is verified.
  // An error means the blob failed: the connection must be closed short.
  virtual Task<Result<std::uint64_t>> readable(std::uint64_t offset) = 0;
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;  // used when blob is null
  // Blob body: bytes [blob_offset, blob_offset + content_length) of blob.
  std::shared_ptr<BlobSource> blob;
  std::uint64_t blob_offset = 0;
  std::uint64_t content_length = 0;  // of the body; also sent for HEAD
  // A multipart/byteranges body (content_length counts all of it): for each part its
  // delimiter and headers, then bytes [offset, offset + length) of `blob`, then CRLF; last,
  // `parts_end` (the closing delimiter).
  struct Part {
    std::string head;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  std::vector<Part> parts;
  std::string parts_end;
  bool head = false;   // send headers only
  bool close = false;  // close the connection after this response
};

}  // namespace pullcache
