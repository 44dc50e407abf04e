#pragma once
// Small POSIX file helpers: an owning file descriptor and error-returning wrappers.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "common/error.h"

namespace pullcache {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

// Writes all of [data, data+size) at the file's current offset, retrying short writes.
Result<void> writeAll(int fd, const void* data, std::size_t size);
// The same at `offset` (pwrite: the descriptor's own offset does not move).
Result<void> writeAllAt(int fd, const void* data, std::size_t size, std::uint64_t offset);
Result<void> makeDirs(const std::string& path);
Result<std::string> readFile(const std::string& path, std::size_t max_size);

}  // namespace pullcache
