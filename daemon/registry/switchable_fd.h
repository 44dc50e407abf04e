#pragma once
// A read descriptor that the writer may replace with one onto another file holding the same
// leading bytes (a staging file moved to memory when the disk fails, see fetch_coordinator).
// Replaced descriptors stay open until this object dies, so a sendfile(2) or pread(2) that
// started on the old one completes correctly. Thread-safe.

#include <atomic>
#include <mutex>
#include <vector>

#include "common/fs.h"

namespace pullcache::registry {

class SwitchableFd {
 public:
  explicit SwitchableFd(UniqueFd fd) : current_(fd.get()) { fds_.push_back(std::move(fd)); }
  [[nodiscard]] int get() const noexcept { return current_.load(std::memory_order_acquire); }
  void replace(UniqueFd fd) {
    std::lock_guard lock(mu_);
    current_.store(fd.get(), std::memory_order_release);
    fds_.push_back(std::move(fd));
  }

 private:
  std::atomic<int> current_;
  std::mutex mu_;
  std::vector<UniqueFd> fds_;  // every descriptor ever current; guarded by mu_
};

}  // namespace pullcache::registry
